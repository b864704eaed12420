/**
 * The Gateway API router's patches on Gateway API's real CRDs (standard channel, from the
 * sigs.k8s.io/gateway-api module): the API server accepts every plan (its CEL rules included), and the
 * HTTPRoute it stores, with its defaults filled in, reads back as the routing that was asked for, after
 * which planning again changes nothing. A plan made before a concurrent edit is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoutingState } from '../../src/api/canary-release.js';
import { openApi } from '../../src/api/crd.js';
import { gatewayApiRouting, type ResolvedGatewayApiRouting } from '../../src/api/gateway-api.js';
import type { JsonPatchOperation } from '../../src/kube/json-patch.js';
import { planRoutePatch } from '../../src/routers/gateway-api/patch.js';
import { readSplit } from '../../src/routers/gateway-api/routes.js';
import { parseHttpRoute, type HttpRoute } from '../../src/routers/gateway-api/types.js';
import { applyCrds } from '../harness/crds.js';
import { kubeRequest } from '../harness/kube-http.js';
import { startKubeEnv, type KubeEnv } from '../harness/kube-env.js';

const NS = 'gateway-api';
const PATH = `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes`;
let env: KubeEnv;

beforeAll(async () => {
  env = await startKubeEnv();
  const created = await kubeRequest(env.admin, {
    method: 'POST',
    path: '/api/v1/namespaces',
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  });
  expect(created.status).toBe(201);
});
afterAll(async () => {
  // beforeAll may have failed before env was set; that failure is what the run reports.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  await env?.stop();
});

const spec = (rule?: string): ResolvedGatewayApiRouting =>
  gatewayApiRouting.parse({
    httpRoute: { name: 'reviews', ...(rule ? { rule } : {}) },
    stableService: 'reviews-primary',
    canaryService: 'reviews-canary',
    weightTotal: 1000,
  }) as ResolvedGatewayApiRouting;

async function read(name: string): Promise<HttpRoute> {
  const response = await kubeRequest(env.admin, { method: 'GET', path: `${PATH}/${name}` });
  expect(response.status).toBe(200);
  const parsed = parseHttpRoute(response.body);
  if (!parsed.ok)
    throw new Error(`the API server's HTTPRoute does not parse: ${JSON.stringify(parsed.issues)}`);
  return parsed.value;
}

function patch(name: string, ops: JsonPatchOperation[]) {
  return kubeRequest(env.admin, {
    method: 'PATCH',
    path: `${PATH}/${name}`,
    body: ops,
    contentType: 'application/json-patch+json',
  });
}

/** Plans against the stored route, applies with a real JSON patch, reads back; returns the stored route. */
async function step(name: string, routing: RoutingState, s: ResolvedGatewayApiRouting): Promise<HttpRoute> {
  const plan = planRoutePatch(await read(name), s, routing);
  if (!plan.ok) throw plan.error;
  const response = await patch(name, plan.value);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  const stored = await read(name);
  expect(readSplit(stored, s)).toEqual({
    ok: true,
    value: {
      stableWeight: routing.stableWeight,
      canaryWeight: routing.canaryWeight,
      total: routing.stableWeight + routing.canaryWeight,
      match: routing.match !== undefined,
      ...(routing.mirrorPercent ? { mirrorPercent: routing.mirrorPercent } : {}),
    },
  });
  // with the API server's defaults filled in, the route already is as desired
  expect(planRoutePatch(stored, s, routing)).toEqual({ ok: true, value: [] });
  return stored;
}

const userRoute = (name: string, named: boolean) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace: NS },
  spec: {
    // ambient/mesh: the route attaches to the Service it routes for
    parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
    rules: [
      {
        name: 'static',
        matches: [{ path: { type: 'PathPrefix', value: '/static' } }],
        backendRefs: [{ name: 'assets', port: 80 }],
      },
      {
        ...(named ? { name: 'main' } : {}),
        matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x-tenant', value: 'a' }] }],
        filters: [
          {
            type: 'RequestHeaderModifier',
            requestHeaderModifier: { set: [{ name: 'x-env', value: 'prod' }] },
          },
        ],
        timeouts: { request: '10s' },
        backendRefs: [{ name: 'reviews-primary', port: 9080 }],
      },
    ],
  },
});

