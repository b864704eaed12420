import type { KubePort } from '../kube/port.js';
import type { Kind, Ref } from '../kube/resources.js';

/**
 * What a release read in its last reconcile, so that a change of a Deployment, an HPA, a ConfigMap
 * or a Secret wakes only the releases that read it (dependents.ts), not every release of the
 * namespace: one Deployment's status change used to cost a reconcile of each of its 100 neighbours.
 */
export interface Interest {
  /** `Kind/name` of every object read by name. */
  readonly named: ReadonlySet<string>;
  /** Kinds listed whole, except the Deployments listed to find a side's by its pod labels. */
  readonly listed: ReadonlySet<Kind>;
  /** Pod labels a side's Deployment was looked for by (the Deployments found are in `named`). */
  readonly selectors: readonly Readonly<Record<string, string>>[];
}

export const namedKey = (kind: Kind, name: string): string => `${kind}/${name}`;

/** A port that notes what is read through it; writes and watches go straight through. */
export function recordingKube(kube: KubePort): { port: KubePort; named: Set<string>; listed: Set<Kind> } {
  const named = new Set<string>();
  const listed = new Set<Kind>();
  const port: KubePort = {
    get: (kind: Kind, ref: Ref) => {
      named.add(namedKey(kind, ref.name));
      return kube.get(kind, ref);
    },
    list: (kind: Kind, namespace?: string) => {
      listed.add(kind);
      return kube.list(kind, namespace);
    },
    patch: (kind, ref, ops) => kube.patch(kind, ref, ops),
    create: (kind, object) => kube.create(kind, object),
    delete: (kind, ref) => kube.delete(kind, ref),
    writeReleaseStatus: (ref, status, options) => kube.writeReleaseStatus(ref, status, options),
    recordEvent: (release, event) => kube.recordEvent(release, event),
    watch: (handler) => kube.watch(handler),
    synced: () => kube.synced(),
  };
  return { port, named, listed };
}
