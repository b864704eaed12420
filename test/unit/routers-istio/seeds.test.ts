import { describe, it, expect } from 'vitest';
import type { IstioRouting, RoutingState } from '../../../src/api/canary-release.js';
import { applyJsonPatch } from '../../../src/kube/json-patch.js';
import { evaluateRoute, pickDestination, type RouteRequest } from '../../../src/routers/istio/evaluate.js';
import { lintDocuments } from '../../../src/routers/istio/lint.js';
import { planRoutingPatch } from '../../../src/routers/istio/patch.js';
import { readRouting } from '../../../src/routers/istio/routes.js';
import type { DestinationRule, HttpRoute, VirtualService } from '../../../src/routers/istio/types.js';
import { validateRoutingTargets } from '../../../src/routers/istio/validate.js';
import { routing } from '../../fixtures/seeds/builders.js';
import { seed, seedManifests } from '../../fixtures/seeds/load.js';

/** Plans and applies, and checks that planning again finds nothing left to do. */
function setRouting(
  vs: VirtualService,
  istio: IstioRouting,
  desired: Omit<RoutingState, 'total'>,
): VirtualService {
  const plan = planRoutingPatch(vs, istio, { ...desired, total: istio.weightTotal });
  if (!plan.ok) throw plan.error;
  const next = applyJsonPatch(vs, plan.value);
  const again = planRoutingPatch(next, istio, { ...desired, total: istio.weightTotal });
  expect(again.ok && again.value).toEqual([]);
  return next;
}

function actual(vs: VirtualService, istio: IstioRouting) {
  const reading = readRouting(vs, istio);
  if (!reading.ok) throw reading.error;
  return reading.value;
}

/** The split of a request as `{subset: percent}`, leaving out destinations without traffic. */
function split(vs: VirtualService, rules: DestinationRule[], request: RouteRequest): Record<string, number> {
  const result = evaluateRoute(vs, rules, request);
  if (result.kind !== 'matched') throw new Error(`no route for ${JSON.stringify(request)}`);
  return Object.fromEntries(
    result.destinations.filter((d) => d.percent > 0).map((d) => [d.subset ?? d.host, d.percent]),
  );
}

/** The seed's VirtualService as it was before its weights were set: the route sends everything to `subset`. */
function allTo(vs: VirtualService, subset: string): VirtualService {
  const copy = structuredClone(vs);
  const first = copy.spec.http?.[0];
  const target = first?.route?.find((d) => d.destination.subset === subset);
  if (!first || !target) throw new Error(`no destination ${subset}`);
  first.route = [{ destination: target.destination }];
  return copy;
}

/** The seed's VirtualService without its match routes: what a user has before an A/B stage. */
function withoutMatchRoutes(vs: VirtualService): VirtualService {
  const copy = structuredClone(vs);
  copy.spec.http = (copy.spec.http ?? []).filter((r) => !r.match);
  return copy;
}

