import type { ValidationIssue } from '../api/validation.js';
import type { JsonPatchOperation } from '../kube/json-patch.js';
import type { Deployment, KubeObject } from '../kube/resources.js';
import { readCopies } from './configs.js';
import {
  MANAGED_BY,
  pointerKey,
  PRIMARY_LABEL,
  PROMOTED_TEMPLATE_ANNOTATION,
  RELEASE_LABEL,
  REVISION_ANNOTATION,
} from './labels.js';
import { primaryName } from '../api/names.js';
import type { ConfigRef } from './revision.js';

type Template = NonNullable<NonNullable<Deployment['spec']>['template']>;

/**
 * The primary's pod template: the user's, with the revision label set to the revision (so Istio
 * reports the two sides apart and the user's selector, which requires the canary's value, leaves its
 * pods alone), the primary label (so the stable subset and the primary's selector select only its
 * pods), and the primary's own copies of the ConfigMaps and Secrets in `copied`.
 */
export function primaryTemplate(
  target: Deployment,
  revisionKey: string,
  revision: string,
  copied: readonly ConfigRef[] = [],
): Template {
  const template = readCopies(structuredClone(target.spec?.template ?? {}), copied);
  template.metadata = {
    ...template.metadata,
    labels: { ...template.metadata?.labels, [revisionKey]: revision, [PRIMARY_LABEL]: 'true' },
  };
  return template;
}

/** The primary the first time: the user's Deployment under another name, selector and labels. */
export function newPrimary(
  release: KubeObject,
  target: Deployment,
  revisionKey: string,
  revision: string,
  replicas: number,
  copied: readonly ConfigRef[] = [],
): Deployment {
  const spec = target.spec ?? {};
  // the rest of the user's spec (strategy, minReadySeconds, ...) carries over; these are the primary's own
  const rest = Object.fromEntries(
    Object.entries(spec).filter(([key]) => !['template', 'selector', 'replicas', 'paused'].includes(key)),
  );
  // the revision label's value changes with every promotion and a selector never changes: leave it out
  const matchLabels = Object.fromEntries(
    Object.entries(spec.selector?.matchLabels ?? {}).filter(([key]) => key !== revisionKey),
  );
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: primaryName(target.metadata.name),
      namespace: target.metadata.namespace,
      labels: { ...target.metadata.labels, ...MANAGED_BY, [RELEASE_LABEL]: release.metadata.name },
      annotations: {
        [REVISION_ANNOTATION]: revision,
        [PROMOTED_TEMPLATE_ANNOTATION]: JSON.stringify(spec.template ?? {}),
      },
    },
    spec: {
      ...rest,
      replicas,
      // selectors cannot change later: the primary label keeps the primary's pods its own
      selector: { ...spec.selector, matchLabels: { ...matchLabels, [PRIMARY_LABEL]: 'true' } },
      template: primaryTemplate(target, revisionKey, revision, copied),
    },
  };
}

/** Copies the user's template of `revision` into the primary; guarded so a concurrent edit is not lost. */
export function promotePatch(
  primary: Deployment,
  target: Deployment,
  revisionKey: string,
  revision: string,
  copied: readonly ConfigRef[] = [],
): JsonPatchOperation[] {
  const annotations = (key: string) => `/metadata/annotations/${pointerKey(key)}`;
  return [
    { op: 'test', path: '/metadata/resourceVersion', value: primary.metadata.resourceVersion },
    { op: 'replace', path: '/spec/template', value: primaryTemplate(target, revisionKey, revision, copied) },
    ...(primary.metadata.annotations
      ? []
      : [{ op: 'add' as const, path: '/metadata/annotations', value: {} }]),
    { op: 'add', path: annotations(REVISION_ANNOTATION), value: revision },
    {
      op: 'add',
      path: annotations(PROMOTED_TEMPLATE_ANNOTATION),
      value: JSON.stringify(target.spec?.template ?? {}),
    },
  ];
}

/** The user's template as last promoted, kept on the primary; undefined if the annotation is unreadable. */
export function promotedTemplate(primary: Deployment): unknown {
  const stored = primary.metadata.annotations?.[PROMOTED_TEMPLATE_ANNOTATION];
  if (stored === undefined) return undefined;
  try {
    return JSON.parse(stored) as unknown;
  } catch {
    return undefined;
  }
}

/** Puts the last promoted template back into the user's Deployment, unless it changed since it was read. */
export function revertPatch(target: Deployment, template: unknown): JsonPatchOperation[] {
  return [
    { op: 'test', path: '/metadata/resourceVersion', value: target.metadata.resourceVersion },
    { op: 'replace', path: '/spec/template', value: template },
  ];
}

/** Scaling touches `spec.replicas` only: the one field of the user's Deployment canaria owns. */
export function scalePatch(replicas: number): JsonPatchOperation[] {
  return [{ op: 'add', path: '/spec/replicas', value: replicas }];
}

/**
 * The user's selector must require the revision label: the primary's pods carry every other label of
 * the user's template (the Service selects both sides by them), so without it the user's Deployment,
 * and the autoscaler that scales it, would count the primary's pods as its own. Undefined when it does.
 */
export function targetSelectorIssue(target: Deployment, revisionKey: string): ValidationIssue | undefined {
  const value = target.spec?.template?.metadata?.labels?.[revisionKey];
  if (value === undefined || target.spec?.selector?.matchLabels?.[revisionKey] === value) return undefined;
  const name = target.metadata.name;
  return {
    path: 'spec.targetRef.name',
    message: `Deployment "${name}"'s spec.selector does not require the revision label ${revisionKey}, so it also selects ${primaryName(name)}'s pods and its autoscaler would count them; add ${revisionKey}: ${value} to spec.selector.matchLabels (a selector cannot be changed: delete the Deployment and create it again)`,
  };
}
