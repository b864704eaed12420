import { describe, expect, it } from 'vitest';
import { parseRouterKeys, ROUTERS, routerOf } from './registry.js';
import { aSpec } from '../../test/builders/release.js';

const gatewaySpec = {
  subsets: {},
  trafficRouting: {
    gatewayAPI: { httpRoute: { name: 'reviews' }, stableService: 'reviews-v1', canaryService: 'reviews-v2' },
  },
};

describe('the traffic router registry', () => {
  it("picks the router a spec's trafficRouting names", () => {
    expect(routerOf(aSpec()).key).toBe('istio');
    expect(routerOf({ trafficRouting: gatewaySpec.trafficRouting } as never).key).toBe('gatewayAPI');
  });

  it('routes an event of a routing object to the releases that name it, from a spec that may not parse', () => {
    const istioSpec = {
      trafficRouting: { istio: { virtualService: { name: 'vs' }, destinationRule: { name: 'dr' } } },
    };
    expect(ROUTERS.istio.references(istioSpec, 'VirtualService', 'vs')).toBe(true);
    expect(ROUTERS.istio.references(istioSpec, 'DestinationRule', 'vs')).toBe(false);
    expect(ROUTERS.istio.references(gatewaySpec, 'VirtualService', 'reviews')).toBe(false);
    expect(ROUTERS.gatewayAPI.references(gatewaySpec, 'HTTPRoute', 'reviews')).toBe(true);
    expect(ROUTERS.gatewayAPI.references(gatewaySpec, 'Service', 'reviews-v2')).toBe(true);
    expect(ROUTERS.gatewayAPI.references(gatewaySpec, 'Service', 'ratings')).toBe(false);
    // managed mode: the user's Service and the two canaria creates for it
    const managed = {
      targetRef: { name: 'podinfo' },
      trafficRouting: { gatewayAPI: { httpRoute: { name: 'p' } } },
    };
    for (const name of ['podinfo', 'podinfo-primary', 'podinfo-canary'])
      expect(ROUTERS.gatewayAPI.references(managed, 'Service', name)).toBe(true);
    expect(ROUTERS.gatewayAPI.references({ spec: 'garbage' }, 'HTTPRoute', 'p')).toBe(false);
  });

  it('reads a --routers list, and names the routers there are when one is unknown', () => {
    expect(parseRouterKeys('istio, gatewayAPI,istio')).toEqual(['istio', 'gatewayAPI']);
    expect(() => parseRouterKeys('istio,linkerd')).toThrow(
      'unknown traffic router "linkerd"; the routers are istio, gatewayAPI',
    );
    expect(() => parseRouterKeys(' , ')).toThrow('name at least one traffic router');
  });
});