describe('S1: a 90/10 split independent of replicas', () => {
  it('seed 001: setting stable 90 / canary 10 on the all-v1 VirtualService yields the seed 90/10 field for field', () => {
    const before = seed('s2-reivews-all-v1.yaml');
    const after = seed('s2-reivews-90-10.yaml');
    const istio = routing({ virtualService: { name: 'reivews' } });
    const result = setRouting(before.vs('reivews'), istio, { stableWeight: 90, canaryWeight: 10 });
    expect(result).toStrictEqual(after.vs('reivews'));
    expect(actual(result, istio)).toMatchObject({
      stableWeight: 90,
      canaryWeight: 10,
      total: 100,
      canaryPercent: 10,
    });
  });

  it('seed 000: the corrected myweb VirtualService is what canaria writes for 90/10', () => {
    const fixed = seed('s1-myweb-fixed.yaml');
    const target = fixed.vs('myweb');
    const istio = routing({ virtualService: { name: 'myweb' }, destinationRule: { name: 'myweb' } });
    expect(setRouting(allTo(target, 'v1'), istio, { stableWeight: 90, canaryWeight: 10 })).toStrictEqual(
      target,
    );
    expect(validateRoutingTargets(target, fixed.dr('myweb'), istio)).toEqual([]);
    expect(split(target, fixed.destinationRules, { host: 'myweb' })).toEqual({ v1: 90, v2: 10 });
  });

  it('seed 000 as written: the weights inside destination are invalid configuration', () => {
    const original = seed('s1-myweb.yaml');
    const istio = routing({ virtualService: { name: 'myweb' }, destinationRule: { name: 'myweb' } });
    const issues = validateRoutingTargets(original.vs('myweb'), original.dr('myweb'), istio);
    expect(issues.map((i) => i.path)).toEqual([
      'VirtualService/myweb:spec.http[0].route[0].destination.weight',
      'VirtualService/myweb:spec.http[0].route[1].destination.weight',
    ]);
    expect(issues[0]?.message).toContain('move "weight: 90" out of destination');
  });

  it('seed 002: the gateway-bound demo4-vs with FQDN destinations gets the seed 90/10 field for field', () => {
    const s1 = seed('s1-demo4-90-10.yaml');
    const target = s1.vs('demo4-vs');
    const istio = routing({ virtualService: { name: 'demo4-vs' }, destinationRule: { name: 'demo4' } });
    expect(setRouting(allTo(target, 'v1'), istio, { stableWeight: 90, canaryWeight: 10 })).toStrictEqual(
      target,
    );
    expect(validateRoutingTargets(target, s1.dr('demo4'), istio)).toEqual([]);
    const request = { host: 'demo4.a.com', gateway: 'demo4-gateway' };
    expect(split(target, s1.destinationRules, request)).toEqual({ v1: 90, v2: 10 });
    // the same VirtualService is not bound to the mesh: sidecars do not use it
    expect(evaluateRoute(target, s1.destinationRules, { host: 'demo4.a.com' }).kind).toBe('no-match');
  });

  it('the split holds for any sequence of requests: 10 % of uniformly spread requests reach v2', () => {
    const target = seed('s2-reivews-90-10.yaml');
    const result = evaluateRoute(target.vs('reivews'), target.destinationRules, { host: 'reviews' });
    if (result.kind !== 'matched') throw new Error('no route');
    const picks = Array.from(
      { length: 1000 },
      (_, i) => pickDestination(result.destinations, i / 1000)?.subset,
    );
    expect(picks.filter((s) => s === 'v2')).toHaveLength(100);
    expect(result.destinations[1]?.labels).toEqual({ version: 'v2' });
  });
});

describe('S2: step by step to 100 %', () => {
  it('seed 003: v1 -> 80/20 -> 50/50 (the seed, field for field) -> all v3', () => {
    const start = seed('s2-reviews-v1.yaml');
    const fifty = seed('s2-reviews-v1-v3-50-50.yaml').vs('reviews');
    const istio = routing({ canarySubset: 'v3' });
    const rules = start.destinationRules;
    let vs = start.vs('reviews');
    expect(split(vs, rules, { host: 'reviews' })).toEqual({ v1: 100 });
    vs = setRouting(vs, istio, { stableWeight: 80, canaryWeight: 20 });
    expect(split(vs, rules, { host: 'reviews' })).toEqual({ v1: 80, v3: 20 });
    vs = setRouting(vs, istio, { stableWeight: 50, canaryWeight: 50 });
    expect(vs).toStrictEqual(fifty);
    vs = setRouting(vs, istio, { stableWeight: 0, canaryWeight: 100 });
    expect(split(vs, rules, { host: 'reviews' })).toEqual({ v3: 100 });
    expect(actual(vs, istio)).toMatchObject({ stableWeight: 0, canaryWeight: 100, canaryPercent: 100 });
  });

  it('seed 001: 1 % steps, and 0.1 % steps as weights 999/1 on Istio 1.15 and later', () => {
    const vs = seed('s2-reivews-all-v1.yaml').vs('reivews');
    const rules = seed('s2-reivews-all-v1.yaml').destinationRules;
    const percent = routing({ virtualService: { name: 'reivews' } });
    expect(
      split(setRouting(vs, percent, { stableWeight: 99, canaryWeight: 1 }), rules, { host: 'reviews' }),
    ).toEqual({
      v1: 99,
      v2: 1,
    });
    const permille = routing({
      virtualService: { name: 'reivews' },
      weightTotal: 1000,
      istioVersion: '1.22',
    });
    const fine = setRouting(vs, permille, { stableWeight: 999, canaryWeight: 1 });
    expect(fine.spec.http?.[0]?.route?.map((d) => d.weight)).toEqual([999, 1]);
    expect(split(fine, rules, { host: 'reviews' })).toEqual({ v1: 99.9, v2: 0.1 });
    expect(actual(fine, permille)).toMatchObject({ total: 1000, canaryPercent: 0.1 });
  });

  it('refuses weights that do not add up to 100 when an Istio before 1.15 is declared', () => {
    const vs = seed('s2-reivews-all-v1.yaml').vs('reivews');
    const old = routing({ virtualService: { name: 'reivews' }, weightTotal: 1000, istioVersion: '1.14' });
    const plan = planRoutingPatch(vs, old, { stableWeight: 999, canaryWeight: 1, total: 1000 });
    expect(plan.ok).toBe(false);
    if (!plan.ok) {
      expect(plan.error.message).toContain('Istio 1.14 rejects weights that add up to 1000');
      expect(plan.error.fix).toContain('weightTotal: 100');
    }
  });
});

