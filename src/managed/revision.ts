import type { RevisionLabel } from '../metrics/request-stats.js';
import { fingerprint } from '../api/fingerprint.js';
import type { Deployment, KubeObject } from '../kube/resources.js';

/** A ConfigMap or Secret a pod template reads, through a volume, envFrom or an env valueFrom. */
export interface ConfigRef {
  kind: 'ConfigMap' | 'Secret';
  name: string;
}

interface NamedRef {
  name?: string;
}
interface EnvVar {
  valueFrom?: { configMapKeyRef?: NamedRef; secretKeyRef?: NamedRef };
}
interface Container {
  env?: EnvVar[];
  envFrom?: { configMapRef?: NamedRef; secretRef?: NamedRef }[];
}
interface Volume {
  configMap?: NamedRef;
  secret?: { secretName?: string };
  projected?: { sources?: { configMap?: NamedRef; secret?: NamedRef }[] };
}
interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}

/** Every ConfigMap and Secret the pod spec reads, once each, sorted. */
export function referencedConfigs(podSpec: unknown): ConfigRef[] {
  const spec = (podSpec ?? {}) as PodSpec;
  const found = new Map<string, ConfigRef>();
  const add = (kind: ConfigRef['kind'], name: string | undefined) => {
    if (name) found.set(`${kind}/${name}`, { kind, name });
  };
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const from of c.envFrom ?? []) {
      add('ConfigMap', from.configMapRef?.name);
      add('Secret', from.secretRef?.name);
    }
    for (const env of c.env ?? []) {
      add('ConfigMap', env.valueFrom?.configMapKeyRef?.name);
      add('Secret', env.valueFrom?.secretKeyRef?.name);
    }
  }
  for (const v of spec.volumes ?? []) {
    add('ConfigMap', v.configMap?.name);
    add('Secret', v.secret?.secretName);
    for (const source of v.projected?.sources ?? []) {
      add('ConfigMap', source.configMap?.name);
      add('Secret', source.secret?.name);
    }
  }
  return [...found.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, ref]) => ref);
}

/** What a lookup of a referenced object found: the object, nothing, or a kind canaria may not read. */
export type ConfigLookup = (ref: ConfigRef) => KubeObject | undefined | 'untracked';

/**
 * A revision of a workload: its pod template plus the content of every ConfigMap and Secret it reads.
 * Editing a ConfigMap alone is a new revision; Secrets count only when canaria may read them.
 */
export function workloadRevision(template: unknown, lookup: ConfigLookup): string {
  const configs = referencedConfigs((template as { spec?: unknown } | undefined)?.spec).map((ref) => {
    const found = lookup(ref);
    if (found === 'untracked') return { ...ref, content: 'untracked' };
    if (!found) return { ...ref, content: null };
    // a fingerprint of the content: Secret values never leave this function
    const { data, binaryData } = found as { data?: unknown; binaryData?: unknown };
    return { ...ref, content: fingerprint({ data, binaryData }) };
  });
  return fingerprint({ template, configs });
}

const CANONICAL_REVISION_SOURCES = [
  'service.istio.io/canonical-revision',
  'app.kubernetes.io/version',
  'version',
] as const;

/**
 * The pod label Istio takes the reported revision from: `version` for destination_version; for
 * destination_canonical_revision the first of its sources the template has. Undefined when none is
 * there, since then canaria cannot give the primary a revision of its own.
 */
export function revisionLabelKey(d: Deployment, label: RevisionLabel): string | undefined {
  const labels = d.spec?.template?.metadata?.labels ?? {};
  if (label === 'destination_version') return labels.version === undefined ? undefined : 'version';
  return CANONICAL_REVISION_SOURCES.find((key) => labels[key] !== undefined);
}
