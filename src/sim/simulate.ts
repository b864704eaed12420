import type { CanaryReleaseSpec, CanaryReleaseStatus, DecisionRecord, Phase } from '../api/canary-release.js';
import { emptyCatalog, resolveMetrics, type TemplateCatalog } from '../analysis/resolve.js';
import type { Measurement } from '../analysis/types.js';
import { analysisWindow, decide } from '../engine/decide.js';
import { expandSteps, unitsToPercent } from '../engine/steps.js';
import type { ObservedRouting, Observations } from '../engine/types.js';
import { SimulatedMesh, type RevisionProfile } from './mesh.js';
import { createRng, normal } from './rng.js';

/** Synthetic traffic: a request rate and how each revision behaves, with optional faults over time. */
export interface TrafficScenario {
  requestsPerSecond: number;
  stable: RevisionProfile & { name: string };
  canary: RevisionProfile & { name: string };
  /** From `atMs` after the start, the canary behaves differently (a memory leak, a bad dependency). */
  faults?: { atMs: number; canary: Partial<RevisionProfile> }[];
}

export interface SimulationOptions {
  spec: CanaryReleaseSpec;
  scenario: TrafficScenario;
  seed: number;
  templates?: TemplateCatalog;
  /** Traffic is generated in slices of this length. */
  resolutionMs?: number;
  /** Give up after this much simulated time. */
  maxDurationMs?: number;
  start?: Date;
  /** Called for every timeline entry as the simulation produces it. */
  onEntry?: (entry: TimelineEntry) => void;
}

export interface Served {
  total: number;
  errors: number;
}

export interface TimelineEntry {
  atMs: number;
  phase: Phase | undefined;
  step: number;
  stepCount: number;
  /** Canary share in percent, as the VirtualService shows it. */
  canaryWeight: number;
  /** Requests each revision served since the previous entry. */
  stable: Served;
  canary: Served;
  decision: DecisionRecord;
}

export interface SimulationResult {
  outcome: Phase | undefined;
  durationMs: number;
  timeline: TimelineEntry[];
  /** Everything each revision served during the rollout. */
  stable: Served;
  canary: Served;
  status: CanaryReleaseStatus | undefined;
}

const RECONCILE_AFTER_PATCH_MS = 1_000;

/**
 * Runs the real engine and judges against a simulated mesh and a virtual clock: a 40-minute rollout
 * takes a fraction of a second, and the same seed gives the same timeline.
 */
export function simulate(options: SimulationOptions): SimulationResult {
  const { spec, scenario } = options;
  const rng = createRng(options.seed);
  const mesh = new SimulatedMesh(rng);
  const resolution = options.resolutionMs ?? 5_000;
  const start = (options.start ?? new Date('2026-01-01T00:00:00Z')).getTime();
  const maxDuration = options.maxDurationMs ?? 6 * 3_600_000;
  const total = spec.trafficRouting.istio.weightTotal;
  const { metrics, issues } = resolveMetrics(spec.analysis, options.templates ?? emptyCatalog());
  const stepCount = expandSteps(spec.strategy).length;

  let now = start;
  let status: CanaryReleaseStatus | undefined;
  let actual: ObservedRouting = { stableWeight: total, canaryWeight: 0, total, match: false };
  let nextReconcile = start;
  const timeline: TimelineEntry[] = [];
  const sinceEntry = { stable: { total: 0, errors: 0 }, canary: { total: 0, errors: 0 } };
  const overall = { stable: { total: 0, errors: 0 }, canary: { total: 0, errors: 0 } };

  const canaryProfile = (at: number): RevisionProfile => {
    let profile: RevisionProfile = scenario.canary;
    for (const fault of scenario.faults ?? [])
      if (at - start >= fault.atMs) profile = { ...profile, ...fault.canary };
    return profile;
  };

  while (now - start <= maxDuration) {
    if (now >= nextReconcile) {
      const obs: Observations = {
        canaryRevision: scenario.canary.name,
        stableRevision: scenario.stable.name,
        canaryReady: true,
        actualRouting: actual,
        configIssues: issues,
      };
      const window = analysisWindow(spec, status, new Date(now));
      if (window) {
        const measurements = new Map<string, Measurement>();
        for (const m of metrics) {
          measurements.set(
            m.name,
            mesh.measure(
              m,
              scenario.canary.name,
              scenario.stable.name,
              window.start.getTime(),
              window.end.getTime(),
            ),
          );
        }
        obs.analysis = { metrics, measurements };
      }
      const before = status?.decisions?.length ?? 0;
      const beforeLast = status?.decisions?.at(-1);
      const decision = decide(spec, status, obs, new Date(now));
      let patched = false;
      for (const action of decision.actions) {
        if (action.type !== 'setRouting') continue;
        const r = action.routing;
        actual = {
          stableWeight: r.stableWeight,
          canaryWeight: r.canaryWeight,
          total: r.total,
          match: !!r.match,
        };
        if (r.mirrorPercent !== undefined) actual.mirrorPercent = r.mirrorPercent;
        patched = true;
      }
      status = decision.status;
      const records = status.decisions ?? [];
      // the history is capped, so find what is new by position after the last one we had seen
      const seenAt = beforeLast
        ? records.findLastIndex((r) => r.time === beforeLast.time && r.message === beforeLast.message)
        : -1;
      const fresh = beforeLast ? records.slice(seenAt + 1) : records.slice(before);
      for (const record of fresh) {
        const entry: TimelineEntry = {
          atMs: now - start,
          phase: status.phase,
          step: status.currentStepIndex ?? 0,
          stepCount,
          canaryWeight: unitsToPercent(actual.canaryWeight, actual.total),
          stable: { ...sinceEntry.stable },
          canary: { ...sinceEntry.canary },
          decision: record,
        };
        timeline.push(entry);
        options.onEntry?.(entry);
        sinceEntry.stable = { total: 0, errors: 0 };
        sinceEntry.canary = { total: 0, errors: 0 };
      }
      if (status.phase === 'Succeeded' || status.phase === 'RolledBack' || status.phase === 'Failed') break;
      nextReconcile = now + (patched ? RECONCILE_AFTER_PATCH_MS : (decision.requeueAfterMs ?? 60_000));
    }

    const dt = Math.max(1_000, Math.min(resolution, nextReconcile - now));
    const requests = Math.max(0, Math.round((scenario.requestsPerSecond * dt) / 1000));
    const share = actual.total > 0 ? actual.canaryWeight / actual.total : 0;
    const spread = Math.sqrt(requests * share * (1 - share));
    const toCanary = Math.min(requests, Math.max(0, Math.round(requests * share + spread * normal(rng))));
    const end = now + dt;
    const served = {
      canary: mesh.serve(scenario.canary.name, toCanary, canaryProfile(now), end),
      stable: mesh.serve(scenario.stable.name, requests - toCanary, scenario.stable, end),
    };
    for (const who of ['canary', 'stable'] as const) {
      for (const tally of [sinceEntry[who], overall[who]]) {
        tally.total += served[who].total;
        tally.errors += served[who].errors;
      }
    }
    now = end;
  }
  return {
    outcome: status?.phase,
    durationMs: now - start,
    timeline,
    stable: overall.stable,
    canary: overall.canary,
    status,
  };
}
