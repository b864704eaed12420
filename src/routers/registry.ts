import type { CanaryReleaseSpec } from '../api/canary-release.js';
import { routerKeyOf } from '../api/routers.js';
import { gatewayApiRouter } from './gateway-api/router.js';
import { istioRouter } from './istio/router.js';
import { ROUTER_KEYS, type RouterKey, type TrafficRouter } from './router.js';

/** Every traffic router, by its key in spec.trafficRouting. A new router is one line here. */
export const ROUTERS: Readonly<Record<RouterKey, TrafficRouter>> = {
  istio: istioRouter,
  gatewayAPI: gatewayApiRouter,
};

/** The router a (parsed) release names; the spec's refinement guarantees exactly one. */
export function routerOf(spec: Pick<CanaryReleaseSpec, 'trafficRouting'>): TrafficRouter {
  return ROUTERS[routerKeyOf(spec.trafficRouting)];
}

/** Parses a --routers list: each a key of ROUTERS. */
export function parseRouterKeys(list: string): RouterKey[] {
  const keys = list
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  for (const key of keys) {
    if (!(ROUTER_KEYS as readonly string[]).includes(key)) {
      throw new Error(`unknown traffic router "${key}"; the routers are ${ROUTER_KEYS.join(', ')}`);
    }
  }
  if (!keys.length) throw new Error(`name at least one traffic router: ${ROUTER_KEYS.join(', ')}`);
  return [...new Set(keys)] as RouterKey[];
}
