import {
  canaryReleaseStatus,
  type CanaryReleaseStatus,
  type DecisionRecord,
  type MatchStage,
  type MetricEvidence,
  type Phase,
  type VerdictKind,
} from '../api/canary-release.js';
import { parseDuration } from '../api/duration.js';
import type { ValidationIssue } from '../api/validation.js';
import { MeasureBatcher } from '../controller/measure-batcher.js';
import { Reconciler } from '../controller/reconciler.js';
import { expandSteps } from '../engine/index.js';
import { readRouting } from '../routers/istio/routes.js';
import {
  destinationRule as destinationRuleSchema,
  virtualService as virtualServiceSchema,
  type DestinationRule,
  type VirtualService,
} from '../routers/istio/types.js';
import type { Deployment } from '../kube/resources.js';
import { refKey } from '../kube/resources.js';
import { silentLogger } from '../telemetry/logger.js';
import { gatewayRoutingOf } from '../api/routing.js';
import { readSplit } from '../routers/gateway-api/routes.js';
import { parseHttpRoute } from '../routers/gateway-api/types.js';
import { rollOutDeployments, serviceRevisions, subsetRevisions, type SimulatedCluster } from './cluster.js';
import { HttpRouteTrafficRouter } from './http-route-traffic.js';
import { bucketProbabilities } from './histogram.js';
import { MeshMetricsProvider } from './mesh-metrics.js';
import { SimulatedMesh, type Behaviour, type RevisionPoint, type Served } from './mesh.js';
import { createRng } from './rng.js';
import {
  SimulatedHooks,
  SimulatedNotifications,
  type SimulatedHookCall,
  type SimulatedNotification,
  type SimulatedSink,
} from './hooks.js';
import { behaviourAt, latencyCdf, requestRate, type Scenario } from './scenario.js';
import { TrafficRouter } from './traffic.js';

/** Traffic is generated in slices of this length between reconciles. */
const SLICE_MS = 5_000;
/** After a VirtualService patch the watch event brings the release back about this soon. */
const RECONCILE_AFTER_PATCH_MS = 1_000;
/** When the reconciler names no time, the controller's periodic resync looks again. */
const RESYNC_MS = 60_000;
/** Reconciles that may ask for another one at the same instant before the clock is moved on. */
const MAX_RECONCILES_PER_INSTANT = 5;
/**
 * The simulator's resolution: a requeue sooner than a slice (but not at once) waits for the slice. The
 * engine asks for 1 ms while an analysis step waits for a verdict; the clock need not crawl then.
 */
const MIN_REQUEUE_MS = SLICE_MS;
/** The report's error rate, latency and canary share are rates over periods of this length. */
const SERIES_PERIOD_MS = 60_000;
/** Managed mode: reconciles allowed to set up the primary before the simulated change is applied. */
const MAX_SETUP_RECONCILES = 50;
/** Reconciles after the outcome, for the controller's clean-up. */
const MAX_SETTLE_RECONCILES = 10;
/** The pod-template annotation the simulator changes on the user's Deployment to make a new revision. */
export const SIMULATED_CHANGE_ANNOTATION = 'simulate.canaria.dev/change';

const TERMINAL: readonly Phase[] = ['Succeeded', 'RolledBack', 'Failed'];

/**
 * One line of the timeline: a decision, or a run of holds at the same step and weight collapsed into
 * one (the engine already folds repeated holds for the same reason into one record with a `count`;
 * at low traffic the reason alternates between collecting evidence and no new requests, and those
 * runs are folded here too).
 */