describe('S3: a header-matched test group', () => {
  const s3 = seed('s3-reviews-header.yaml');
  const vs = s3.vs('reviews');

  it('end-user testuser goes to v2 10 % / v3 90 %, everyone else to v1', () => {
    expect(split(vs, s3.destinationRules, { host: 'reviews', headers: { 'end-user': 'testuser' } })).toEqual({
      v2: 10,
      v3: 90,
    });
    expect(split(vs, s3.destinationRules, { host: 'reviews' })).toEqual({ v1: 100 });
    expect(split(vs, s3.destinationRules, { host: 'reviews', headers: { 'end-user': 'jason' } })).toEqual({
      v1: 100,
    });
    // header names are case-insensitive on the wire
    expect(split(vs, s3.destinationRules, { host: 'reviews', headers: { 'End-User': 'testuser' } })).toEqual({
      v2: 10,
      v3: 90,
    });
  });

  it('canaria builds the same shape: its match route first, the default route last, and removes it cleanly', () => {
    const start = seed('s2-reviews-v1.yaml').vs('reviews');
    const istio = routing();
    const stage = { headers: [{ name: 'end-user', exact: 'testuser' }], canaryWeight: 100 };
    const ab = setRouting(start, istio, { stableWeight: 100, canaryWeight: 0, match: stage });
    expect(ab.spec.http?.map((r) => r.name)).toEqual(['canaria-ab', undefined]);
    expect(ab.spec.http?.[0]?.match).toEqual([{ headers: { 'end-user': { exact: 'testuser' } } }]);
    expect(split(ab, s3.destinationRules, { host: 'reviews', headers: { 'end-user': 'testuser' } })).toEqual({
      v2: 100,
    });
    expect(split(ab, s3.destinationRules, { host: 'reviews' })).toEqual({ v1: 100 });
    expect(actual(ab, istio)).toMatchObject({ matchRoute: { name: 'canaria-ab', canaryWeight: 100 } });
    expect(setRouting(ab, istio, { stableWeight: 100, canaryWeight: 0 })).toStrictEqual(start);
  });
});

describe('S4: a cookie-matched group behind a gateway', () => {
  const request = { host: 'demo4.a.com', gateway: 'demo4-gateway' };

  it('a company email cookie splits 50/50 between v1 and v2; everyone else gets v1', () => {
    const s4 = seed('s4-demo4-cookie-fixed.yaml');
    const vs = s4.vs('demo4-vs');
    const company = { ...request, cookies: { email: 'bob@some-company-name.com' } };
    expect(split(vs, s4.destinationRules, company)).toEqual({ v1: 50, v2: 50 });
    expect(split(vs, s4.destinationRules, request)).toEqual({ v1: 100 });
    expect(split(vs, s4.destinationRules, { ...request, cookies: { email: 'eve@elsewhere.org' } })).toEqual({
      v1: 100,
    });
    // the seed's regex wants the cookie right after ";" and misses it after "; ", as browsers send it
    expect(
      split(vs, s4.destinationRules, {
        ...request,
        headers: { cookie: 'lang=en; email=bob@some-company-name.com' },
      }),
    ).toEqual({
      v1: 100,
    });
  });

  it('the seed as written puts weight inside destination: lint, validation and route-test all say so', () => {
    const original = seed('s4-demo4-cookie.yaml');
    const vs = original.vs('demo4-vs');
    const istio = routing({ virtualService: { name: 'demo4-vs' }, destinationRule: { name: 'demo4' } });
    const issues = validateRoutingTargets(vs, original.dr('demo4'), istio);
    expect(issues.map((i) => i.path)).toEqual([
      'VirtualService/demo4-vs:spec.http[0].route[0].destination.weight',
      'VirtualService/demo4-vs:spec.http[0].route[1].destination.weight',
      // the seed's own match route also sends to v1, so canaria must be told which route it manages
      'VirtualService/demo4-vs:spec.http',
    ]);
    expect(issues[2]?.message).toContain('trafficRouting.istio.virtualService.routes');
    const errors = lintDocuments(seedManifests('s4-demo4-cookie.yaml')).filter((f) => f.severity === 'error');
    expect(errors.map((f) => [f.path, f.line])).toEqual([
      ['spec.http[0].route[0].destination.weight', 24],
      ['spec.http[0].route[1].destination.weight', 28],
    ]);
    const result = evaluateRoute(vs, original.destinationRules, {
      ...request,
      cookies: { email: 'a@some-company-name.com' },
    });
    expect(result.notes.join('\n')).toContain('destination.weight is not an Istio field');
  });

  it('canaria compiles a cookie stage into a cookie-header regex that also finds the cookie after other cookies', () => {
    const s4 = seed('s4-demo4-cookie-fixed.yaml');
    const start = withoutMatchRoutes(s4.vs('demo4-vs'));
    const istio = routing({ virtualService: { name: 'demo4-vs' }, destinationRule: { name: 'demo4' } });
    const stage = { cookie: { name: 'email', regex: '[^;]*@some-company-name.com' }, canaryWeight: 50 };
    const ab = setRouting(start, istio, { stableWeight: 100, canaryWeight: 0, match: stage });
    for (const cookie of [
      'email=bob@some-company-name.com',
      'lang=en; email=bob@some-company-name.com',
      'lang=en;email=bob@some-company-name.com; theme=dark',
    ]) {
      expect(split(ab, s4.destinationRules, { ...request, headers: { cookie } })).toEqual({ v1: 50, v2: 50 });
    }
    expect(
      split(ab, s4.destinationRules, { ...request, headers: { cookie: 'xemail=bob@some-company-name.com' } }),
    ).toEqual({
      v1: 100,
    });
    expect(split(ab, s4.destinationRules, request)).toEqual({ v1: 100 });
  });
});

