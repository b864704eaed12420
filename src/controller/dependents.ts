import { parseCanaryReleaseSpec } from '../api/validation.js';
import type { KubePort } from '../kube/port.js';
import { refKey, refOf, ROUTING_KINDS, type Kind, type KubeObject } from '../kube/resources.js';
import { ROUTERS } from '../routers/registry.js';
import { namedKey, type Interest } from './interest.js';

const matches = (labels: Record<string, string> | undefined, wanted: Readonly<Record<string, string>>) =>
  Object.entries(wanted).every(([k, v]) => labels?.[k] === v);

/**
 * Whether a change of `object` may change what `release` decides. Without `interest` (the release
 * was not reconciled yet, or its spec did not parse) the answer is yes: a reconcile too many costs
 * little, one too few leaves a release waiting for its next timer.
 */
function cares(release: KubeObject, kind: Kind, object: KubeObject, interest: Interest | undefined): boolean {
  const name = object.metadata.name;
  // routing objects wake the releases that name them; a spec may not parse yet, so a loose look
  if (ROUTING_KINDS.includes(kind))
    return Object.values(ROUTERS).some((router) => router.references(release.spec, kind, name));
  if (kind === 'AnalysisTemplate' || kind === 'ClusterAnalysisTemplate') {
    const spec = parseCanaryReleaseSpec(release.spec);
    if (!spec.ok) return true;
    return (spec.value.analysis?.templates ?? []).some((t) => t.kind === kind && t.name === name);
  }
  if (!interest) return true;
  if (kind === 'Deployment') {
    // one it read or found, or one whose pods now carry a side's labels
    if (interest.named.has(namedKey(kind, name)) || interest.listed.has(kind)) return true;
    const labels = (
      object.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined
    )?.template?.metadata?.labels;
    return interest.selectors.some((wanted) => matches(labels, wanted));
  }
  if (kind === 'HorizontalPodAutoscaler') {
    // managed mode reads the autoscalers of the Deployments it reads by name
    const target = (object.spec as { scaleTargetRef?: { kind?: string; name?: string } } | undefined)
      ?.scaleTargetRef;
    return target?.kind === 'Deployment' && interest.named.has(namedKey('Deployment', target.name ?? ''));
  }
  return interest.named.has(namedKey(kind, name)) || interest.listed.has(kind);
}

/** The releases that may care about a change of `object`. */
export function dependents(
  kube: KubePort,
  kind: Kind,
  object: KubeObject,
  owns: (release: KubeObject) => boolean,
  interestOf: (key: string) => Interest | undefined = () => undefined,
): string[] {
  const namespace = object.metadata.namespace ?? '';
  if (kind === 'CanaryRelease') return [refKey({ namespace, name: object.metadata.name })];
  const releases =
    kind === 'ClusterAnalysisTemplate' ? kube.list('CanaryRelease') : kube.list('CanaryRelease', namespace);
  const keys: string[] = [];
  for (const release of releases) {
    if (!owns(release)) continue;
    const key = refKey(refOf(release));
    if (cares(release, kind, object, interestOf(key))) keys.push(key);
  }
  return keys;
}
