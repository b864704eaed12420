import {
  canaryReleaseStatus,
  type CanaryReleaseStatus,
  type DecisionRecord,
  type Phase,
} from '../api/canary-release.js';
import { parseDuration } from '../api/duration.js';
import type { ValidationIssue } from '../api/validation.js';
import { MeasureBatcher } from '../controller/measure-batcher.js';
import { Reconciler } from '../controller/reconciler.js';
import { expandSteps } from '../engine/steps.js';
import { readRouting } from '../istio/routes.js';
import {
  destinationRule as destinationRuleSchema,
  virtualService as virtualServiceSchema,
  type DestinationRule,
  type VirtualService,
} from '../istio/types.js';
import { refKey } from '../kube/resources.js';
import { silentLogger } from '../telemetry/logger.js';
import type { SimulatedCluster } from './cluster.js';
import { bucketProbabilities } from './histogram.js';
import { MeshMetricsProvider } from './mesh-metrics.js';
import { SimulatedMesh, type Behaviour, type RevisionPoint, type Served } from './mesh.js';
import { createRng } from './rng.js';
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
/** The report's error rate and latency are rates over periods of this length. */
const SERIES_PERIOD_MS = 60_000;

const TERMINAL: readonly Phase[] = ['Succeeded', 'RolledBack', 'Failed'];

export interface TimelineEntry {
  atMs: number;
  phase: Phase | undefined;
  /** Index of the current step, and how many there are. */
  step: number;
  stepCount: number;
  /** Canary share in percent: what the release wants, and what the VirtualService shows. */
  desiredWeight: number;
  actualWeight: number;
  /** What each revision served since the previous entry. */
  served: Record<string, Served>;
  decision: DecisionRecord;
}

export interface WeightPoint {
  atMs: number;
  desired: number;
  actual: number;
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

export interface SimulationOptions {
  seed: number;
  /** Called for every timeline entry as the simulation produces it. */
  onEntry?: (entry: TimelineEntry) => void;
  /** Called after every slice; the simulation waits for it, so a display can pace it. */
  onProgress?: (progress: Progress) => void | Promise<void>;
}

export interface SimulationResult {
  release: string;
  seed: number;
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
  /** Per revision, error rate and latency period by period. */
  series: Record<string, RevisionPoint[]>;
  status: CanaryReleaseStatus | undefined;
}

/** Revision names the scenario uses that the release does not have: a typo would silently do nothing. */
export function checkScenarioNames(scenario: Scenario, cluster: SimulatedCluster): ValidationIssue[] {
  const known = new Set([...cluster.service.revisions.keys(), ...cluster.service.revisions.values()]);
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

/**
 * Runs a release in a simulated cluster: the real Reconciler (engine, judges, Istio patches) against
 * the in-memory Kube adapter, a simulated mesh that routes every request with the route evaluator,
 * synthetic traffic from the scenario, and a virtual clock, so a 40-minute rollout takes a moment.
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
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(new MeshMetricsProvider(mesh), 0),
    clock: () => new Date(now),
    logger: silentLogger(),
  });
  const key = refKey(cluster.release);
  const stepCount = expandSteps(spec.strategy).length;
  const router = new TrafficRouter(rng, scenario.traffic.requests ?? [{ share: 1 }], cluster.service);
  const subsetOf = new Map([...cluster.service.revisions].map(([subset, revision]) => [revision, subset]));
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
  const weights: WeightPoint[] = [];
  let sinceEntry: Record<string, Served> = {};
  const served: Record<string, Served> = {};
  const dropped: Record<string, number> = {};

  const readStatus = () => {
    const parsed = canaryReleaseStatus.safeParse(kube.get('CanaryRelease', cluster.release)?.status ?? {});
    return parsed.success ? parsed.data : undefined;
  };
  let routesVersion: string | undefined;
  /** The VirtualService changes only when the reconciler patches it: re-read it after every reconcile. */
  const readRoutes = () => {
    const object = kube.get('VirtualService', cluster.virtualService);
    if (object?.metadata.resourceVersion === routesVersion) return;
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
    const reading = readRouting(vs, spec.trafficRouting.istio);
    if (reading.ok) actualWeight = Math.round(reading.value.canaryPercent * 10_000) / 10_000;
  };
  const noteWeights = () => {
    const desired = status?.canaryWeight ?? 0;
    const last = weights.at(-1);
    if (!last || last.desired !== desired || last.actual !== actualWeight)
      weights.push({ atMs: now - start, desired, actual: actualWeight });
  };
  const reconcile = async (): Promise<number> => {
    const patchesBefore = kube.calls.patch;
    const lastSeen = status?.decisions?.at(-1);
    const requeue = await reconciler.reconcile(key);
    status = readStatus();
    readRoutes();
    noteWeights();
    const records = status?.decisions ?? [];
    // the history is capped: what is new comes after the last record seen before
    const seenAt = lastSeen
      ? records.findLastIndex((r) => r.time === lastSeen.time && r.message === lastSeen.message)
      : -1;
    for (const decision of records.slice(seenAt + 1)) {
      const entry: TimelineEntry = {
        atMs: now - start,
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
      options.onEntry?.(entry);
    }
    if (kube.calls.patch > patchesBefore) return RECONCILE_AFTER_PATCH_MS;
    if (requeue === null) return RESYNC_MS;
    return requeue > 0 ? Math.max(requeue, MIN_REQUEUE_MS) : 0;
  };

  readRoutes();
  noteWeights();
  let nextReconcile = start;
  let carry = 0;
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
    for (const [revision, n] of routed.byRevision) {
      const result = mesh.serve(revision, n, behaviour(revision, now - start), end);
      add(sinceEntry, revision, result);
      add(served, revision, result);
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
  noteWeights();
  if (weights.at(-1)?.atMs !== now - start) {
    weights.push({ atMs: now - start, desired: status?.canaryWeight ?? 0, actual: actualWeight });
  }
  const outcome = status?.phase;
  return {
    release: key,
    seed: options.seed,
    stable: cluster.stable,
    canary: cluster.canary,
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
    series: Object.fromEntries(
      mesh.revisions.sort().map((r) => [r, mesh.series(r, start, now, SERIES_PERIOD_MS)]),
    ),
    status,
  };
}