export interface TimelineEntry {
  /** When the line began. */
  atMs: number;
  /** When its latest decision was taken; the same as atMs for a single decision. */
  lastAtMs: number;
  /** Decisions on the line: analyses held, for a run of holds; 1 otherwise. */
  count: number;
  /** A run of holds: how many for each reason. */
  reasons?: Record<string, number>;
  phase: Phase | undefined;
  /** Index of the current step, and how many there are. */
  step: number;
  stepCount: number;
  /** Canary share in percent: what the release wants, and what the VirtualService shows. */
  desiredWeight: number;
  actualWeight: number;
  /** What each revision served since the previous line. */
  served: Record<string, Served>;
  /** The latest decision of the line, with its evidence. */
  decision: DecisionRecord;
  /** The webhooks called while the line was open (a gate asked again, each analysis' rollout hooks). */
  hooks?: SimulatedHookCall[];
  /** The notifications its decisions would send, with the sinks that get each. */
  notifications?: SimulatedNotification[];
}

export interface WeightPoint {
  atMs: number;
  desired: number;
  actual: number;
}

/** What the canary answered in one period, out of what the service's revisions answered. */
export interface SharePoint {
  atMs: number;
  canary: number;
  total: number;
}

/** One analysis as the release's status recorded it, with the requests behind it. */
export interface AnalysisPoint {
  atMs: number;
  windowStartMs: number;
  step: number;
  verdict: VerdictKind;
  /** Requests each side served in the analysis' window (the step's), from the mesh. */
  requests: { canary: number; stable: number };
  metrics: MetricEvidence[];
}

/** A stretch of time in which the VirtualService routed a test group (A/B) or mirrored to the canary. */
export interface Stage {
  kind: 'match' | 'mirror';
  fromMs: number;
  toMs: number;
  label: string;
}

/** A scenario fault, for the report. */
export interface FaultSpan {
  revision: string;
  fromMs: number;
  /** Null while it lasts to the end. */
  toMs: number | null;
  label: string;
}

/** What the report says about each metric: its judge and the sample minimum it applies. */
export interface MetricInfo {
  name: string;
  type: string;
  judge: string;
  /** What it is measured over: the step's window (minSamples applies to request metrics) or increments. */
  window: 'step' | 'increment';
  minSamples: number;
  /** Whether a larger value is better (success rate): a relative judge's bound is then a minimum. */
  higherIsBetter: boolean;
  /** A threshold judge's range. */
  min?: number;
  max?: number;
}

const HIGHER_IS_BETTER: Partial<Record<string, boolean>> = { successRate: true };

function metricInfo(m: SimulatedCluster['metrics'][number]): MetricInfo {
  const info: MetricInfo = {
    name: m.name,
    type: m.type,
    judge: m.judge.type,
    window: m.window,
    minSamples: m.minSamples,
    higherIsBetter: HIGHER_IS_BETTER[m.type] ?? (m.type === 'promql' ? (m.higherIsBetter ?? false) : false),
  };
  if (m.judge.type === 'threshold') {
    if (m.judge.min !== undefined) info.min = m.judge.min;
    if (m.judge.max !== undefined) info.max = m.judge.max;
  }
  return info;
}

/** Where the simulation is, after every slice of traffic. */
export interface Progress {
  atMs: number;
  phase: Phase | undefined;
  step: number;
  stepCount: number;
  desiredWeight: number;
  actualWeight: number;
  served: Readonly<Record<string, Served>>;
}

/** Revision names of the two sides, as the timeline's columns show them. */
export interface Sides {
  stable: string;
  canary: string;
  /** The object whose weights the timeline reads back: VirtualService or HTTPRoute. */
  shownBy?: string;
}

export interface SimulationOptions {
  seed: number;
  /**
   * Called for every timeline line once it is complete (a run of holds when the next decision
   * differs), with the sides' revision names.
   */
  onEntry?: (entry: TimelineEntry, sides: Sides) => void;
  /** Called after every slice; the simulation waits for it, so a display can pace it. */
  onProgress?: (progress: Progress) => void | Promise<void>;
  /** Operator-wide sinks, besides the release's own spec.notifications. */
  notificationSinks?: readonly SimulatedSink[];
}

