/**
 * The generated CRDs on a real kube-apiserver refuse what canaria refuses, before the controller sees
 * it: a template that names a metrics backend's address (a CEL rule of the CRD) and input beyond the
 * size limits (maxLength, maxItems), each with the field named; a template that names a provider is
 * accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiException,
  CustomObjectsApi,
  KubernetesObjectApi,
  type KubeConfig,
} from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, API_VERSION_NAME } from '../../src/api/meta.js';
import { baseSpecInput } from '../builders/release.js';
import { startKubeEnv, type KubeEnv } from '../harness/kube-env.js';

const MB = 1024 * 1024;
let env: KubeEnv;
let admin: KubeConfig;
const NS = 'crd-validation';

beforeAll(async () => {
  env = await startKubeEnv();
  admin = env.adminKubeConfig();
  await KubernetesObjectApi.makeApiClient(admin).create({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NS },
  });
});
afterAll(async () => {
  // beforeAll may have failed before env was set; that failure is what the run reports.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  await env?.stop();
});

function create(plural: string, body: object): Promise<unknown> {
  return admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: API_GROUP,
    version: API_VERSION_NAME,
    namespace: NS,
    plural,
    body,
  });
}

async function refusal(call: Promise<unknown>): Promise<{ code: number; body: string }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiException) return { code: error.code, body: String(error.body) };
    throw error;
  }
  throw new Error('expected the API server to refuse the object, but it accepted it');
}

const template = (name: string, provider: object) => ({
  apiVersion: API_VERSION,
  kind: 'AnalysisTemplate',
  metadata: { name, namespace: NS },
  spec: {
    metrics: [{ name: 'errors', type: 'errorRatio', judge: { type: 'threshold', max: 0.01 }, provider }],
  },
});

describe('the CRDs on a real API server', () => {
  it('refuse a template naming a metrics address, with the fix, and accept one naming a provider', async () => {
    const refused = await refusal(
      create('analysistemplates', template('stolen', { name: 'default', address: 'http://attacker:9090' })),
    );
    expect(refused.code).toBe(422);
    expect(refused.body).toContain('spec.metrics[0].provider');
    expect(refused.body).toContain(
      'provider.address is not accepted: metrics backends are configured by the operator',
    );
    await create('analysistemplates', template('named', { name: 'thanos' }));
  });

  it('refuse a release with a 1 MB header value or regex, naming the field and the limit', async () => {
    const release = (match: object) => ({
      apiVersion: API_VERSION,
      kind: 'CanaryRelease',
      metadata: { name: 'huge', namespace: NS },
      spec: { ...baseSpecInput(), strategy: { steps: [{ setWeight: 10 }, { match }] } },
    });
    const value = await refusal(
      create('canaryreleases', release({ headers: [{ name: 'end-user', exact: 'x'.repeat(MB) }] })),
    );
    expect(value.code).toBe(422);
    expect(value.body).toMatch(
      /spec\.strategy\.steps\[1\]\.match\.headers\[0\]\.exact: Too long: may not be (longer than|more than) 1024/,
    );
    const regex = await refusal(
      create('canaryreleases', release({ cookie: { name: 'g', regex: `(${'a'.repeat(MB)}` } })),
    );
    expect(regex.body).toMatch(/spec\.strategy\.steps\[1\]\.match\.cookie\.regex: Too long/);
    const steps = await refusal(
      create('canaryreleases', {
        ...release({}),
        spec: {
          ...baseSpecInput(),
          strategy: { steps: Array.from({ length: 101 }, () => ({ setWeight: 1 })) },
        },
      }),
    );
    expect(steps.body).toMatch(/spec\.strategy\.steps: Too many: 101: must have at most 100 items/);
  });
});
