import { describe, it, expect } from 'vitest';
import { route, routing, to, virtualService } from '../../../test/fixtures/seeds/builders.js';
import { findManagedRoutes, readRouting, requiresWeightSum100, type RoutingResult } from './routes.js';

function ok<T>(result: RoutingResult<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}

function error<T>(result: RoutingResult<T>) {
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.value)}`);
  return result.error;
}

describe('findManagedRoutes', () => {
  it('finds the single route to the stable subset, and the canary in it when present', () => {
    const vs = virtualService([
      route([to('v3')], { match: [{ uri: { prefix: '/admin' } }] }),
      route([to('v2', 10), to('v1', 90)]),
    ]);
    expect(ok(findManagedRoutes(vs, routing()))).toEqual([{ index: 1, stable: 1, canary: 0 }]);
  });

  it('accepts a route without the canary yet', () => {
    expect(ok(findManagedRoutes(virtualService([route([to('v1')])]), routing()))).toEqual([
      { index: 0, stable: 0 },
    ]);
  });

  it('finds named routes, several of them, and ignores other routes to the same subsets', () => {
    const vs = virtualService([
      route([to('v1')], { name: 'api', match: [{ uri: { prefix: '/api' } }] }),
      route([to('v1')], { name: 'legacy' }),
      route([to('v1', 80), to('v2', 20)], { name: 'web' }),
    ]);
    const istio = routing({ virtualService: { name: 'reviews', routes: ['web', 'api'] } });
    expect(ok(findManagedRoutes(vs, istio))).toEqual([
      { index: 2, name: 'web', stable: 0, canary: 1 },
      { index: 0, name: 'api', stable: 0 },
    ]);
  });

  it('says which routes are ambiguous and how to choose', () => {
    const vs = virtualService([
      route([to('v1')], { match: [{ uri: { prefix: '/a' } }] }),
      route([to('v1')], { name: 'rest' }),
    ]);
    const err = error(findManagedRoutes(vs, routing()));
    expect(err.code).toBe('route-ambiguous');
    expect(err.message).toBe(
      '2 http routes of VirtualService reviews send traffic to subset v1: spec.http[0], spec.http[1] (rest)',
    );
    expect(err.fix).toContain('trafficRouting.istio.virtualService.routes');
    expect(err.retryable).toBe(false);
  });

  it('names what it searched for when nothing matches', () => {
    const err = error(findManagedRoutes(virtualService([route([to('v3')])]), routing()));
    expect(err).toMatchObject({ code: 'route-not-found', path: 'spec.http' });
    expect(err.message).toContain('no http route of VirtualService reviews sends traffic to subset v1');
  });

  it('points at the delegate when the root VirtualService only delegates', () => {
    const vs = virtualService([
      { match: [{ uri: { prefix: '/' } }], delegate: { name: 'reviews-routes', namespace: 'team' } },
    ]);
    const err = error(findManagedRoutes(vs, routing()));
    expect(err.message).toContain('spec.http[0] delegates to team/reviews-routes');
    expect(err.fix).toContain('delegate VirtualService');
  });

  it('manages routes of a delegate VirtualService, which has no hosts', () => {
    const delegate = virtualService([route([to('v1', 90), to('v2', 10)])], { hosts: [] });
    expect(ok(findManagedRoutes(delegate, routing()))).toEqual([{ index: 0, stable: 0, canary: 1 }]);
  });

  it('reports a missing named route with the names that exist', () => {
    const vs = virtualService([route([to('v1')], { name: 'web' })]);
    const err = error(
      findManagedRoutes(vs, routing({ virtualService: { name: 'reviews', routes: ['api'] } })),
    );
    expect(err.code).toBe('named-route-missing');
    expect(err.message).toContain('has no http route named "api" (named routes: web)');
  });

  it('refuses a route that sends to the stable subset twice', () => {
    const err = error(findManagedRoutes(virtualService([route([to('v1', 50), to('v1', 50)])]), routing()));
    expect(err.code).toBe('subset-ambiguous');
    expect(err.path).toBe('spec.http[0].route');
  });

  it("never takes canaria's own A/B route for the user's route", () => {
    const vs = virtualService([
      route([to('v1', 0), to('v2', 100)], {
        name: 'canaria-ab',
        match: [{ headers: { 'end-user': { exact: 'x' } } }],
      }),
      route([to('v1')]),
    ]);
    expect(ok(findManagedRoutes(vs, routing()))).toEqual([{ index: 1, stable: 0 }]);
  });
});

describe('readRouting', () => {
  it('reads a lone stable destination as all of the weight total', () => {
    const reading = ok(readRouting(virtualService([route([to('v1')])]), routing({ weightTotal: 1000 })));
    expect(reading).toEqual({
      stableWeight: 1000,
      canaryWeight: 0,
      total: 1000,
      canaryPercent: 0,
      consistent: true,
    });
  });

  it('reads omitted weights beside other destinations as 0, and counts a third subset in the total', () => {
    const reading = ok(
      readRouting(virtualService([route([to('v1', 60), to('v2'), to('v3', 40)])]), routing()),
    );
    expect(reading).toMatchObject({ stableWeight: 60, canaryWeight: 0, total: 100, canaryPercent: 0 });
  });

  it('gives the canary share in percent of the route, whatever the total', () => {
    const reading = ok(
      readRouting(virtualService([route([to('v1', 9990), to('v2', 10)])]), routing({ weightTotal: 10000 })),
    );
    expect(reading.canaryPercent).toBeCloseTo(0.1, 10);
  });

  it('tells when managed routes disagree', () => {
    const vs = virtualService([
      route([to('v1', 90), to('v2', 10)], { name: 'a' }),
      route([to('v1', 50), to('v2', 50)], { name: 'b' }),
    ]);
    const reading = ok(readRouting(vs, routing({ virtualService: { name: 'reviews', routes: ['a', 'b'] } })));
    expect(reading).toMatchObject({ stableWeight: 90, canaryWeight: 10, consistent: false });
  });

  it("reports canaria's A/B route and mirror, but not a mirror the user set elsewhere", () => {
    const vs = virtualService([
      route([to('v1', 20), to('v2', 80)], {
        name: 'canaria-ab',
        match: [{ queryParams: { name: { exact: 'xx' } } }],
      }),
      route([to('v1')], { mirror: { host: 'reviews', subset: 'v2' }, mirrorPercentage: { value: 5 } }),
    ]);
    const reading = ok(readRouting(vs, routing()));
    expect(reading.matchRoute).toEqual({ name: 'canaria-ab', stableWeight: 20, canaryWeight: 80 });
    expect(reading.mirrorPercent).toBe(5);
    const userMirror = virtualService([route([to('v1')], { mirror: { host: 'audit' } })]);
    expect(ok(readRouting(userMirror, routing())).mirrorPercent).toBeUndefined();
  });

  it('counts a mirror without percentage as 100 %, as Istio does', () => {
    const vs = virtualService([route([to('v1')], { mirror: { host: 'reviews', subset: 'v2' } })]);
    expect(ok(readRouting(vs, routing())).mirrorPercent).toBe(100);
  });
});

describe('requiresWeightSum100', () => {
  it('is true before Istio 1.15 only', () => {
    expect(['1.14', '1.14.6', '0.8'].map(requiresWeightSum100)).toEqual([true, true, true]);
    expect(['1.15', '1.22.3', '2.0', undefined].map(requiresWeightSum100)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});
