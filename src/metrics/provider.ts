import type { Measurement, ResolvedMetric } from '../analysis/types.js';
import type { Reporter, RevisionLabel } from './request-stats.js';

/** One release's analysis at one tick: which revisions to compare, over which window, on which metrics. */
export interface MeasurementRequest {
  /** `namespace/name`; the key of the answer. */
  key: string;
  /** The release's name, for `{{ name }}` in custom queries. */
  name: string;
  namespace: string;
  /** The Kubernetes Service whose requests are measured (Istio's `destination_service_name`). */
  service: string;
  /**
   * The stable side's Service when it is not `service`: routers that split between Services (Gateway
   * API) measure each side under its own, `service` then being the canary's.
   */
  stableService?: string;
  canaryRevision: string;
  stableRevision: string;
  /** When the current step's weight took effect; the window runs from here to `now`. */
  windowStart: Date;
  /**
   * Metrics measured over increments (sequential judges): where each one's increment starts, by
   * metric name. A metric not named here is measured from `windowStart`.
   */
  since?: Readonly<Record<string, Date>>;
  now: Date;
  metrics: readonly ResolvedMetric[];
  revisionLabel: RevisionLabel;
  reporter: Reporter;
}

/** Release key → metric name → what was measured. */
export type Measurements = Map<string, Map<string, Measurement>>;

/**
 * The metrics port. It measures a whole tick's releases at once so an adapter can batch; a backend
 * failure comes back as a `kind: 'error'` measurement, never as a rejected promise.
 */
export interface MetricsProvider {
  measure(requests: readonly MeasurementRequest[], signal?: AbortSignal): Promise<Measurements>;
}

/** Where the window of `metric` starts in `request`: its increment, or the step's window. */
export function windowStartOf(request: MeasurementRequest, metric: ResolvedMetric): Date {
  return (metric.window === 'increment' ? request.since?.[metric.name] : undefined) ?? request.windowStart;
}
