import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/resources.js';
import { planConfigCopies, primaryConfigCopies, readCopies } from './configs.js';
import type { ConfigLookup } from './revision.js';

const NS = 'shop';
const object = (name: string, extra: Record<string, unknown> = {}): KubeObject => ({
  metadata: { name, namespace: NS },
  ...extra,
});
const ours = { 'app.kubernetes.io/managed-by': 'canaria', 'canaria.dev/release': 'web' };

/** A pod template that reads each kind of reference once. */
const template = {
  metadata: { labels: { app: 'web' } },
  spec: {
    initContainers: [{ name: 'init', envFrom: [{ secretRef: { name: 'init-secret' } }] }],
    containers: [
      {
        name: 'web',
        envFrom: [{ configMapRef: { name: 'env' } }],
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'keys', key: 'a' } } },
          { name: 'B', valueFrom: { secretKeyRef: { name: 'creds', key: 'b' } } },
          { name: 'C', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ],
      },
    ],
    volumes: [
      { name: 'v1', configMap: { name: 'files' } },
      { name: 'v2', secret: { secretName: 'tls' } },
      {
        name: 'all',
        projected: { sources: [{ configMap: { name: 'projected' } }, { secret: { name: 'projected-s' } }] },
      },
      { name: 'scratch', emptyDir: {} },
    ],
  },
};

function lookupOf(objects: Record<string, KubeObject>, untracked = false): ConfigLookup {
  return (ref) => (ref.kind === 'Secret' && untracked ? 'untracked' : objects[`${ref.kind}/${ref.name}`]);
}

describe('planConfigCopies', () => {
  it('creates a labelled copy of each ConfigMap and Secret the template reads, with its content', () => {
    const plan = planConfigCopies(
      'web',
      NS,
      template,
      lookupOf({
        'ConfigMap/env': object('env', { data: { a: '1' } }),
        'ConfigMap/files': object('files', { binaryData: { f: 'AA==' } }),
        'Secret/tls': object('tls', { type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==' } }),
      }),
    );
    expect(plan.issues).toEqual([]);
    expect(plan.copied).toEqual([
      { kind: 'ConfigMap', name: 'env' },
      { kind: 'ConfigMap', name: 'files' },
      { kind: 'Secret', name: 'tls' },
    ]);
    expect(plan.writes).toEqual([
      {
        op: 'create',
        kind: 'ConfigMap',
        object: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: 'env-primary',
            namespace: NS,
            labels: ours,
            annotations: { 'canaria.dev/copy-of': 'env' },
          },
          data: { a: '1' },
          binaryData: {},
        },
      },
      expect.objectContaining({ op: 'create', kind: 'ConfigMap' }),
      {
        op: 'create',
        kind: 'Secret',
        object: expect.objectContaining({
          type: 'kubernetes.io/tls',
          data: { 'tls.crt': 'eA==' },
        }) as unknown,
      },
    ]);
  });

  it('writes nothing when the copies hold the content, and a guarded patch when they do not', () => {
    const copy = (data: Record<string, string>) =>
      object('env-primary', {
        metadata: { name: 'env-primary', namespace: NS, labels: ours, resourceVersion: '7' },
        data,
      });
    const source = { 'ConfigMap/env': object('env', { data: { a: '2' } }) };
    expect(
      planConfigCopies(
        'web',
        NS,
        template,
        lookupOf({ ...source, 'ConfigMap/env-primary': copy({ a: '2' }) }),
      ).writes,
    ).toEqual([]);
    expect(
      planConfigCopies(
        'web',
        NS,
        template,
        lookupOf({ ...source, 'ConfigMap/env-primary': copy({ a: '1' }) }),
      ).writes,
    ).toEqual([
      {
        op: 'patch',
        kind: 'ConfigMap',
        ref: { namespace: NS, name: 'env-primary' },
        ops: [
          { op: 'test', path: '/metadata/resourceVersion', value: '7' },
          { op: 'add', path: '/data', value: { a: '2' } },
          { op: 'add', path: '/binaryData', value: {} },
        ],
      },
    ]);
  });

  it('leaves what it may not or need not copy to be read where it is', () => {
    const plan = planConfigCopies(
      'web',
      NS,
      template,
      lookupOf(
        {
          'Secret/creds': object('creds', { data: { b: 'eQ==' } }),
          'Secret/init-secret': object('init-secret', { type: 'kubernetes.io/service-account-token' }),
        },
        true,
      ),
    );
    expect(plan).toEqual({ copied: [], writes: [], issues: [] });
    // tracked, a service-account token is still Kubernetes' to fill in, and a missing object has no content
    const tracked = planConfigCopies(
      'web',
      NS,
      template,
      lookupOf({
        'Secret/init-secret': object('init-secret', { type: 'kubernetes.io/service-account-token' }),
      }),
    );
    expect(tracked.copied).toEqual([]);
  });

  it('refuses a copy name taken by an object canaria did not create, naming it and the fix', () => {
    const plan = planConfigCopies(
      'web',
      NS,
      template,
      lookupOf({
        'ConfigMap/env': object('env', { data: {} }),
        'ConfigMap/env-primary': object('env-primary'),
      }),
    );
    expect(plan.copied).toEqual([]);
    expect(plan.writes).toEqual([]);
    expect(plan.issues).toEqual([
      {
        path: 'spec.targetRef.name',
        message:
          'ConfigMap "env-primary" exists and was not created by canaria for this release; rename or delete it: canaria keeps the primary\'s copy of ConfigMap "env" under that name',
      },
    ]);
  });
});

