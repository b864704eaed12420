/** Labels and annotations canaria puts on what it creates in managed mode. */

/** On the primary's pods and selector: the stable subset selects it, so it never matches the canary. */
export const PRIMARY_LABEL = 'canaria.dev/primary';
/** On the primary: the revision it runs. */
export const REVISION_ANNOTATION = 'canaria.dev/revision';
/** On the primary: the user's pod template as promoted, so a rollback can put it back exactly. */
export const PROMOTED_TEMPLATE_ANNOTATION = 'canaria.dev/promoted-template';
/** On everything canaria creates: which release owns it. */
export const RELEASE_LABEL = 'canaria.dev/release';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'canaria' } as const;
/** Holds a managed release until the user's Deployment has its traffic back. */
export const FINALIZER = 'canaria.dev/restore-traffic';

/** RFC 6901: a key with '/' or '~' inside a JSON pointer. */
export const pointerKey = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

export const ownedBy = (labels: Record<string, string> | undefined, release: string): boolean =>
  labels?.[RELEASE_LABEL] === release && labels['app.kubernetes.io/managed-by'] === 'canaria';
