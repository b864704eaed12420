import { describe, it, expect } from 'vitest';
import type { IstioRouting, RoutingState } from '../../api/canary-release.js';
import {
  applyJsonPatch,
  JsonPatchError,
  PatchTestFailed,
  type JsonPatchOperation,
} from '../../kube/json-patch.js';
import { route, routing, to, virtualService } from '../../../test/fixtures/seeds/builders.js';
import { planRoutingPatch } from './patch.js';
import type { HttpRoute, VirtualService } from './types.js';

function plan(
  vs: VirtualService,
  desired: Partial<RoutingState>,
  istio: IstioRouting = routing(),
): JsonPatchOperation[] {
  const planned = planRoutingPatch(vs, istio, {
    stableWeight: 100,
    canaryWeight: 0,
    total: istio.weightTotal,
    ...desired,
  });
  if (!planned.ok) throw planned.error;
  return planned.value;
}

function refusal(vs: VirtualService, desired: Partial<RoutingState>, istio: IstioRouting = routing()) {
  const planned = planRoutingPatch(vs, istio, {
    stableWeight: 100,
    canaryWeight: 0,
    total: istio.weightTotal,
    ...desired,
  });
  if (planned.ok) throw new Error(`expected a refusal, got ${JSON.stringify(planned.value)}`);
  return planned.error;
}

const headerStage = { headers: [{ name: 'end-user', exact: 'testuser' }], canaryWeight: 100 };

describe('planRoutingPatch: weights', () => {
  it('adds the stable weight and appends the canary destination to a lone-destination route', () => {
    const vs = virtualService([route([to('v1')])]);
    expect(plan(vs, { stableWeight: 90, canaryWeight: 10 })).toEqual([
      // an unnamed route is the only one to the stable subset: the list it was picked from identifies it
      {
        op: 'test',
        path: '/spec/http',
        value: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }],
      },
      { op: 'add', path: '/spec/http/0/route/0/weight', value: 90 },
      {
        op: 'add',
        path: '/spec/http/0/route/-',
        value: { destination: { host: 'reviews', subset: 'v2' }, weight: 10 },
      },
    ]);
  });

  it('replaces existing weights, guarded by the name of the route and the destinations it read', () => {
    const vs = virtualService([route([to('v1', 90), to('v2', 10)], { name: 'web' })]);
    expect(plan(vs, { stableWeight: 50, canaryWeight: 50 })).toEqual([
      { op: 'test', path: '/spec/http/0/name', value: 'web' },
      { op: 'test', path: '/spec/http/0/route', value: [to('v1', 90), to('v2', 10)] },
      { op: 'replace', path: '/spec/http/0/route/0/weight', value: 50 },
      { op: 'replace', path: '/spec/http/0/route/1/weight', value: 50 },
    ]);
  });

  it('is empty when the weights are already as desired, including a lone stable destination at 100 %', () => {
    expect(plan(virtualService([route([to('v1')])]), {})).toEqual([]);
    expect(plan(virtualService([route([to('v1', 100)])]), {}, routing({ weightTotal: 1000 }))).toEqual([]);
    expect(
      plan(virtualService([route([to('v1', 90), to('v2', 10)])]), { stableWeight: 90, canaryWeight: 10 }),
    ).toEqual([]);
  });

  it('leaves a third subset, the destination headers and the port alone, and copies the port to a new canary', () => {
    const stable = {
      destination: { host: 'reviews', subset: 'v1', port: { number: 9080 } },
      headers: { response: { set: { a: 'b' } } },
    };
    const vs = virtualService([route([stable, to('v3', 20)], { timeout: '3s' })]);
    const after = applyJsonPatch(vs, plan(vs, { stableWeight: 70, canaryWeight: 10 }));
    expect(after.spec.http?.[0]).toEqual({
      timeout: '3s',
      route: [
        { ...stable, weight: 70 },
        to('v3', 20),
        { destination: { host: 'reviews', subset: 'v2', port: { number: 9080 } }, weight: 10 },
      ],
    });
  });

  it('keeps a canary destination at weight 0 rather than removing it', () => {
    const vs = virtualService([route([to('v1', 50), to('v2', 50)])]);
    const after = applyJsonPatch(vs, plan(vs, { stableWeight: 100, canaryWeight: 0 }));
    expect(after.spec.http?.[0]?.route).toEqual([to('v1', 100), to('v2', 0)]);
  });

  it('writes weights on a gateway-bound VirtualService with FQDN hosts exactly as on a mesh one', () => {
    const fqdn = 'demo4.test1.svc.cluster.local';
    const vs = virtualService([route([to('v1', 90, fqdn), to('v2', 10, fqdn)])], {
      hosts: ['demo4.a.com'],
      gateways: ['demo4-gateway'],
    });
    const after = applyJsonPatch(
      vs,
      plan(vs, { stableWeight: 999, canaryWeight: 1 }, routing({ weightTotal: 1000 })),
    );
    expect(after.spec.http?.[0]?.route).toEqual([to('v1', 999, fqdn), to('v2', 1, fqdn)]);
    expect(after.spec.gateways).toEqual(['demo4-gateway']);
  });

  it('refuses weights in other units than the release, weights that leave no traffic, and old-Istio totals', () => {
    const vs = virtualService([route([to('v1', 90), to('v2', 10)])]);
    expect(refusal(vs, { total: 1000 }).message).toContain('units of 1000');
    expect(refusal(vs, { stableWeight: 0, canaryWeight: 0 }).message).toContain(
      'no destination would get traffic',
    );
    const third = virtualService([route([to('v1', 80), to('v2', 10), to('v3', 10)])]);
    expect(
      refusal(third, { stableWeight: 90, canaryWeight: 10 }, routing({ istioVersion: '1.14' })),
    ).toMatchObject({
      code: 'weights-invalid',
      path: 'spec.http[0].route',
    });
  });
});