describe('S5: a query-parameter group, two services deep', () => {
  const s5 = seed('s5-svc-b-query.yaml');
  const vs = s5.vs('svc-b');
  const istio = routing({
    virtualService: { name: 'svc-b' },
    destinationRule: { name: 'svc-b-destination-rule' },
  });

  it('name=xx goes 100 % to v2, everything else to v1; the gateway sends /greet to svc-a', () => {
    expect(split(vs, s5.destinationRules, { host: 'svc-b', uri: '/greet?name=xx' })).toEqual({ v2: 100 });
    expect(split(vs, s5.destinationRules, { host: 'svc-b', queryParams: { name: 'xx' } })).toEqual({
      v2: 100,
    });
    expect(split(vs, s5.destinationRules, { host: 'svc-b', uri: '/greet?name=yy' })).toEqual({ v1: 100 });
    expect(split(vs, s5.destinationRules, { host: 'svc-b' })).toEqual({ v1: 100 });
    const edge = evaluateRoute(s5.vs('demo'), s5.destinationRules, {
      host: 'localhost',
      gateway: 'demo-gateway',
      uri: '/greet?name=xx',
    });
    expect(edge).toMatchObject({
      kind: 'matched',
      destinations: [{ host: 'svc-a', port: 8080, percent: 100 }],
    });
    expect(
      evaluateRoute(s5.vs('demo'), s5.destinationRules, {
        host: 'localhost',
        gateway: 'demo-gateway',
        uri: '/other',
      }).kind,
    ).toBe('no-match');
  });

  it('canaria writes the seed match route itself (v1 0, v2 100), and leaves the DestinationRule with its RANDOM policy alone', () => {
    const start = withoutMatchRoutes(vs);
    const stage = { queryParams: [{ name: 'name', exact: 'xx' }], canaryWeight: 100 };
    const ab = setRouting(start, istio, { stableWeight: 100, canaryWeight: 0, match: stage });
    const expected = structuredClone(vs);
    (expected.spec.http?.[0] as HttpRoute).name = 'canaria-ab';
    expect(ab).toEqual(expected);
    const dr = s5.dr('svc-b-destination-rule');
    expect(validateRoutingTargets(ab, dr, istio)).toEqual([]);
    expect(dr.spec.trafficPolicy).toEqual({ loadBalancer: { simple: 'RANDOM' } });
  });

  it('lint warns that svc-a must pass the parameter on to svc-b', () => {
    const warnings = lintDocuments(seedManifests('s5-svc-b-query.yaml')).filter(
      (f) => f.severity === 'warning',
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      resource: 'VirtualService default/svc-b',
      path: 'spec.http[0].match[0].queryParams.name',
    });
    expect(warnings[0]?.message).toContain('reached only through svc-a');
  });
});
