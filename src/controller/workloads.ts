import type { ValidationIssue } from '../api/validation.js';
import { fingerprint } from '../api/fingerprint.js';
import type { RevisionLabel } from '../metrics/request-stats.js';
import type { Deployment } from '../kube/resources.js';

/** The revision label values Istio reports for each side, for the queries. */
export interface Reported {
  canary?: string | undefined;
  stable?: string | undefined;
}

export const releaseField = (path: string, message: string): ValidationIssue => ({ path, message });

/** A Deployment is ready when its current template is rolled out and available. */
export function deploymentReady(d: Deployment): boolean {
  const wanted = d.spec?.replicas ?? 1;
  const status = d.status ?? {};
  return (
    wanted > 0 &&
    (status.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
    (status.updatedReplicas ?? 0) >= wanted &&
    (status.availableReplicas ?? 0) >= wanted
  );
}

/**
 * The value Istio reports for a pod's revision: `destination_canonical_revision` comes from
 * service.istio.io/canonical-revision, then app.kubernetes.io/version, then version, else "latest";
 * `destination_version` from the version label.
 */
export function reportedRevision(d: Deployment, label: RevisionLabel): string | undefined {
  const labels = d.spec?.template?.metadata?.labels ?? {};
  if (label === 'destination_version') return labels.version;
  return (
    labels['service.istio.io/canonical-revision'] ??
    labels['app.kubernetes.io/version'] ??
    labels.version ??
    'latest'
  );
}

/** A revision is the pod template: any change of it is a new canary. */
export const templateRevision = (d: Deployment): string => fingerprint(d.spec?.template ?? {});
