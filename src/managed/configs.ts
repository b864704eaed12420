/**
 * The primary's own ConfigMaps and Secrets. The user's Deployment (the canary) and the primary would
 * otherwise read the same objects, so an edit of a mounted ConfigMap would reach the primary's pods
 * (the kubelet refreshes mounted content in running pods; restarted pods read the new env) before any
 * analysis judged it. As Flagger does, the primary reads `<name>-primary` copies instead, written only
 * when a revision is promoted (or the primary is first created) from the content that revision was
 * fingerprinted with.
 */
import type { ValidationIssue } from '../api/validation.js';
import { jsonEqual, type JsonPatchOperation } from '../kube/json-patch.js';
import { refOf, type KubeObject, type Ref } from '../kube/resources.js';
import { MANAGED_BY, ownedBy, RELEASE_LABEL } from './labels.js';
import { referencedConfigs, type ConfigLookup, type ConfigRef } from './revision.js';

export const primaryConfigName = (name: string): string => `${name}-primary`;

/** On a copy: the object it copies, so a reader knows where to edit. */
export const COPY_OF_ANNOTATION = 'canaria.dev/copy-of';

/**
 * Secret types that hold plain data. Others are filled in by Kubernetes (service-account tokens) or
 * are not read by pods through volumes and env; the primary reads those where they are.
 */
const COPYABLE_SECRET_TYPES = new Set([
  'Opaque',
  'kubernetes.io/basic-auth',
  'kubernetes.io/ssh-auth',
  'kubernetes.io/tls',
]);

interface ConfigContent extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export type ConfigWrite =
  | { op: 'create'; kind: ConfigRef['kind']; object: KubeObject }
  | { op: 'patch'; kind: ConfigRef['kind']; ref: Ref; ops: JsonPatchOperation[] };

export interface ConfigCopyPlan {
  /** What the primary's template reads from a copy. */
  copied: ConfigRef[];
  /** What makes the copies hold the content the revision was fingerprinted with; empty when they do. */
  writes: ConfigWrite[];
  /** Copies canaria cannot write: an object of that name that is not canaria's. */
  issues: ValidationIssue[];
}

const copyable = (ref: ConfigRef, source: ConfigContent): boolean =>
  ref.kind === 'ConfigMap' || COPYABLE_SECRET_TYPES.has(source.type ?? 'Opaque');

/**
 * Plans the copies of every ConfigMap and Secret `template` reads. A reference whose object is
 * missing (an optional one) or that canaria may not read (Secrets without --track-secrets) is left
 * as it is: the primary reads the original, as before.
 */
export function planConfigCopies(
  release: string,
  namespace: string,
  template: unknown,
  lookup: ConfigLookup,
): ConfigCopyPlan {
  const plan: ConfigCopyPlan = { copied: [], writes: [], issues: [] };
  for (const ref of referencedConfigs((template as { spec?: unknown } | undefined)?.spec)) {
    const source = lookup(ref);
    if (source === undefined || source === 'untracked' || !copyable(ref, source)) continue;
    const { data, binaryData, type } = source as ConfigContent;
    const name = primaryConfigName(ref.name);
    const existing = lookup({ kind: ref.kind, name });
    if (existing === 'untracked') continue;
    if (existing && !ownedBy(existing.metadata.labels, release)) {
      plan.issues.push({
        path: 'spec.targetRef.name',
        message: `${ref.kind} "${name}" exists and was not created by canaria for this release; rename or delete it: canaria keeps the primary's copy of ${ref.kind} "${ref.name}" under that name`,
      });
      continue;
    }
    plan.copied.push(ref);
    const content = { data: data ?? {}, binaryData: binaryData ?? {} };
    if (!existing) {
      plan.writes.push({
        op: 'create',
        kind: ref.kind,
        object: {
          apiVersion: 'v1',
          kind: ref.kind,
          metadata: {
            name,
            namespace,
            labels: { ...MANAGED_BY, [RELEASE_LABEL]: release },
            annotations: { [COPY_OF_ANNOTATION]: ref.name },
          },
          ...(ref.kind === 'Secret' ? { type: type ?? 'Opaque' } : {}),
          ...content,
        },
      });
      continue;
    }
    const had = existing as ConfigContent;
    if (jsonEqual({ data: had.data ?? {}, binaryData: had.binaryData ?? {} }, content)) continue;
    plan.writes.push({
      op: 'patch',
      kind: ref.kind,
      ref: refOf(existing),
      // guarded: a copy someone edited since the cache saw it is planned again, not overwritten blindly
      ops: [
        { op: 'test', path: '/metadata/resourceVersion', value: existing.metadata.resourceVersion },
        { op: 'add', path: '/data', value: content.data },
        { op: 'add', path: '/binaryData', value: content.binaryData },
      ],
    });
  }
  return plan;
}

interface NamedRef {
  name?: string;
}
interface Container {
  env?: { valueFrom?: { configMapKeyRef?: NamedRef; secretKeyRef?: NamedRef } }[];
  envFrom?: { configMapRef?: NamedRef; secretRef?: NamedRef }[];
}
interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  volumes?: {
    configMap?: NamedRef;
    secret?: { secretName?: string };
    projected?: { sources?: { configMap?: NamedRef; secret?: NamedRef }[] };
  }[];
}

/** The pod template with every reference to a copied object renamed to its copy; the rest as it was. */
export function readCopies<T>(template: T, copied: readonly ConfigRef[]): T {
  if (!copied.length) return template;
  const result = structuredClone(template);
  const spec = (result as { spec?: PodSpec }).spec;
  if (!spec) return result;
  const has = new Set(copied.map((ref) => `${ref.kind}/${ref.name}`));
  const rename = (kind: ConfigRef['kind'], target: NamedRef | undefined) => {
    const name = target?.name;
    if (target && name !== undefined && has.has(`${kind}/${name}`)) target.name = primaryConfigName(name);
  };
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const from of c.envFrom ?? []) {
      rename('ConfigMap', from.configMapRef);
      rename('Secret', from.secretRef);
    }
    for (const env of c.env ?? []) {
      rename('ConfigMap', env.valueFrom?.configMapKeyRef);
      rename('Secret', env.valueFrom?.secretKeyRef);
    }
  }
  for (const v of spec.volumes ?? []) {
    rename('ConfigMap', v.configMap);
    const secret = v.secret;
    if (secret?.secretName !== undefined && has.has(`Secret/${secret.secretName}`)) {
      secret.secretName = primaryConfigName(secret.secretName);
    }
    for (const source of v.projected?.sources ?? []) {
      rename('ConfigMap', source.configMap);
      rename('Secret', source.secret);
    }
  }
  return result;
}

/** canaria's copies for this release, to delete with the primary. */
export function primaryConfigCopies(objects: readonly KubeObject[], release: string): Ref[] {
  return objects
    .filter(
      (o) =>
        ownedBy(o.metadata.labels, release) && o.metadata.annotations?.[COPY_OF_ANNOTATION] !== undefined,
    )
    .map(refOf);
}
