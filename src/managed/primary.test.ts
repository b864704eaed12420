import { describe, expect, it } from 'vitest';
import type { Deployment } from '../kube/resources.js';
import { PRIMARY_LABEL } from './labels.js';
import { newPrimary, promotePatch, targetSelectorIssue } from './primary.js';

const release = { metadata: { name: 'web', namespace: 'shop' } };
const target = (matchLabels: Record<string, string>): Deployment => ({
  metadata: { name: 'web', namespace: 'shop', resourceVersion: '3' },
  spec: {
    replicas: 2,
    selector: { matchLabels },
    template: {
      metadata: { labels: { app: 'web', version: 'canary' } },
      spec: { containers: [{ name: 'web', envFrom: [{ configMapRef: { name: 'env' } }] }] },
    },
  },
});
const selects = (selector: Deployment, pods: Deployment): boolean =>
  Object.entries(selector.spec?.selector?.matchLabels ?? {}).every(
    ([k, v]) => pods.spec?.template?.metadata?.labels?.[k] === v,
  );

describe('the primary and the user Deployment', () => {
  it('select disjoint pods when the user selector requires the revision label', () => {
    const user = target({ app: 'web', version: 'canary' });
    const primary = newPrimary(release, user, 'version', 'abc123', 2);
    expect(primary.spec?.selector?.matchLabels).toEqual({ app: 'web', [PRIMARY_LABEL]: 'true' });
    expect(selects(primary, primary)).toBe(true);
    expect(selects(user, primary)).toBe(false);
    expect(selects(primary, user)).toBe(false);
    expect(targetSelectorIssue(user, 'version')).toBeUndefined();
  });

  it('refuses a user selector without the revision label: it would select the primary too', () => {
    const user = target({ app: 'web' });
    expect(selects(user, newPrimary(release, user, 'version', 'abc123', 2))).toBe(true);
    expect(targetSelectorIssue(user, 'version')).toEqual({
      path: 'spec.targetRef.name',
      message: expect.stringContaining(
        'add version: canary to spec.selector.matchLabels (a selector cannot be changed: delete the Deployment and create it again)',
      ) as unknown,
    });
  });

  it("reads the primary's copies, at creation and at promotion", () => {
    const user = target({ app: 'web', version: 'canary' });
    const copied = [{ kind: 'ConfigMap', name: 'env' }] as const;
    const primary = newPrimary(release, user, 'version', 'abc123', 2, copied);
    const reads = (d: unknown) => JSON.stringify(d).includes('"configMapRef":{"name":"env-primary"}');
    expect(reads(primary.spec?.template)).toBe(true);
    const replaced = promotePatch(
      { ...primary, metadata: { ...primary.metadata, resourceVersion: '9' } },
      user,
      'version',
      'def456',
      copied,
    );
    expect(reads(replaced.find((op) => op.path === '/spec/template'))).toBe(true);
    // the template kept for revertTarget is the user's own
    expect(replaced.find((op) => op.path.endsWith('promoted-template'))).toMatchObject({
      value: JSON.stringify(user.spec?.template),
    });
    expect(reads(user.spec?.template)).toBe(false);
  });
});
