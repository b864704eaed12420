import { describe, expect, it } from 'vitest';
import { parentKind, validateHttpRoute } from './validate.js';
import { route, spec, split } from './fixtures.test-support.js';

describe('validateHttpRoute', () => {
  it('accepts a route attached to a Gateway or to a Service (mesh, ambient waypoint)', () => {
    const r = route([split(100)]);
    r.spec.parentRefs = [
      { name: 'ingress' },
      { group: '', kind: 'Service', name: 'reviews' },
      { group: 'core', kind: 'Service', name: 'x' },
    ];
    expect(validateHttpRoute(r, spec())).toEqual([]);
    expect(parentKind({ name: 'gw', group: 'gateway.networking.k8s.io', kind: 'Gateway' })).toBe('Gateway');
  });

  it('flags other parent kinds and a route without parents', () => {
    const r = route([split(100)]);
    r.spec.parentRefs = [{ group: 'networking.istio.io', kind: 'VirtualService', name: 'vs' }];
    expect(validateHttpRoute(r, spec())).toEqual([
      {
        path: 'HTTPRoute reviews: spec.parentRefs[0]',
        message: expect.stringContaining('kind "VirtualService"') as string,
      },
    ]);
    r.spec.parentRefs = [];
    expect(validateHttpRoute(r, spec())[0]?.path).toBe('HTTPRoute reviews: spec.parentRefs');
  });

  it('flags a route that does not send to the stable Service', () => {
    const r = route([{ backendRefs: [{ name: 'reviews', port: 9080 }] }]);
    expect(validateHttpRoute(r, spec())).toEqual([
      {
        path: 'HTTPRoute reviews: spec.rules',
        message: expect.stringContaining('stable Service reviews-stable') as string,
      },
    ]);
  });

  it('repeats why the managed rule cannot be found', () => {
    const r = route([split(50), split(50)]);
    expect(validateHttpRoute(r, spec())[0]?.message).toContain('trafficRouting.gatewayAPI.httpRoute.rule');
  });
});
