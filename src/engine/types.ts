import type { CanaryReleaseStatus, RoutingState } from '../api/canary-release.js';
import type { ObservedRouting } from '../api/routing.js';
import type { ValidationIssue } from '../api/validation.js';
import type { HookCall } from '../api/webhooks.js';
import type { Measurement, ResolvedMetric } from '../analysis/types.js';

export type { ObservedRouting };

/** Everything the edges saw for one release, gathered before `decide` runs. */
export interface Observations {
  generation?: number;
  /** Revision of the canary workload (pod template hash); undefined while it does not exist. */
  canaryRevision?: string;
  stableRevision?: string;
  /** The canary's pods are available. */
  canaryReady: boolean;
  /** Undefined when the routing could not be read. */
  actualRouting?: ObservedRouting;
  /** Configuration problems found against the cluster: unknown template, missing subset, ... */
  configIssues: readonly ValidationIssue[];
  /** Managed mode: the primary copy and the user's Deployment, which runs the canary. */
  managed?: ManagedObservations;
  /** Measurements for the window `analysisWindow` asked for; absent when no analysis was due. */
  analysis?: {
    metrics: readonly ResolvedMetric[];
    measurements: ReadonlyMap<string, Measurement>;
    /**
     * Where the measured window ended, when not at the decision's `now`: the controller ends windows
     * on a shared granule so that releases share queries. The next increment starts here.
     */
    end?: Date;
  };
  /** The answers of the hooks `hooksDue` named, called just before this decision. */
  hooks?: readonly HookCall[];
}

export interface ManagedObservations {
  /** Revision the primary runs; undefined while there is no primary. */
  primaryRevision?: string;
  /** The primary's current template is rolled out and available. */
  primaryReady: boolean;
  /** Replicas the primary asks for: the canary runs as many during a rollout, for a fair comparison. */
  primaryReplicas: number;
  /** Replicas the user's Deployment asks for right now. */
  canaryReplicas: number;
  /** The router's stable side selects the primary's pods and its canary side the canary's pods. */
  subsetsPointed: boolean;
  /** The user's pod template differs from the one last promoted (a revision of ConfigMaps alone does not). */
  templateRevertible: boolean;
  /** Secrets the pod template reads that do not count in its revision (no --track-secrets). */
  untrackedSecrets: string[];
}

export type Action =
  /** Bring the router's managed routes to this state (idempotent). */
  | { type: 'setRouting'; routing: RoutingState }
  /** A Kubernetes Event; one per decision. */
  | { type: 'event'; severity: 'Normal' | 'Warning'; reason: string; message: string }
  /** Managed mode: make the primary run the user's template of `revision` (creating it the first time). */
  | { type: 'syncPrimary'; revision: string }
  /** Managed mode: point the router's stable side at the primary's pods, its canary side at the canary's. */
  | { type: 'pointSubsets' }
  /** Managed mode: scale the user's Deployment, which runs the canary. */
  | { type: 'scaleCanary'; replicas: number }
  /** Managed mode: put the last promoted template back into the user's Deployment, replacing `revision`. */
  | { type: 'revertTarget'; revision: string }
  /** Managed mode, on deletion: delete the primary and its autoscaler. */
  | { type: 'deletePrimary' }
  /** On deletion: let the API server remove the release. */
  | { type: 'removeFinalizer' };

export interface Decision {
  status: CanaryReleaseStatus;
  actions: Action[];
  /** When to look again if nothing else happens; null waits for a watch event. */
  requeueAfterMs: number | null;
}
