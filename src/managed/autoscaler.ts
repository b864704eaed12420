import { jsonEqual, type JsonPatchOperation } from '../kube/json-patch.js';
import { refOf, type KubeObject, type Ref } from '../kube/resources.js';
import { MANAGED_BY, ownedBy, RELEASE_LABEL } from './labels.js';
import { primaryName } from '../api/names.js';

interface Autoscaler extends KubeObject {
  spec?: { scaleTargetRef?: { kind?: string; name?: string }; [key: string]: unknown };
}

export type AutoscalerPlan =
  | { op: 'create'; object: KubeObject }
  | { op: 'patch'; ref: Ref; ops: JsonPatchOperation[] }
  | { op: 'delete'; ref: Ref };

const targets = (hpa: Autoscaler, deployment: string): boolean =>
  hpa.spec?.scaleTargetRef?.kind === 'Deployment' && hpa.spec.scaleTargetRef.name === deployment;

/**
 * The primary scales like the user's Deployment: when an autoscaler targets the user's Deployment,
 * an equal one targets the primary; when it goes, canaria's copy goes too. Undefined: nothing to do.
 */
export function planPrimaryAutoscaler(
  autoscalers: readonly KubeObject[],
  release: string,
  target: string,
): AutoscalerPlan | undefined {
  const primary = primaryName(target);
  const all = autoscalers as Autoscaler[];
  const users = all.find((hpa) => targets(hpa, target));
  const ours = all.find((hpa) => targets(hpa, primary) && ownedBy(hpa.metadata.labels, release));
  if (!users) {
    return ours ? { op: 'delete', ref: refOf(ours) } : undefined;
  }
  const spec = { ...users.spec, scaleTargetRef: { ...users.spec?.scaleTargetRef, name: primary } };
  if (!ours) {
    return {
      op: 'create',
      object: {
        metadata: {
          name: primaryName(users.metadata.name),
          namespace: users.metadata.namespace,
          labels: { ...MANAGED_BY, [RELEASE_LABEL]: release },
        },
        spec,
      },
    };
  }
  if (jsonEqual(ours.spec, spec)) return undefined;
  return {
    op: 'patch',
    ref: refOf(ours),
    ops: [{ op: 'replace', path: '/spec', value: spec }],
  };
}

/** canaria's autoscaler of the primary, to delete with it. */
export function primaryAutoscalers(
  autoscalers: readonly KubeObject[],
  release: string,
  target: string,
): Ref[] {
  return (autoscalers as Autoscaler[])
    .filter((hpa) => targets(hpa, primaryName(target)) && ownedBy(hpa.metadata.labels, release))
    .map(refOf);
}
