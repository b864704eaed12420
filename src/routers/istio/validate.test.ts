import { describe, it, expect } from 'vitest';
import {
  destinationRule,
  route,
  routing,
  to,
  virtualService,
} from '../../../test/fixtures/seeds/builders.js';
import { validateRoutingTargets } from './validate.js';

const rule = destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } });

describe('validateRoutingTargets', () => {
  it('accepts the seeds shape: subsets defined and distinct, same host', () => {
    expect(
      validateRoutingTargets(virtualService([route([to('v1', 90), to('v2', 10)])]), rule, routing()),
    ).toEqual([]);
  });

  it('names the release field and the DestinationRule when a subset is missing', () => {
    const issues = validateRoutingTargets(
      virtualService([route([to('v1')])]),
      rule,
      routing({ canarySubset: 'v3' }),
    );
    expect(issues).toEqual([
      {
        path: 'spec.trafficRouting.istio.canarySubset',
        message:
          "subset v3 is not defined in DestinationRule reviews (it defines v1, v2); add a subset named v3 with its version's labels to the DestinationRule, or fix trafficRouting.istio.canarySubset",
      },
    ]);
  });

  it('refuses stable and canary subsets that select the same pods, or all pods', () => {
    const same = destinationRule({ v1: { version: 'v1' }, v2: { version: 'v1' } });
    expect(validateRoutingTargets(virtualService([route([to('v1')])]), same, routing())).toEqual([
      {
        path: 'DestinationRule/reviews:spec.subsets[1].labels',
        message:
          'subsets v1 and v2 have the same labels (version=v1) and select the same pods; give subset v2 the labels of its own version, e.g. version: v2',
      },
    ]);
    const unlabeled = destinationRule({ v1: { version: 'v1' }, v2: {} });
    expect(
      validateRoutingTargets(virtualService([route([to('v1')])]), unlabeled, routing())[0]?.message,
    ).toContain('subset v2 has no labels, so it selects every pod of reviews');
  });

  it('treats a short host and its FQDN as one, given the namespaces, and flags a different host', () => {
    const fqdnRule = destinationRule(
      { v1: { version: 'v1' }, v2: { version: 'v2' } },
      { host: 'reviews.shop.svc.cluster.local', namespace: 'shop' },
    );
    const inShop = virtualService([route([to('v1', 90), to('v2', 10)])], { namespace: 'shop' });
    expect(validateRoutingTargets(inShop, fqdnRule, routing())).toEqual([]);
    const elsewhere = virtualService([route([to('v1', 90), to('v2', 10)])], { namespace: 'web' });
    expect(validateRoutingTargets(elsewhere, fqdnRule, routing()).map((i) => i.path)).toEqual([
      'VirtualService/reviews:spec.http[0].route[0].destination.host',
      'VirtualService/reviews:spec.http[0].route[1].destination.host',
    ]);
  });

  it('reports weight written inside destination with the path and the fix', () => {
    const vs = virtualService([
      route([{ destination: { host: 'reviews', subset: 'v1', weight: 90 } }, to('v2', 10)]),
    ]);
    const [issue] = validateRoutingTargets(vs, rule, routing());
    expect(issue?.path).toBe('VirtualService/reviews:spec.http[0].route[0].destination.weight');
    expect(issue?.message).toContain(
      'move "weight: 90" out of destination, to spec.http[0].route[0].weight beside destination',
    );
  });

  it('holds a weight total and route weights against a declared Istio before 1.15', () => {
    const vs = virtualService([route([to('v1', 60), to('v2', 30)])]);
    const paths = validateRoutingTargets(
      vs,
      rule,
      routing({ weightTotal: 1000, istioVersion: '1.14.3' }),
    ).map((i) => i.path);
    expect(paths).toEqual([
      'spec.trafficRouting.istio.weightTotal',
      'VirtualService/reviews:spec.http[0].route',
    ]);
    expect(validateRoutingTargets(vs, rule, routing({ weightTotal: 1000, istioVersion: '1.15' }))).toEqual(
      [],
    );
  });

  it('passes on why the managed route cannot be found', () => {
    const [issue] = validateRoutingTargets(virtualService([route([to('v3')])]), rule, routing());
    expect(issue?.path).toBe('VirtualService/reviews:spec.http');
    expect(issue?.message).toContain('sends traffic to subset v1');
  });
});
