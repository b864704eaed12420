import { describe, it, expect } from 'vitest';
import { stringify } from 'yaml';
import { route, split } from '../../routers/gateway-api/fixtures.test-support.js';
import type { HttpRoute, HttpRouteRule } from '../../routers/gateway-api/types.js';
import type { CommandIo } from '../io.js';
import { runRouteTest, type RouteTestOptions } from './route-test.js';

/** Runs route-test on one file made of `docs`, as YAML. */
async function routeTest(docs: unknown[], options: Omit<RouteTestOptions, 'file'>) {
  const out: string[] = [];
  const io: CommandIo = {
    readFile: () => Promise.resolve(docs.map((d) => stringify(d)).join('---\n')),
    stdout: (line) => out.push(line),
    stderr: (line) => out.push(line),
  };
  const code = await runRouteTest({ file: ['routes.yaml'], ...options }, io);
  return { code, out };
}

const abRule: HttpRouteRule = {
  name: 'canaria-ab',
  matches: [{ headers: [{ name: 'end-user', value: 'testuser' }] }],
  backendRefs: [{ name: 'reviews-canary', port: 9080 }],
};

const atGateway = (rules: HttpRouteRule[]): HttpRoute => {
  const r = route(rules);
  r.metadata.name = 'edge';
  r.spec.parentRefs = [{ name: 'public', namespace: 'ingress' }];
  r.spec.hostnames = ['shop.example.com'];
  return r;
};

describe('canaria route-test through an HTTPRoute', () => {
  it('gives the split of the rule that takes a request for the parentRef Service', async () => {
    expect(await routeTest([route([split(90, 10)])], { host: 'reviews', namespace: 'prod' })).toEqual({
      code: 0,
      out: [
        'HTTPRoute prod/reviews: rule[0] (match path PathPrefix /) -> reviews-stable:9080 90%, reviews-canary:9080 10%',
      ],
    });
    // the full name of the Service, from any namespace
    expect(
      (await routeTest([route([split(90, 10)])], { host: 'reviews.prod.svc.cluster.local' })).out,
    ).toEqual([
      'HTTPRoute prod/reviews: rule[0] (match path PathPrefix /) -> reviews-stable:9080 90%, reviews-canary:9080 10%',
    ]);
  });

  it("sends a test user to canaria's A/B rule and the others to the weighted rule", async () => {
    const docs = [route([abRule, split(100, 0)])];
    expect((await routeTest(docs, { host: 'reviews', header: ['end-user: testuser'] })).out).toEqual([
      'HTTPRoute prod/reviews: rule[0] "canaria-ab" (match path PathPrefix /, header end-user Exact testuser) -> reviews-canary:9080 100%',
    ]);
    expect((await routeTest(docs, { host: 'reviews' })).out).toEqual([
      'HTTPRoute prod/reviews: rule[1] (match path PathPrefix /) -> reviews-stable:9080 100%',
    ]);
  });

  it('shows a mirror', async () => {
    const mirrored: HttpRouteRule = {
      ...split(100, 0),
      filters: [
        {
          type: 'RequestMirror',
          requestMirror: { backendRef: { name: 'reviews-canary', port: 9080 }, percent: 5 },
        },
      ],
    };
    expect((await routeTest([route([mirrored])], { host: 'reviews' })).out).toEqual([
      'HTTPRoute prod/reviews: rule[0] (match path PathPrefix /) -> reviews-stable:9080 100%; mirrors 5% to reviews-canary',
    ]);
  });

  it('takes a request at a Gateway for one of the hostnames, and not for another host', async () => {
    const docs = [atGateway([split(50, 50)])];
    expect((await routeTest(docs, { host: 'shop.example.com', gateway: 'ingress/public' })).out).toEqual([
      'HTTPRoute prod/edge: rule[0] (match path PathPrefix /) -> reviews-stable:9080 50%, reviews-canary:9080 50%',
    ]);
    expect((await routeTest(docs, { host: 'other.example.com', gateway: 'ingress/public' })).out).toEqual([
      'no VirtualService binds host other.example.com at gateway ingress/public; the gateway answers 404; no HTTPRoute attaches to Gateway ingress/public for host other.example.com either',
    ]);
    // a Gateway route does not serve the mesh
    expect((await routeTest(docs, { host: 'reviews' })).out[0]).toContain(
      'no HTTPRoute attaches to Service reviews',
    );
  });

  it('merges the rules of two routes on one parent, the more specific match winning', async () => {
    const api = route([{ ...split(0, 100), matches: [{ path: { type: 'PathPrefix', value: '/api' } }] }]);
    api.metadata.name = 'reviews-api';
    const docs = [route([split(100)]), api];
    expect((await routeTest(docs, { host: 'reviews', uri: '/api/v1' })).out).toEqual([
      'HTTPRoute prod/reviews-api: rule[0] (match path PathPrefix /api) -> reviews-canary:9080 100%',
    ]);
    expect((await routeTest(docs, { host: 'reviews', uri: '/' })).out).toEqual([
      'HTTPRoute prod/reviews: rule[0] (match path PathPrefix /) -> reviews-stable:9080 100%',
    ]);
  });

  it('says when no rule matches, prints JSON, and rejects an invalid HTTPRoute', async () => {
    const exact = route([{ ...split(100), matches: [{ path: { type: 'Exact', value: '/health' } }] }]);
    expect((await routeTest([exact], { host: 'reviews', uri: '/' })).out).toEqual([
      'HTTPRoute prod/reviews: no rule matches; the request is answered with 404',
    ]);
    const json = await routeTest([route([split(90, 10)])], { host: 'reviews', json: true });
    expect(JSON.parse(json.out.join('\n'))).toMatchObject({
      router: 'gatewayAPI',
      namespace: 'prod',
      route: 'reviews',
      kind: 'matched',
      rule: 0,
      backends: [
        { name: 'reviews-stable', percent: 90 },
        { name: 'reviews-canary', percent: 10 },
      ],
    });
    const broken = route([{ backendRefs: [{ name: 'reviews-stable', weight: -1 }] }]);
    const result = await routeTest([broken], { host: 'reviews' });
    expect(result.code).toBe(1);
    expect(result.out[0]).toMatch(
      /^routes\.yaml: HTTPRoute: spec\.rules\[0\]\.backendRefs\[0\]\.weight: weight must be >= 0/,
    );
  });
});