export interface SimulationResult {
  release: string;
  seed: number;
  mode: 'subsets' | 'managed';
  /** The object that routed the requests and shows the weights: VirtualService or HTTPRoute. */
  routedBy: 'VirtualService' | 'HTTPRoute';
  stable: { subset: string; revision: string };
  canary: { subset: string; revision: string };
  /** The release's phase at the end; Progressing or Paused when the time limit came first. */
  outcome: Phase | undefined;
  /** Whether the release reached Succeeded, RolledBack or Failed within the time limit. */
  finished: boolean;
  message: string | undefined;
  durationMs: number;
  maxDurationMs: number;
  stepCount: number;
  timeline: TimelineEntry[];
  /** Everything each revision served. */
  served: Record<string, Served>;
  /** Requests that reached no revision of the service, by why. */
  dropped: Record<string, number>;
  weights: WeightPoint[];
  /** Period by period, the share of requests the canary answered (mirrored copies not counted). */
  shares: SharePoint[];
  stages: Stage[];
  faults: FaultSpan[];
  metrics: MetricInfo[];
  analyses: AnalysisPoint[];
  /** Per revision, error rate and latency period by period. */
  series: Record<string, RevisionPoint[]>;
  /** The subset (Gateway API: the Service) each revision value ran in. */
  subsets: Record<string, string>;
  status: CanaryReleaseStatus | undefined;
  /** Every webhook call, in order. */
  hookCalls: SimulatedHookCall[];
  /** Every notification the decisions would send; none when no sink is configured. */
  notifications: SimulatedNotification[];
}

/** Revision names the scenario uses that the release does not have: a typo would silently do nothing. */
export function checkScenarioNames(scenario: Scenario, cluster: SimulatedCluster): ValidationIssue[] {
  const known = new Set([
    ...cluster.service.revisions.keys(),
    ...cluster.service.revisions.values(),
    cluster.stable.subset,
    cluster.canary.subset,
    ...(cluster.mode === 'managed' ? [cluster.canary.revision] : []),
  ]);
  const list = [...known].sort().join(', ');
  const unknown = (path: string, name: string): ValidationIssue => ({
    path,
    message: `the release has no revision or subset "${name}"; known: ${list}`,
  });
  return [
    ...Object.keys(scenario.revisions)
      .filter((name) => !known.has(name))
      .map((name) => unknown(`revisions.${name}`, name)),
    ...scenario.faults.flatMap((f, i) =>
      known.has(f.revision) ? [] : [unknown(`faults[${i}].revision`, f.revision)],
    ),
    ...Object.keys(scenario.hooks).flatMap((name) => {
      const hooks = (cluster.spec.webhooks ?? []).map((h) => h.name);
      if (hooks.includes(name)) return [];
      const known = hooks.length ? `its webhooks: ${hooks.join(', ')}` : 'it has no spec.webhooks';
      return [{ path: `hooks.${name}`, message: `the release has no webhook "${name}"; ${known}` }];
    }),
  ];
}

const asVirtualService = (object: unknown): VirtualService | undefined => {
  const parsed = virtualServiceSchema.safeParse(object);
  return parsed.success ? parsed.data : undefined;
};
const asDestinationRule = (object: unknown): DestinationRule | undefined => {
  const parsed = destinationRuleSchema.safeParse(object);
  return parsed.success ? parsed.data : undefined;
};

const add = (tally: Record<string, Served>, revision: string, served: Served) => {
  const t = (tally[revision] ??= { total: 0, errors: 0 });
  t.total += served.total;
  t.errors += served.errors;
};

const addAll = (into: Record<string, Served>, from: Readonly<Record<string, Served>>) => {
  for (const [revision, served] of Object.entries(from)) add(into, revision, served);
};

/** A record's identity across reconciles: a collapsed hold keeps when its run began. */
// not the reason: a streak of holds waiting for evidence is one record whose reason alternates
const recordKey = (r: DecisionRecord): string => `${r.firstTime ?? r.time}|${r.action}|${r.step}`;