describe('the Gateway API router on the real HTTPRoute CRD', () => {
  it.each([
    ['named', true],
    ['unnamed', false],
  ] as const)('a %s rule goes through weights, an A/B stage, mirroring and back', async (label, named) => {
    const name = `reviews-${label}`;
    const created = await kubeRequest(env.admin, {
      method: 'POST',
      path: PATH,
      body: userRoute(name, named),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const s = spec(named ? 'main' : undefined);
    const original = await read(name);

    await step(name, { stableWeight: 1000, canaryWeight: 0, total: 1000 }, s);
    await step(name, { stableWeight: 995, canaryWeight: 5, total: 1000 }, s);
    const match = {
      headers: [{ name: 'end-user', exact: 'testuser' }],
      cookie: { name: 'beta', regex: 'yes|true' },
      queryParams: [{ name: 'name', prefix: 'xx' }],
      canaryWeight: 100,
    };
    const during = await step(
      name,
      { stableWeight: 900, canaryWeight: 100, total: 1000, match, mirrorPercent: 0.5 },
      s,
    );
    expect(during.spec.rules?.map((r) => r.name)).toEqual(
      named ? ['static', 'canaria-ab-main', 'main'] : ['static', 'canaria-ab', undefined],
    );
    await step(name, { stableWeight: 900, canaryWeight: 100, total: 1000, mirrorPercent: 20 }, s);
    const after = await step(name, { stableWeight: 1000, canaryWeight: 0, total: 1000 }, s);
    // the user's rules and fields stay as the user wrote them (weights aside)
    expect(after.spec.parentRefs).toEqual(original.spec.parentRefs);
    expect(after.spec.rules?.[0]).toEqual(original.spec.rules?.[0]);
    expect({ ...after.spec.rules?.[1], backendRefs: [] }).toEqual({
      ...original.spec.rules?.[1],
      backendRefs: [],
    });
  });

  it('refuses a plan made before a concurrent edit of the weights', async () => {
    const name = 'reviews-race';
    const created = await kubeRequest(env.admin, { method: 'POST', path: PATH, body: userRoute(name, true) });
    expect(created.status).toBe(201);
    const s = spec('main');
    const stale = await read(name);
    const edit = await patch(name, [{ op: 'add', path: '/spec/rules/1/backendRefs/0/weight', value: 7 }]);
    expect(edit.status).toBe(200);
    const plan = planRoutePatch(stale, s, { stableWeight: 900, canaryWeight: 100, total: 1000 });
    if (!plan.ok) throw plan.error;
    const refused = await patch(name, plan.value);
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect((await read(name)).spec.rules?.[1]?.backendRefs).toEqual([
      expect.objectContaining({ name: 'reviews-primary', weight: 7 }),
    ]);
  });
});

describe('trafficRouting.gatewayAPI as a CRD schema', () => {
  it('is structural, and keeps a rule given by name or by index', async () => {
    // a stand-in kind whose spec is the section, until it joins the CanaryRelease CRD
    const group = 'probe.canaria.dev';
    // a variable, not a literal in the call: the harness's type lists only what it reads of a CRD
    const manifest = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `routingprobes.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: {
          kind: 'RoutingProbe',
          plural: 'routingprobes',
          singular: 'routingprobe',
          listKind: 'RoutingProbeList',
        },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: { type: 'object', properties: { spec: openApi(gatewayApiRouting) } },
            },
          },
        ],
      },
    };
    await applyCrds(env.admin, [manifest]);
    for (const [name, rule] of [
      ['by-name', 'main'],
      ['by-index', 2],
    ] as const) {
      const body = {
        apiVersion: `${group}/v1`,
        kind: 'RoutingProbe',
        metadata: { name, namespace: NS },
        spec: { httpRoute: { name: 'reviews', rule } },
      };
      const created = await kubeRequest(env.admin, {
        method: 'POST',
        path: `/apis/${group}/v1/namespaces/${NS}/routingprobes`,
        body,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect((created.body as { spec: unknown }).spec).toMatchObject({
        httpRoute: { rule },
        weightTotal: 100,
      });
    }
  });
});