describe('planRoutingPatch: mirror', () => {
  it('adds a mirror to the canary subset, guarded by the whole route because the fields were absent', () => {
    const vs = virtualService([route([to('v1')], { name: 'web', retries: { attempts: 3 } })]);
    const ops = plan(vs, { mirrorPercent: 20 });
    expect(ops).toEqual([
      { op: 'test', path: '/spec/http/0/name', value: 'web' },
      { op: 'test', path: '/spec/http/0', value: vs.spec.http?.[0] },
      { op: 'add', path: '/spec/http/0/mirror', value: { host: 'reviews', subset: 'v2' } },
      { op: 'add', path: '/spec/http/0/mirrorPercentage', value: { value: 20 } },
    ]);
    const mirrored = applyJsonPatch(vs, ops);
    expect(plan(mirrored, { mirrorPercent: 20 })).toEqual([]);
    expect(plan(mirrored, { mirrorPercent: 50 }).slice(2)).toEqual([
      { op: 'add', path: '/spec/http/0/mirrorPercentage', value: { value: 50 } },
    ]);
    expect(applyJsonPatch(mirrored, plan(mirrored, {}))).toEqual(vs);
  });

  it('refuses to replace a mirror the user set, and leaves it alone otherwise', () => {
    const vs = virtualService([route([to('v1')], { mirror: { host: 'audit' } })]);
    expect(refusal(vs, { mirrorPercent: 10 })).toMatchObject({
      code: 'mirror-conflict',
      path: 'spec.http[0].mirror',
    });
    expect(plan(vs, {})).toEqual([]);
  });
});