/** An A/B stage as one phrase: `header end-user exact testuser, 100% of them`. */
function describeMatch(match: MatchStage | undefined): string {
  if (!match) return 'A/B test group';
  const parts = [
    ...(match.headers ?? []).map((h) => `header ${h.name} ${matchValue(h)}`),
    ...(match.queryParams ?? []).map((q) => `query ${q.name} ${matchValue(q)}`),
    ...(match.cookie ? [`cookie ${match.cookie.name} ~ ${match.cookie.regex}`] : []),
  ];
  return `A/B: ${parts.join(', ') || 'test group'} (${match.canaryWeight}% of them to the canary)`;
}
const matchValue = (m: {
  exact?: string | undefined;
  prefix?: string | undefined;
  regex?: string | undefined;
}) =>
  m.exact !== undefined ? `= ${m.exact}` : m.prefix !== undefined ? `^= ${m.prefix}` : `~ ${m.regex ?? ''}`;

function faultSpans(scenario: Scenario): FaultSpan[] {
  return scenario.faults.map((f) => {
    const changes = [
      ...(f.errorRate !== undefined ? [`error rate ${Math.round(f.errorRate * 10_000) / 100}%`] : []),
      ...(f.latency
        ? [
            f.latency.quantiles
              ? 'latency profile'
              : `latency p50 ${f.latency.p50 ?? '?'} ms, p99 ${f.latency.p99 ?? '?'} ms`,
          ]
        : []),
    ];
    const toMs = f.until === undefined ? null : (parseDuration(f.until) ?? null);
    return {
      revision: f.revision,
      fromMs: parseDuration(f.at) ?? 0,
      toMs,
      label: `fault on ${f.revision}: ${changes.join(', ')}`,
    };
  });
}

/**
 * Runs a release in a simulated cluster: the real Reconciler (engine, judges, Istio patches) against
 * the in-memory Kube adapter, a simulated mesh that routes every request with the route evaluator,
 * synthetic traffic from the scenario, and a virtual clock, so a 40-minute rollout takes a moment.
 * In managed mode the reconciler first sets up the primary from the user's Deployment; the
 * simulator then changes the Deployment's pod template, and that new revision is the canary.
 * The same cluster, scenario and seed give the same result.
 */
