/**
 * The two policies the decision benchmark compares, each driven through one rollout on a traffic
 * ledger: canaria's real engine and judges (`decide`, on the release's resolved metrics), and a
 * reference of Flagger's default policy written from its documentation and scheduler: every
 * interval a success-rate check (>= 99 %) and a p99 check (<= 500 ms) over the last minute of the
 * canary's requests, an empty window failing the check; failed checks accumulate over the rollout
 * and the rollback comes at the next interval once there are `threshold` of them; a passing
 * interval adds stepWeight, and a pass at maxWeight promotes.
 */
import type { CanaryReleaseSpec, CanaryReleaseStatus, Phase } from '../../api/canary-release.js';
import { routingSides } from '../../api/routing.js';
import type { Measurement, ResolvedMetric } from '../../analysis/types.js';
import { analysisWindow, decide, unitsToPercent, type ObservedRouting } from '../../engine/index.js';
import { histogramQuantile } from '../histogram.js';
import type { Served, TrafficLedger } from './traffic.js';

export interface Outcome {
  result: 'promoted' | 'rolledBack' | 'unfinished';
  /** When the promotion or the rollback was decided, from the rollout's start. */
  atMs: number;
  /** The last status (canaria) for a look at the evidence. */
  status?: CanaryReleaseStatus;
}

/** The reconcile after a transition comes this soon, as the controller's own status write brings it. */
const MIN_REQUEUE_MS = 1_000;

function measurement(metric: ResolvedMetric, served: { canary: Served; stable: Served }): Measurement {
  const { canary, stable } = served;
  switch (metric.type) {
    case 'errorRatio':
    case 'successRate':
      return {
        kind: 'requests',
        canary: { total: canary.total, errors: canary.errors },
        stable: { total: stable.total, errors: stable.errors },
      };
    case 'slowRatio':
      return {
        kind: 'requests',
        canary: { total: canary.total, errors: canary.errors, slow: canary.slow },
        stable: { total: stable.total, errors: stable.errors, slow: stable.slow },
      };
    case 'latencyQuantile':
      return {
        kind: 'scalar',
        canary: histogramQuantile(metric.quantile ?? 0.99, canary.buckets),
        stable: histogramQuantile(metric.quantile ?? 0.99, stable.buckets),
      };
    case 'promql':
      return {
        kind: 'error',
        error: { code: 'BadQuery', message: 'the benchmark has no PromQL', retryable: false },
      };
  }
}

/** One rollout with canaria's engine: routing takes effect at once, time follows the requeues. */
export function runCanaria(
  spec: CanaryReleaseSpec,
  metrics: readonly ResolvedMetric[],
  ledger: TrafficLedger,
  maxMs: number,
): Outcome {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  let now = 0;
  let status: CanaryReleaseStatus | undefined;
  const total = routingSides(spec).weightTotal;
  let actual: ObservedRouting = { stableWeight: total, canaryWeight: 0, total, match: false };
  const promoted: readonly (Phase | undefined)[] = ['Promoting', 'Succeeded'];
  while (now <= maxMs) {
    const at = new Date(t0 + now);
    const window = analysisWindow(spec, status, at);
    const decision = decide(
      spec,
      status,
      {
        canaryRevision: 'canary',
        stableRevision: 'stable',
        canaryReady: true,
        actualRouting: actual,
        configIssues: [],
        ...(window
          ? {
              analysis: {
                metrics,
                measurements: new Map(
                  metrics.map((m) => {
                    const from =
                      (m.window === 'increment' ? window.since[m.name] : undefined) ?? window.start;
                    return [m.name, measurement(m, ledger.window(from.getTime() - t0, now))];
                  }),
                ),
              },
            }
          : {}),
      },
      at,
    );
    status = decision.status;
    for (const action of decision.actions) {
      if (action.type === 'setRouting') {
        const r = action.routing;
        actual = { stableWeight: r.stableWeight, canaryWeight: r.canaryWeight, total: r.total, match: false };
      }
    }
    if (promoted.includes(status.phase)) return { result: 'promoted', atMs: now, status };
    if (status.phase === 'RolledBack') return { result: 'rolledBack', atMs: now, status };
    if (status.phase === 'Failed')
      throw new Error(`the benchmark's release is invalid: ${status.message ?? ''}`);
    const next = now + Math.max(decision.requeueAfterMs ?? 60_000, MIN_REQUEUE_MS);
    ledger.serve(now, next, unitsToPercent(actual.canaryWeight, actual.total) / 100);
    now = next;
  }
  return { result: 'unfinished', atMs: maxMs, ...(status ? { status } : {}) };
}

export interface FlaggerPolicy {
  stepWeight: number;
  maxWeight: number;
  intervalMs: number;
  /** Failed checks, over the whole rollout, that roll it back. */
  threshold: number;
  minSuccessPercent: number;
  maxP99Ms: number;
}

export const FLAGGER_DEFAULTS: FlaggerPolicy = {
  stepWeight: 10,
  maxWeight: 50,
  intervalMs: 60_000,
  threshold: 5,
  minSuccessPercent: 99,
  maxP99Ms: 500,
};

/** One rollout under the Flagger reference policy. */
export function runFlagger(policy: FlaggerPolicy, ledger: TrafficLedger, maxMs: number): Outcome {
  let weight = policy.stepWeight;
  let failed = 0;
  for (let now = policy.intervalMs; now <= maxMs; now += policy.intervalMs) {
    ledger.serve(now - policy.intervalMs, now, weight / 100);
    if (failed >= policy.threshold) return { result: 'rolledBack', atMs: now };
    const { canary } = ledger.window(now - policy.intervalMs, now);
    const p99 = histogramQuantile(0.99, canary.buckets);
    const ok =
      canary.total > 0 &&
      (100 * (canary.total - canary.errors)) / canary.total >= policy.minSuccessPercent &&
      p99 !== null &&
      p99 <= policy.maxP99Ms;
    if (!ok) {
      failed++;
      continue;
    }
    if (weight >= policy.maxWeight) return { result: 'promoted', atMs: now };
    weight = Math.min(policy.maxWeight, weight + policy.stepWeight);
  }
  return { result: 'unfinished', atMs: maxMs };
}
