import type { IstioRouting } from '../../api/canary-release.js';
import type { DestinationRule } from './types.js';
import { jsonEqual, type JsonPatchOperation } from '../../kube/json-patch.js';
import { PRIMARY_LABEL } from '../../managed/labels.js';

export type SubsetLabels = Record<string, Record<string, string>>;

/**
 * The stable subset selects the primary's pods by the primary label; the canary subset selects the
 * user's pods by the revision label they carry, which the primary's pods carry with another value.
 */
export function desiredSubsets(istio: IstioRouting, revisionKey: string, canaryValue: string): SubsetLabels {
  return {
    [istio.stableSubset]: { [PRIMARY_LABEL]: 'true' },
    [istio.canarySubset]: { [revisionKey]: canaryValue },
  };
}

export function subsetsPointed(dr: DestinationRule, desired: SubsetLabels): boolean {
  return Object.entries(desired).every(([name, labels]) =>
    jsonEqual(dr.spec.subsets?.find((s) => s.name === name)?.labels ?? {}, labels),
  );
}

/** Rewrites only the labels of the two subsets; every other field of the DestinationRule stays. */
export function pointSubsetsPatch(dr: DestinationRule, desired: SubsetLabels): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  (dr.spec.subsets ?? []).forEach((subset, i) => {
    const labels = desired[subset.name];
    if (!labels || jsonEqual(subset.labels ?? {}, labels)) return;
    ops.push(
      { op: 'test', path: `/spec/subsets/${i}/name`, value: subset.name },
      { op: 'add', path: `/spec/subsets/${i}/labels`, value: labels },
    );
  });
  return ops;
}