export async function simulate(
  cluster: SimulatedCluster,
  scenario: Scenario,
  options: SimulationOptions,
): Promise<SimulationResult> {
  const { kube, spec } = cluster;
  const rng = createRng(options.seed);
  const mesh = new SimulatedMesh(rng);
  const start = Date.parse(scenario.start);
  const maxDurationMs = parseDuration(scenario.maxDuration) ?? 6 * 3_600_000;
  let now = start;
  kube.clock = () => new Date(now);
  const hooks = new SimulatedHooks(scenario, start);
  const notifications = new SimulatedNotifications(options.notificationSinks ?? [], start);
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(new MeshMetricsProvider(mesh), 0),
    clock: () => new Date(now),
    logger: silentLogger(),
    hooks,
    notifications,
  });
  const key = refKey(cluster.release);
  const label = spec.analysis?.revisionLabel ?? 'destination_canonical_revision';
  const stepCount = expandSteps(spec.strategy).length;
  let service = cluster.service;
  const classes = scenario.traffic.requests ?? [{ share: 1 }];
  const gatewayRouting = gatewayRoutingOf(spec);
  const router =
    cluster.router === 'gatewayAPI' && gatewayRouting
      ? new HttpRouteTrafficRouter(rng, classes, service, [
          gatewayRouting.stableService,
          gatewayRouting.canaryService,
        ])
      : new TrafficRouter(rng, classes, service);
  const stable = { ...cluster.stable };
  const canary = { ...cluster.canary };
  const shownBy = cluster.router === 'gatewayAPI' ? 'HTTPRoute' : 'VirtualService';
  const sides = (): Sides => ({ stable: stable.revision, canary: canary.revision, shownBy });
  /** Every revision value a subset ran, so behaviour by subset name follows a primary's new revision. */
  const subsetOf = new Map<string, string>();
  const noteSubsets = () => {
    for (const [subset, revision] of service.revisions) subsetOf.set(revision, subset);
  };
  noteSubsets();
  const bucketShares = new Map<string, number[]>();
  const behaviour = (revision: string, atMs: number): Behaviour => {
    const b = behaviourAt(scenario, { value: revision, subset: subsetOf.get(revision) ?? revision }, atMs);
    const latencyKey = JSON.stringify(b.latency);
    let shares = bucketShares.get(latencyKey);
    if (!shares) {
      shares = bucketProbabilities(latencyCdf(b.latency));
      bucketShares.set(latencyKey, shares);
    }
    return { errorRate: b.errorRate, bucketShares: shares };
  };

  let status: CanaryReleaseStatus | undefined;
  let actualWeight = 0;
  const timeline: TimelineEntry[] = [];
  /** The last line stays open while holds may still be added to it. */
  let open: TimelineEntry | undefined;
  /** How much of each record's count the timeline has shown. */
  const counted = new Map<string, number>();
  const weights: WeightPoint[] = [];
  const shares: SharePoint[] = [];
  const stages: Stage[] = [];
  const analyses: AnalysisPoint[] = [];
  let sinceEntry: Record<string, Served> = {};
  const served: Record<string, Served> = {};
  const dropped: Record<string, number> = {};
  let stageNow: { kind: Stage['kind']; label: string; fromMs: number } | undefined;

  const readStatus = () => {
    const parsed = canaryReleaseStatus.safeParse(kube.get('CanaryRelease', cluster.release)?.status ?? {});
    return parsed.success ? parsed.data : undefined;
  };

  /** Pods come and go with the reconciler's scaling and the primary's updates: which subset is which revision. */
  let podsVersion = '';
  const sideServices = [cluster.stable.subset, cluster.canary.subset];
  const readPods = () => {
    const selection = cluster.destinationRule
      ? [kube.get('DestinationRule', cluster.destinationRule)?.metadata.resourceVersion]
      : // Gateway API: the Services' selectors pick the pods (managed mode: canaria writes them)
        kube.list('Service').map((o) => `${o.metadata.name}@${o.metadata.resourceVersion ?? ''}`);
    const version = [
      ...selection,
      ...kube.list('Deployment').map((d) => `${d.metadata.name}@${d.metadata.resourceVersion ?? ''}`),
    ].join(',');
    if (version === podsVersion) return false;
    podsVersion = version;
    const revisions = cluster.destinationRule
      ? subsetRevisions(kube, cluster.destinationRule, label)
      : serviceRevisions(kube, cluster.release.namespace, sideServices, label);
    service = { ...service, revisions };
    router.retarget(service);
    noteSubsets();
    return true;
  };

  let routesVersion: string | undefined;
  const showStage = (stage: { kind: Stage['kind']; label: string } | undefined) => {
    if (stageNow && (stage?.kind !== stageNow.kind || stage.label !== stageNow.label)) {
      stages.push({ ...stageNow, toMs: now - start });
      stageNow = undefined;
    }
    if (stage && !stageNow) stageNow = { ...stage, fromMs: now - start };
  };
  /** Gateway API: the HTTPRoute as the reconciler patched it routes every request, as a waypoint or gateway would. */
  const readHttpRoute = (force: boolean) => {
    if (!cluster.httpRoute || !gatewayRouting || !(router instanceof HttpRouteTrafficRouter)) return;
    const object = kube.get('HTTPRoute', cluster.httpRoute);
    if (!force && object?.metadata.resourceVersion === routesVersion) return;
    routesVersion = object?.metadata.resourceVersion;
    const parsed = object && parseHttpRoute(object);
    if (!parsed?.ok) return;
    router.update(parsed.value);
    const split = readSplit(parsed.value, gatewayRouting);
    if (!split.ok) return;
    const { canaryWeight, total, match, mirrorPercent } = split.value;
    actualWeight = total > 0 ? Math.round(((canaryWeight * 100) / total) * 10_000) / 10_000 : 0;
    // the stages as the HTTPRoute shows them, not as the release wants them
    showStage(
      match
        ? { kind: 'match', label: describeMatch(status?.routing?.match) }
        : mirrorPercent
          ? { kind: 'mirror', label: `mirror ${mirrorPercent}% of requests to the canary` }
          : undefined,
    );
  };
  /** The VirtualService changes only when the reconciler patches it: re-read it after every reconcile. */
  const readRoutes = (force: boolean) => {
    if (!cluster.virtualService || !(router instanceof TrafficRouter)) {
      readHttpRoute(force);
      return;
    }
    const object = kube.get('VirtualService', cluster.virtualService);
    if (!force && object?.metadata.resourceVersion === routesVersion) return;
    routesVersion = object?.metadata.resourceVersion;
    const vs = asVirtualService(object);
    if (!vs) return;
    const virtualServices = kube.list('VirtualService').flatMap((o) => asVirtualService(o) ?? []);
    const drs = kube.list('DestinationRule').flatMap((o) => asDestinationRule(o) ?? []);
    router.update(
      vs,
      drs,
      virtualServices.filter((v) => !v.spec.hosts?.length),
    );
    const istio = spec.trafficRouting.istio;
    if (!istio) return;
    const reading = readRouting(vs, istio);
    if (!reading.ok) return;
    actualWeight = Math.round(reading.value.canaryPercent * 10_000) / 10_000;
    // the stages as the VirtualService shows them, not as the release wants them
    showStage(
      reading.value.matchRoute
        ? { kind: 'match', label: describeMatch(status?.routing?.match) }
        : reading.value.mirrorPercent
          ? { kind: 'mirror', label: `mirror ${reading.value.mirrorPercent}% of requests to the canary` }
          : undefined,
    );
  };
  const noteWeights = () => {
    const desired = status?.canaryWeight ?? 0;
    const last = weights.at(-1);
    if (!last || last.desired !== desired || last.actual !== actualWeight)
      weights.push({ atMs: now - start, desired, actual: actualWeight });
  };
  const analysed = new Set<string>();
  const addAnalysis = (
    time: string,
    windowStart: string | undefined,
    verdict: VerdictKind,
    metrics: readonly MetricEvidence[],
  ) => {
    if (analysed.has(time)) return;
    analysed.add(time);
    const atMs = Date.parse(time) - start;
    const windowStartMs = windowStart === undefined ? atMs : Date.parse(windowStart) - start;
    const windowed = (revision: string) => mesh.window(revision, start + windowStartMs, start + atMs).total;
    analyses.push({
      atMs,
      windowStartMs,
      step: status?.currentStepIndex ?? 0,
      verdict,
      requests: { canary: windowed(canary.revision), stable: windowed(stable.revision) },
      // the simulated mesh has no queries to show; drop the field rather than repeat it
      metrics: metrics.map((m) => {
        const copy = { ...m };
        delete copy.query;
        return copy;
      }),
    });
  };
  /**
   * Every analysis, from the status' latest one; an analysis that changes the weights (an advance or a
   * rollback) starts a new window, which clears that, so its decision's evidence stands in for it.
   */
  const noteAnalysis = (windowBefore: string | undefined) => {
    const analysis = status?.lastAnalysis;
    if (analysis) addAnalysis(analysis.time, analysis.windowStart, analysis.verdict, analysis.metrics);
    const latest = status?.decisions?.at(-1);
    if (latest?.verdict && latest.metrics?.length && Date.parse(latest.time) === now) {
      addAnalysis(latest.time, windowBefore, latest.verdict, latest.metrics);
    }
  };
  const closeLine = () => {
    if (open) options.onEntry?.(open, sides());
    open = undefined;
  };
  const noteDecisions = () => {
    for (const decision of status?.decisions ?? []) {
      const k = recordKey(decision);
      const count = decision.count ?? 1;
      const shown = counted.get(k);
      if (shown !== undefined && count <= shown) continue;
      counted.set(k, count);
      const added = count - (shown ?? 0);
      const atMs = Date.parse(decision.time) - start;
      const holdsOn =
        open &&
        decision.action === 'Hold' &&
        open.decision.action === 'Hold' &&
        decision.step === open.decision.step &&
        decision.canaryWeight === open.decision.canaryWeight;
      if (open && (shown !== undefined || holdsOn)) {
        // the open run of holds goes on: one more analysis held, and the latest numbers
        open.count += added;
        open.reasons = { ...open.reasons, [decision.reason]: (open.reasons?.[decision.reason] ?? 0) + added };
        open.lastAtMs = atMs;
        open.decision = decision;
        open.phase = status?.phase;
        open.actualWeight = actualWeight;
        addAll(open.served, sinceEntry);
        sinceEntry = {};
        continue;
      }
      closeLine();
      const entry: TimelineEntry = {
        atMs: decision.firstTime ? Date.parse(decision.firstTime) - start : atMs,
        lastAtMs: atMs,
        count,
        ...(decision.action === 'Hold' ? { reasons: { [decision.reason]: count } } : {}),
        phase: status?.phase,
        step: status?.currentStepIndex ?? 0,
        stepCount,
        desiredWeight: status?.canaryWeight ?? 0,
        actualWeight,
        served: sinceEntry,
        decision,
      };
      sinceEntry = {};
      timeline.push(entry);
      open = entry;
    }
  };
  /** Hook calls and notifications not yet on a timeline line: those before its first decision. */
  let shownCalls = 0;
  let shownNotifications = 0;
  const noteHooksAndNotifications = () => {
    if (!open) return;
    const calls = hooks.calls.slice(shownCalls);
    const told = notifications.sent.slice(shownNotifications);
    shownCalls = hooks.calls.length;
    shownNotifications = notifications.sent.length;
    if (calls.length) open.hooks = [...(open.hooks ?? []), ...calls];
    if (told.length) open.notifications = [...(open.notifications ?? []), ...told];
  };
  const reconcile = async (): Promise<number> => {
    const patchesBefore = kube.calls.patch;
    const windowBefore = status?.windowStartedAt;
    const requeue = await reconciler.reconcile(key);
    // the deployment controller: what the reconciler scaled or changed is rolled out at once
    rollOutDeployments(kube);
    status = readStatus();
    const podsChanged = readPods();
    readRoutes(podsChanged);
    noteWeights();
    noteAnalysis(windowBefore);
    noteDecisions();
    noteHooksAndNotifications();
    if (kube.calls.patch > patchesBefore) return RECONCILE_AFTER_PATCH_MS;
    if (requeue === null) return RESYNC_MS;
    return requeue > 0 ? Math.max(requeue, MIN_REQUEUE_MS) : 0;
  };

  readPods();
  readRoutes(true);
  noteWeights();
  if (cluster.mode === 'managed') await setUpPrimary();
  let nextReconcile = start;
  let carry = 0;
  let period: SharePoint = { atMs: SERIES_PERIOD_MS, canary: 0, total: 0 };
  for (;;) {
    for (let round = 0; now >= nextReconcile; round++) {
      const after = await reconcile();
      nextReconcile = now + (round + 1 >= MAX_RECONCILES_PER_INSTANT ? Math.max(after, 1_000) : after);
    }
    const phase = status?.phase;
    if ((phase && TERMINAL.includes(phase)) || now - start >= maxDurationMs) break;

    const end = Math.min(now + SLICE_MS, nextReconcile, start + maxDurationMs);
    const expected = (requestRate(scenario.traffic, now - start) * (end - now)) / 1000 + carry;
    const requests = Math.floor(expected);
    // the fraction carries over, so the request count is exact over time even at 0.1 requests per second
    carry = expected - requests;
    const routed = router.route(requests);
    // a slice counts in the period it ends in
    while (end - start > period.atMs) {
      shares.push(period);
      period = { atMs: period.atMs + SERIES_PERIOD_MS, canary: 0, total: 0 };
    }
    for (const [revision, n] of routed.byRevision) {
      const result = mesh.serve(revision, n, behaviour(revision, now - start), end);
      add(sinceEntry, revision, result);
      add(served, revision, result);
      const answered = n - (routed.mirrored.get(revision) ?? 0);
      period.total += answered;
      if (revision === canary.revision) period.canary += answered;
    }
    for (const [reason, n] of routed.dropped) dropped[reason] = (dropped[reason] ?? 0) + n;
    now = end;
    await options.onProgress?.({
      atMs: now - start,
      phase: status?.phase,
      step: status?.currentStepIndex ?? 0,
      stepCount,
      desiredWeight: status?.canaryWeight ?? 0,
      actualWeight,
      served,
    });
  }
  if (status?.phase && TERMINAL.includes(status.phase)) await settle();
  closeLine();
  while (now - start >= period.atMs) {
    shares.push(period);
    period = { atMs: period.atMs + SERIES_PERIOD_MS, canary: 0, total: 0 };
  }
  if (now - start > period.atMs - SERIES_PERIOD_MS) shares.push({ ...period, atMs: now - start });
  if (stageNow) stages.push({ ...stageNow, toMs: now - start });
  noteWeights();
  if (weights.at(-1)?.atMs !== now - start) {
    weights.push({ atMs: now - start, desired: status?.canaryWeight ?? 0, actual: actualWeight });
  }
  const outcome = status?.phase;
  return {
    release: key,
    seed: options.seed,
    mode: cluster.mode,
    routedBy: shownBy,
    stable,
    canary,
    outcome,
    finished: outcome !== undefined && TERMINAL.includes(outcome),
    message: status?.message,
    durationMs: now - start,
    maxDurationMs,
    stepCount,
    timeline,
    served,
    dropped,
    weights,
    shares,
    stages,
    faults: faultSpans(scenario)
      .filter((f) => f.fromMs < now - start)
      .map((f) => ({ ...f, toMs: f.toMs !== null && f.toMs < now - start ? f.toMs : null })),
    metrics: cluster.metrics.map(metricInfo),
    analyses,
    series: Object.fromEntries(
      mesh.revisions.sort().map((r) => [r, mesh.series(r, start, now, SERIES_PERIOD_MS)]),
    ),
    subsets: Object.fromEntries([...subsetOf].sort(([a], [b]) => a.localeCompare(b))),
    status,
    hookCalls: hooks.calls,
    notifications: notifications.sent,
  };

  /**
   * After the outcome the controller still tidies up (managed mode: a reverted template, the canary
   * scaled to zero): a few more reconciles at the same instant, until one changes nothing.
   */
  async function settle(): Promise<void> {
    for (let i = 0; i < MAX_SETTLE_RECONCILES; i++) {
      const before = { ...kube.calls };
      const decisions = timeline.length;
      await reconcile();
      const calls = kube.calls;
      if (
        calls.patch === before.patch &&
        calls.create === before.create &&
        calls.delete === before.delete &&
        timeline.length === decisions
      ) {
        return;
      }
    }
  }

  /**
   * Managed mode, before the clock runs: the reconciler copies the user's Deployment into the primary
   * and points the subsets (as on a cluster where canaria has run), then the user's pod template
   * changes, which is the canary.
   */
  async function setUpPrimary(): Promise<void> {
    for (let i = 0; i < MAX_SETUP_RECONCILES; i++) {
      await reconcile();
      if (status?.phase === 'Failed') return;
      if (status?.phase === 'Succeeded' && service.revisions.has(stable.subset)) break;
    }
    if (status?.phase !== 'Succeeded') return;
    stable.revision = service.revisions.get(stable.subset) ?? stable.revision;
    const target = cluster.target && (kube.get('Deployment', cluster.target) as Deployment | undefined);
    if (!target?.spec?.template) return;
    const template = target.spec.template;
    kube.apply('Deployment', {
      ...target,
      spec: {
        ...target.spec,
        template: {
          ...template,
          metadata: {
            ...template.metadata,
            annotations: { ...template.metadata?.annotations, [SIMULATED_CHANGE_ANNOTATION]: 'canary' },
          },
        },
      },
    });
  }
}