describe('readCopies', () => {
  it('renames every reference to a copied object and nothing else', () => {
    const all = [
      { kind: 'ConfigMap', name: 'env' },
      { kind: 'ConfigMap', name: 'keys' },
      { kind: 'ConfigMap', name: 'files' },
      { kind: 'ConfigMap', name: 'projected' },
      { kind: 'Secret', name: 'creds' },
      { kind: 'Secret', name: 'tls' },
      { kind: 'Secret', name: 'projected-s' },
      { kind: 'Secret', name: 'init-secret' },
    ] as const;
    const read = readCopies(template, all);
    expect(JSON.stringify(read)).not.toMatch(
      /:"(env|keys|files|projected|creds|tls|projected-s|init-secret)"/,
    );
    expect(read.spec.containers[0]?.env[2]).toEqual(template.spec.containers[0]?.env[2]);
    expect(read.spec.volumes[3]).toEqual({ name: 'scratch', emptyDir: {} });
    expect(read.spec.volumes[1]).toEqual({ name: 'v2', secret: { secretName: 'tls-primary' } });
    // a ConfigMap and a Secret may share a name: only the copied kind is renamed
    const one = readCopies(template, [{ kind: 'Secret', name: 'tls' }]);
    expect(one.spec.volumes[0]).toEqual({ name: 'v1', configMap: { name: 'files' } });
    expect(template.spec.volumes[1]).toEqual({ name: 'v2', secret: { secretName: 'tls' } });
  });
});

describe('primaryConfigCopies', () => {
  it("finds this release's copies only", () => {
    const copies = primaryConfigCopies(
      [
        object('env-primary', {
          metadata: {
            name: 'env-primary',
            namespace: NS,
            labels: ours,
            annotations: { 'canaria.dev/copy-of': 'env' },
          },
        }),
        object('env'),
        object('other-primary', {
          metadata: {
            name: 'other-primary',
            namespace: NS,
            labels: { ...ours, 'canaria.dev/release': 'api' },
            annotations: { 'canaria.dev/copy-of': 'other' },
          },
        }),
      ],
      'web',
    );
    expect(copies).toEqual([{ namespace: NS, name: 'env-primary' }]);
  });
});
