import { describe, expect, it } from 'vitest';
import { seed } from '../../test/fixtures/seeds/load.js';
import type { DestinationRule, VirtualService } from '../routers/istio/types.js';
import { createRng } from './rng.js';
import { requestClass, type RequestClass } from './scenario.js';
import { classRequest, TrafficRouter } from './traffic.js';

const classes = (...inputs: object[]): RequestClass[] => inputs.map((c) => requestClass.parse(c));

/** Routes `n` requests of the classes through the seed's VirtualService; revisions are the subset names. */
function route(vs: VirtualService, dr: DestinationRule, requestClasses: RequestClass[], n = 100_000) {
  const router = new TrafficRouter(createRng(3), requestClasses, {
    host: dr.spec.host,
    namespace: dr.metadata.namespace ?? 'default',
    revisions: new Map((dr.spec.subsets ?? []).map((s) => [s.name, s.name])),
  });
  router.update(vs, [dr], []);
  const routed = router.route(n);
  return {
    share: (revision: string) => (routed.byRevision.get(revision) ?? 0) / n,
    dropped: Object.fromEntries(routed.dropped),
  };
}

describe('TrafficRouter: requests through the seeds’ VirtualServices, as Istio routes them', () => {
  it('S3: end-user testuser goes 10/90 to v2/v3, everyone else to v1', () => {
    const s3 = seed('s3-reviews-header.yaml');
    const r = route(
      s3.vs('reviews'),
      s3.dr('reviews'),
      classes({ share: 0.9 }, { share: 0.1, headers: { 'end-user': 'testuser' } }),
    );
    expect(r.share('v1')).toBeCloseTo(0.9, 2);
    expect(r.share('v2')).toBeCloseTo(0.01, 2);
    expect(r.share('v3')).toBeCloseTo(0.09, 2);
  });

  it('S4: the cookie group behind the gateway splits 50/50; the mesh has no route to demo4.a.com', () => {
    const s4 = seed('s4-demo4-cookie-fixed.yaml');
    const vs = s4.vs('demo4-vs');
    const r = route(
      vs,
      s4.dr('demo4'),
      classes(
        { share: 0.5 },
        // the seed's regex wants the cookie first or right after a ';' with no space, so it is sent alone
        { share: 0.25, cookies: { email: 'li@some-company-name.com' } },
        { share: 0.25, gateway: 'mesh' },
      ),
    );
    expect(r.share('v1')).toBeCloseTo(0.5 + 0.125, 2);
    expect(r.share('v2')).toBeCloseTo(0.125, 2);
    expect(r.dropped['no route matched (404)']! / 100_000).toBeCloseTo(0.25, 2);
    // without a gateway in the class, requests arrive through the VirtualService's own gateway
    expect(classRequest(requestClass.parse({}), vs)).toEqual({
      host: 'demo4.a.com',
      gateway: 'demo4-gateway',
    });
  });

  it('S5: ?name=xx reaches v2 only, other requests v1', () => {
    const s5 = seed('s5-svc-b-query.yaml');
    const r = route(
      s5.vs('svc-b'),
      s5.dr('svc-b-destination-rule'),
      classes({ share: 3 }, { share: 1, uri: '/greet?name=xx' }),
    );
    expect(r.share('v1')).toBeCloseTo(0.75, 2);
    expect(r.share('v2')).toBeCloseTo(0.25, 2);
  });

  it('counts requests that reach another service or a subset without pods as dropped, with why', () => {
    const s3 = seed('s3-reviews-header.yaml');
    const dr = s3.dr('reviews');
    const router = new TrafficRouter(
      createRng(1),
      classes({ share: 1 }, { share: 1, headers: { 'end-user': 'testuser' } }),
      {
        host: 'reviews',
        namespace: 'default',
        revisions: new Map([['v1', 'v1']]),
      },
    );
    router.update(s3.vs('reviews'), [dr], []);
    const routed = router.route(1000);
    // the plain half reaches v1; the testuser half goes to v2 and v3, which run no pods here
    expect(routed.byRevision.get('v1')! / 1000).toBeCloseTo(0.5, 1);
    expect(Object.fromEntries(routed.dropped)).toEqual({
      'no pods for the subset (503)': 1000 - routed.byRevision.get('v1')!,
    });

    const elsewhere = new TrafficRouter(createRng(1), classes({}), {
      host: 'ratings',
      namespace: 'default',
      revisions: new Map(),
    });
    elsewhere.update(s3.vs('reviews'), [dr], []);
    expect(Object.fromEntries(elsewhere.route(10).dropped)).toEqual({ 'another destination': 10 });

    const otherHost = new TrafficRouter(createRng(1), classes({ host: 'ratings' }), {
      host: 'reviews',
      namespace: 'default',
      revisions: new Map([['v1', 'v1']]),
    });
    otherHost.update(s3.vs('reviews'), [dr], []);
    expect(Object.fromEntries(otherHost.route(10).dropped)).toEqual({
      'a host the VirtualService does not serve': 10,
    });
  });
});
