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
import { kubeRequest } from '../harness/kube-http.js';
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
  it('refuse a release with both routers or with none, naming the field; accept one with exactly one', async () => {
    const release = (name: string, trafficRouting: object) => ({
      apiVersion: API_VERSION,
      kind: 'CanaryRelease',
      metadata: { name, namespace: NS },
      spec: { ...baseSpecInput(), trafficRouting },
    });
    const { istio } = baseSpecInput().trafficRouting;
    const gatewayAPI = { httpRoute: { name: 'reviews' }, stableService: 'v1', canaryService: 'v2' };
    for (const [name, routing] of [
      ['both', { istio, gatewayAPI }],
      ['none', {}],
    ] as const) {
      const refused = await refusal(create('canaryreleases', release(name, routing)));
      expect(refused.code).toBe(422);
      expect(refused.body).toContain('spec.trafficRouting');
      expect(refused.body).toContain(
        'set exactly one router: trafficRouting.istio or trafficRouting.gatewayAPI',
      );
    }
    await create('canaryreleases', release('gateway', { gatewayAPI }));
    await create('canaryreleases', release('istio', { istio }));
  });

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

describe('what kubectl reads from the CRDs on a real API server', () => {
  it('serves a description for every field kubectl explain is asked about, from the published OpenAPI v3', async () => {
    const response = await kubeRequest(env.admin, {
      method: 'GET',
      path: `/openapi/v3/apis/${API_GROUP}/${API_VERSION_NAME}`,
    });
    expect(response.status).toBe(200);
    const schemas = (response.body as { components: { schemas: Record<string, OpenApiNode> } }).components
      .schemas;
    const release = Object.entries(schemas).find(([name]) => name.endsWith('.CanaryRelease'))?.[1];
    expect(release, 'CanaryRelease in the served OpenAPI').toBeDefined();
    const at = (path: string) =>
      path.split('.').reduce<OpenApiNode | undefined>((node, key) => node?.properties?.[key], release);
    expect(at('spec.analysis.alpha')?.description).toMatch(/rolling back a canary no worse than stable/);
    expect(at('spec.strategy.steps')?.description).toMatch(/setWeight, pause, analysis, match or mirror/);
    expect(at('status.currentStep')?.description).toMatch(/counted from 1/);
    const template = Object.entries(schemas).find(([name]) => name.endsWith('.ClusterAnalysisTemplate'))?.[1];
    expect(template?.properties?.spec?.properties?.metrics?.description).toMatch(/metrics/);
  });

  it('prints the Step (1-based), Weight, Actual and Message columns in a kubectl get table', async () => {
    const name = 'columns';
    await create('canaryreleases', {
      apiVersion: API_VERSION,
      kind: 'CanaryRelease',
      metadata: { name, namespace: NS },
      spec: baseSpecInput(),
    });
    const statusPath = `/apis/${API_GROUP}/${API_VERSION_NAME}/namespaces/${NS}/canaryreleases/${name}/status`;
    const patched = await kubeRequest(env.admin, {
      method: 'PATCH',
      path: statusPath,
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          phase: 'Progressing',
          currentStepIndex: 2,
          currentStep: '3/4',
          canaryWeight: 50,
          actualCanaryWeight: 10,
          message: 'waiting for the VirtualService to show 50%',
        },
      },
    });
    expect(patched.status).toBe(200);
    const table = await kubeRequest(env.admin, {
      method: 'GET',
      path: `/apis/${API_GROUP}/${API_VERSION_NAME}/namespaces/${NS}/canaryreleases`,
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    expect(table.status).toBe(200);
    const body = table.body as {
      kind: string;
      columnDefinitions: { name: string }[];
      rows: { cells: unknown[] }[];
    };
    expect(body.kind).toBe('Table');
    const columns = body.columnDefinitions.map((c) => c.name);
    expect(columns).toEqual(['Name', 'Phase', 'Step', 'Weight', 'Actual', 'Age', 'Message']);
    const row = body.rows.find((r) => r.cells[0] === name);
    const cell = (column: string) => row?.cells[columns.indexOf(column)];
    expect(cell('Phase')).toBe('Progressing');
    expect(cell('Step')).toBe('3/4');
    expect(cell('Weight')).toBe(50);
    expect(cell('Actual')).toBe(10);
    expect(cell('Message')).toBe('waiting for the VirtualService to show 50%');
  });
});

interface OpenApiNode {
  description?: string;
  properties?: Record<string, OpenApiNode>;
}
