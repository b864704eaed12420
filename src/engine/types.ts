import type { CanaryReleaseStatus, RoutingState } from '../api/canary-release.js';
import type { ValidationIssue } from '../api/validation.js';
import type { Measurement, ResolvedMetric } from '../analysis/types.js';

/** What the VirtualService says right now, read back by the traffic router. */
export interface ObservedRouting {
  stableWeight: number;
  canaryWeight: number;
  total: number;
  /** Whether canaria's A/B match route is present. */
  match: boolean;
  mirrorPercent?: number;
}

/** Everything the edges saw for one release, gathered before `decide` runs. */
export interface Observations {
  generation?: number;
  /** Revision of the canary workload (pod template hash); undefined while it does not exist. */
  canaryRevision?: string;
  stableRevision?: string;
  /** The canary's pods are available. */
  canaryReady: boolean;
  /** Undefined when the VirtualService could not be read. */
  actualRouting?: ObservedRouting;
  /** Configuration problems found against the cluster: unknown template, missing subset, ... */
  configIssues: readonly ValidationIssue[];
  /** Measurements for the window `analysisWindow` asked for; absent when no analysis was due. */
  analysis?: {
    metrics: readonly ResolvedMetric[];
    measurements: ReadonlyMap<string, Measurement>;
  };
}

export type Action =
  /** Bring the VirtualService's managed routes to this state (idempotent). */
  | { type: 'setRouting'; routing: RoutingState }
  /** A Kubernetes Event; one per decision. */
  | { type: 'event'; severity: 'Normal' | 'Warning'; reason: string; message: string };

export interface Decision {
  status: CanaryReleaseStatus;
  actions: Action[];
  /** When to look again if nothing else happens; null waits for a watch event. */
  requeueAfterMs: number | null;
}