describe('planRoutingPatch: A/B stage route', () => {
  it('inserts a named match route right in front of the managed route, copying its behaviour', () => {
    const vs = virtualService([
      route([to('v3')], { name: 'admin', match: [{ uri: { prefix: '/admin' } }] }),
      route([to('v1')], { timeout: '5s', retries: { attempts: 2 } }),
    ]);
    const after = applyJsonPatch(vs, plan(vs, { match: { ...headerStage, canaryWeight: 25 } }));
    expect(after.spec.http?.map((r) => r.name)).toEqual(['admin', 'canaria-ab', undefined]);
    expect(after.spec.http?.[1]).toEqual({
      name: 'canaria-ab',
      match: [{ headers: { 'end-user': { exact: 'testuser' } } }],
      timeout: '5s',
      retries: { attempts: 2 },
      route: [to('v1', 75), to('v2', 25)],
    });
    expect(after.spec.http?.[2]).toEqual(vs.spec.http?.[1]);
  });

  it("ANDs the stage with each of the managed route's own match blocks", () => {
    const vs = virtualService([
      route([to('v1')], { match: [{ uri: { prefix: '/api' } }, { uri: { prefix: '/v2' } }] }),
    ]);
    const stage = {
      queryParams: [{ name: 'name', exact: 'xx' }],
      cookie: { name: 'grp', regex: 'beta' },
      canaryWeight: 100,
    };
    const after = applyJsonPatch(vs, plan(vs, { match: stage }));
    const cookie = { regex: '^(.*?;\\s*)?(grp=(?:beta))(;.*)?$' };
    expect(after.spec.http?.[0]?.match).toEqual([
      { uri: { prefix: '/api' }, headers: { cookie }, queryParams: { name: { exact: 'xx' } } },
      { uri: { prefix: '/v2' }, headers: { cookie }, queryParams: { name: { exact: 'xx' } } },
    ]);
  });

  it('converts the stage percent into units of the weight total', () => {
    const vs = virtualService([route([to('v1')])]);
    const after = applyJsonPatch(
      vs,
      plan(vs, { match: { ...headerStage, canaryWeight: 0.5 } }, routing({ weightTotal: 1000 })),
    );
    expect(after.spec.http?.[0]?.route).toEqual([to('v1', 995), to('v2', 5)]);
  });

  it('replaces its route when the stage changes, guarded by both routes, and removes it at the end', () => {
    const vs = virtualService([route([to('v1', 80), to('v2', 20)], { name: 'web' })]);
    const istio = routing({ virtualService: { name: 'reviews', routes: ['web'] } });
    const staged = applyJsonPatch(
      vs,
      plan(vs, { stableWeight: 80, canaryWeight: 20, match: headerStage }, istio),
    );
    expect(staged.spec.http?.[0]?.name).toBe('canaria-ab-web');
    const changed = plan(
      staged,
      { stableWeight: 80, canaryWeight: 20, match: { ...headerStage, canaryWeight: 50 } },
      istio,
    );
    expect(changed.map((op) => `${op.op} ${op.path}`)).toEqual([
      'test /spec/http/1/name',
      'test /spec/http/1',
      'test /spec/http/0',
      'replace /spec/http/0',
    ]);
    const removal = plan(staged, { stableWeight: 80, canaryWeight: 20 }, istio);
    expect(removal).toEqual([
      { op: 'test', path: '/spec/http/0', value: staged.spec.http?.[0] },
      { op: 'remove', path: '/spec/http/0' },
    ]);
    expect(applyJsonPatch(staged, removal)).toEqual(vs);
  });

  it('moves its route back in front of the managed route when someone moved it behind', () => {
    const vs = virtualService([route([to('v1')])]);
    const staged = applyJsonPatch(vs, plan(vs, { match: headerStage }));
    const [ab, managed] = staged.spec.http ?? [];
    if (!ab || !managed) throw new Error('expected two routes');
    const moved = virtualService([managed, ab]);
    const fixed = applyJsonPatch(moved, plan(moved, { match: headerStage }));
    expect(fixed.spec.http).toEqual(staged.spec.http);
  });

  it("leaves another release's A/B route alone", () => {
    const other = route([to('v3', 50), to('v4', 50)], {
      name: 'canaria-ab-other',
      match: [{ headers: { x: { exact: 'y' } } }],
    });
    const vs = virtualService([other, route([to('v1')])]);
    expect(plan(vs, {})).toEqual([]);
  });

  it('refuses a stage that matches a header the route already matches', () => {
    const vs = virtualService([
      route([to('v1')], { match: [{ headers: { 'end-user': { prefix: 'test' } } }] }),
    ]);
    expect(refusal(vs, { match: headerStage })).toMatchObject({ code: 'match-conflict' });
  });
});

describe('planRoutingPatch: the identity of the patched route', () => {
  // The user puts a route with the same destinations in front of the managed one between canaria's read
  // and its patch: the guard on the destinations alone would pass there, and the weights would land on
  // the user's route, where no rollback would ever take them off.
  const userRoute = (extra: Partial<HttpRoute>) =>
    route([to('v1', 100), to('v2', 0)], { match: [{ uri: { prefix: '/beta' } }], ...extra });

  it.each([
    ['a named route, with the user route named otherwise', { name: 'beta' }],
    ['a named route, with an unnamed user route', {}],
  ])('refuses the patch for %s', (_what, extra) => {
    const istio = routing({ virtualService: { name: 'reviews', routes: ['primary'] } });
    const read = virtualService([
      route([to('v1', 100)], { name: 'admin', match: [{ uri: { prefix: '/admin' } }] }),
      route([to('v1', 100), to('v2', 0)], { name: 'primary' }),
    ]);
    const ops = plan(read, { stableWeight: 90, canaryWeight: 10 }, istio);
    const now = structuredClone(read);
    now.spec.http?.splice(1, 0, userRoute(extra));
    expect(() => applyJsonPatch(now, ops)).toThrow(JsonPatchError);
  });

  it('refuses the patch for an unnamed managed route when any route is inserted in front of it', () => {
    const read = virtualService([route([to('v1', 100), to('v2', 0)])]);
    const ops = plan(read, { stableWeight: 90, canaryWeight: 10 });
    const now = structuredClone(read);
    now.spec.http?.unshift(userRoute({}));
    expect(() => applyJsonPatch(now, ops)).toThrow(PatchTestFailed);
  });

  it('guards the A/B route it inserts by the identity of the managed route too', () => {
    const istio = routing({ virtualService: { name: 'reviews', routes: ['primary'] } });
    const read = virtualService([route([to('v1', 100), to('v2', 0)], { name: 'primary' })]);
    const ops = plan(read, { match: headerStage }, istio);
    expect(ops[0]).toEqual({ op: 'test', path: '/spec/http/0/name', value: 'primary' });
    const now = structuredClone(read);
    now.spec.http?.unshift(userRoute({ name: 'beta' }));
    expect(() => applyJsonPatch(now, ops)).toThrow(PatchTestFailed);
  });
});
