import { gatewayApiRouting, type ResolvedGatewayApiRouting } from '../../api/gateway-api.js';
import type { HttpRoute, HttpRouteRule } from './types.js';

export const spec = (over: Record<string, unknown> = {}): ResolvedGatewayApiRouting =>
  gatewayApiRouting.parse({
    httpRoute: { name: 'reviews' },
    stableService: 'reviews-stable',
    canaryService: 'reviews-canary',
    ...over,
  }) as ResolvedGatewayApiRouting;

export const route = (rules: HttpRouteRule[], namespace = 'prod'): HttpRoute => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'reviews', namespace },
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
    rules,
  },
});

export const split = (stable: number | undefined, canary?: number): HttpRouteRule => ({
  backendRefs: [
    { name: 'reviews-stable', port: 9080, ...(stable === undefined ? {} : { weight: stable }) },
    ...(canary === undefined ? [] : [{ name: 'reviews-canary', port: 9080, weight: canary }]),
  ],
});
