import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { destinationRule, route, to, virtualService } from '../../../test/fixtures/seeds/builders.js';
import { evaluateRoute, pickDestination, type RouteRequest, type RoutedDestination } from './evaluate.js';
import type { HttpMatchRequest, HttpRoute, VirtualService } from './types.js';

const rules = [destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' }, v3: { version: 'v3' } })];

/** Which route (by name) takes the request, or 'none'. */
function taken(vs: VirtualService, request: Partial<RouteRequest> = {}): string {
  const result = evaluateRoute(vs, rules, { host: 'reviews', ...request });
  return result.kind === 'matched' ? (result.name ?? `#${result.index}`) : 'none';
}

const matching = (name: string, ...match: HttpMatchRequest[]): HttpRoute =>
  route([to('v2')], { name, match });
const fallback = route([to('v1')], { name: 'default' });

describe('evaluateRoute: first-match semantics', () => {
  it('takes the first route that matches, in order', () => {
    const vs = virtualService([
      matching('api', { uri: { prefix: '/api' } }),
      matching('api-v2', { uri: { prefix: '/api/v2' } }),
      fallback,
    ]);
    expect(taken(vs, { uri: '/api/v2/x' })).toBe('api');
    expect(taken(vs, { uri: '/web' })).toBe('default');
  });

  it('ORs match blocks and ANDs the conditions within one block', () => {
    const vs = virtualService([
      matching(
        'either',
        { headers: { a: { exact: '1' } }, uri: { exact: '/x' } },
        { queryParams: { q: { exact: '1' } } },
      ),
      fallback,
    ]);
    expect(taken(vs, { uri: '/x', headers: { a: '1' } })).toBe('either');
    expect(taken(vs, { uri: '/y', headers: { a: '1' } })).toBe('default');
    expect(taken(vs, { uri: '/y?q=1' })).toBe('either');
  });

  it('answers no-match (Istio returns 404) when no route applies', () => {
    const vs = virtualService([matching('api', { uri: { prefix: '/api' } })]);
    expect(evaluateRoute(vs, rules, { host: 'reviews', uri: '/web' })).toEqual({
      kind: 'no-match',
      virtualService: 'default/reviews',
      notes: [],
    });
  });

  it('matches uri, scheme, method and authority with exact, prefix and full-string regex', () => {
    const vs = virtualService([
      matching('regex', { uri: { regex: '/items/[0-9]+' } }),
      matching('method', { method: { exact: 'POST' } }),
      matching('authority', { authority: { prefix: 'reviews.' } }),
      matching('scheme', { scheme: { exact: 'https' } }),
      fallback,
    ]);
    expect(taken(vs, { uri: '/items/42' })).toBe('regex');
    // a regex must match the whole path, not a part of it
    expect(taken(vs, { uri: '/items/42/edit' })).toBe('default');
    expect(taken(vs, { method: 'POST' })).toBe('method');
    expect(taken(vs, { host: 'reviews.prod' })).toBe('authority');
    expect(taken(vs, { scheme: 'https' })).toBe('scheme');
  });

  it('ignores the case of exact and prefix uri matches only when ignoreUriCase is set', () => {
    const vs = virtualService([matching('api', { uri: { prefix: '/API' }, ignoreUriCase: true }), fallback]);
    expect(taken(vs, { uri: '/api/x' })).toBe('api');
    const strict = virtualService([matching('api', { uri: { prefix: '/API' } }), fallback]);
    expect(taken(strict, { uri: '/api/x' })).toBe('default');
  });

  it('matches headers case-insensitively by name, and a header match without value on presence', () => {
    const vs = virtualService([
      matching('present', { headers: { 'x-debug': {} } }),
      matching('star', { headers: { 'x-trace': { regex: '*' } } }),
      fallback,
    ]);
    expect(taken(vs, { headers: { 'X-Debug': '' } })).toBe('present');
    expect(taken(vs, { headers: { 'x-trace': 'anything' } })).toBe('star');
    expect(taken(vs)).toBe('default');
  });

  it('withoutHeaders inverts the match, a missing header counting as empty', () => {
    const vs = virtualService([
      matching('not-beta', { withoutHeaders: { group: { exact: 'beta' } } }),
      fallback,
    ]);
    expect(taken(vs, { headers: { group: 'beta' } })).toBe('default');
    expect(taken(vs, { headers: { group: 'alpha' } })).toBe('not-beta');
    expect(taken(vs)).toBe('not-beta');
    const absent = virtualService([matching('no-debug', { withoutHeaders: { 'x-debug': {} } }), fallback]);
    expect(taken(absent, { headers: { 'x-debug': '1' } })).toBe('default');
    expect(taken(absent)).toBe('no-debug');
  });

  it('reads query parameters from the uri and from the request, the first value winning', () => {
    const vs = virtualService([matching('xx', { queryParams: { name: { exact: 'xx' } } }), fallback]);
    expect(taken(vs, { uri: '/greet?name=xx&name=yy' })).toBe('xx');
    expect(taken(vs, { uri: '/greet?name=yy&name=xx' })).toBe('default');
    expect(taken(vs, { queryParams: { name: 'xx' } })).toBe('xx');
    const flag = virtualService([matching('flag', { queryParams: { preview: { exact: '' } } }), fallback]);
    expect(taken(flag, { uri: '/?preview' })).toBe('flag');
  });

  it('joins cookies into one cookie header after any given one', () => {
    const vs = virtualService([matching('grp', { headers: { cookie: { regex: '^a=1; b=2$' } } }), fallback]);
    expect(taken(vs, { headers: { cookie: 'a=1' }, cookies: { b: '2' } })).toBe('grp');
  });
});

describe('evaluateRoute: gateways', () => {
  const bound = (gateways: string[] | undefined, ...http: HttpRoute[]) =>
    virtualService(http, { namespace: 'test1', ...(gateways ? { gateways } : {}) });

  it('applies a VirtualService without gateways to the mesh only', () => {
    const vs = bound(undefined, fallback);
    expect(taken(vs)).toBe('default');
    expect(taken(vs, { gateway: 'demo4-gateway' })).toBe('none');
  });

  it('applies a gateway-bound VirtualService at that gateway, named with or without its namespace', () => {
    const vs = bound(['demo4-gateway'], fallback);
    expect(taken(vs, { gateway: 'demo4-gateway' })).toBe('default');
    expect(taken(vs, { gateway: 'test1/demo4-gateway' })).toBe('default');
    expect(taken(vs, { gateway: 'other/demo4-gateway' })).toBe('none');
    expect(taken(vs)).toBe('none');
  });

  it("lets a match block's gateways replace the VirtualService's", () => {
    const vs = bound(
      ['edge', 'mesh'],
      matching('edge-only', { gateways: ['edge'], headers: { x: { exact: '1' } } }),
      fallback,
    );
    expect(taken(vs, { gateway: 'edge', headers: { x: '1' } })).toBe('edge-only');
    expect(taken(vs, { headers: { x: '1' } })).toBe('default');
  });
});

describe('evaluateRoute: destinations', () => {
  it('gives each destination its share and the labels of its subset', () => {
    const vs = virtualService([route([to('v1', 3), to('v2', 1)])]);
    const result = evaluateRoute(vs, rules, { host: 'reviews' });
    expect(result).toMatchObject({
      kind: 'matched',
      path: 'spec.http[0]',
      matched: 'no conditions',
      destinations: [
        { host: 'reviews', subset: 'v1', weight: 3, percent: 75, labels: { version: 'v1' } },
        { host: 'reviews', subset: 'v2', weight: 1, percent: 25, labels: { version: 'v2' } },
      ],
    });
  });

  it('gives a lone destination everything, whatever its weight', () => {
    const result = evaluateRoute(virtualService([route([to('v1', 7)])]), rules, { host: 'reviews' });
    expect(result.kind === 'matched' && result.destinations.map((d) => d.percent)).toEqual([100]);
  });

  it('notes what Istio would reject or could not be checked', () => {
    const vs = virtualService([route([to('v1'), to('v9')], { match: [{ sourceLabels: { app: 'x' } }] })]);
    const result = evaluateRoute(vs, rules, { host: 'reviews' });
    expect(result.notes).toEqual([
      'sourceLabels and sourceNamespace depend on the calling workload and were not checked',
      'spec.http[0]: every weight is 0 (or missing), which Istio rejects ("total destination weight = 0")',
      'subset v9 is not defined in DestinationRule reviews: Istio answers 503 for its share',
    ]);
  });

  it('matches DestinationRules by host, a short name standing for the FQDN in its namespace', () => {
    const fqdnRule = destinationRule(
      { v1: { track: 'stable' } },
      { host: 'reviews.shop.svc.cluster.local', namespace: 'shop' },
    );
    const vs = virtualService([route([to('v1')])], { namespace: 'shop' });
    const result = evaluateRoute(vs, [fqdnRule], { host: 'reviews' });
    expect(result.kind === 'matched' && result.destinations[0]?.labels).toEqual({ track: 'stable' });
  });

  it('reports redirects and mirrors', () => {
    const vs = virtualService([
      { name: 'old', match: [{ uri: { prefix: '/old' } }], redirect: { uri: '/new' } },
      route([to('v1')], { mirror: { host: 'reviews', subset: 'v2' }, mirrorPercentage: { value: 10 } }),
    ]);
    expect(evaluateRoute(vs, rules, { host: 'reviews', uri: '/old/x' })).toMatchObject({
      action: 'redirect',
      destinations: [],
    });
    expect(evaluateRoute(vs, rules, { host: 'reviews' })).toMatchObject({
      mirror: { host: 'reviews', subset: 'v2', percent: 10 },
    });
  });

  it('follows a delegate: the root match first, then the first delegate route that matches', () => {
    const root = virtualService([
      {
        name: 'to-team',
        match: [{ uri: { prefix: '/reviews' } }],
        delegate: { name: 'reviews-routes', namespace: 'team' },
      },
      route([to('v3')], { name: 'rest' }),
    ]);
    const delegate = virtualService(
      [
        route([to('v2')], { name: 'beta', match: [{ headers: { beta: { exact: '1' } } }] }),
        route([to('v1')], { name: 'main' }),
      ],
      { name: 'reviews-routes', namespace: 'team', hosts: [] },
    );
    const beta = evaluateRoute(root, rules, { host: 'reviews', uri: '/reviews/1', headers: { beta: '1' } }, [
      delegate,
    ]);
    expect(beta).toMatchObject({
      kind: 'matched',
      name: 'beta',
      path: 'spec.http[0] > team/reviews-routes spec.http[0]',
      matched: 'uri prefix /reviews, headers beta exact 1',
    });
    expect(evaluateRoute(root, rules, { host: 'reviews', uri: '/reviews/1' }, [delegate])).toMatchObject({
      name: 'main',
    });
    expect(evaluateRoute(root, rules, { host: 'reviews', uri: '/other' }, [delegate])).toMatchObject({
      name: 'rest',
    });
    expect(evaluateRoute(root, rules, { host: 'reviews', uri: '/reviews/1' }).notes[0]).toContain(
      'delegates to team/reviews-routes, which was not given',
    );
  });
});

describe('pickDestination', () => {
  const split: RoutedDestination[] = [
    { host: 'reviews', subset: 'v1', weight: 999, percent: 99.9 },
    { host: 'reviews', subset: 'v2', weight: 0, percent: 0 },
    { host: 'reviews', subset: 'v3', weight: 1, percent: 0.1 },
  ];

  it('picks by cumulative weight and never a destination of weight 0', () => {
    expect(pickDestination(split, 0)?.subset).toBe('v1');
    expect(pickDestination(split, 0.9989)?.subset).toBe('v1');
    expect(pickDestination(split, 0.999)?.subset).toBe('v3');
    expect(pickDestination(split, 0.99999999)?.subset).toBe('v3');
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (r) => {
        expect(pickDestination(split, r)?.subset).not.toBe('v2');
      }),
    );
  });

  it('picks nothing when no destination has a weight', () => {
    expect(pickDestination([{ host: 'a', weight: 0, percent: 0 }], 0.5)).toBeUndefined();
  });
});
