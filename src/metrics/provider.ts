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
  canaryRevision: string;
  stableRevision: string;
  /** When the current step's weight took effect; the window runs from here to `now`. */
  windowStart: Date;
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
