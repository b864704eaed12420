import type { CanaryReleaseSpec } from './canary-release.js';
import { managedServiceOf, resolveGatewayApiRouting, type ResolvedGatewayApiRouting } from './gateway-api.js';

export { managedServiceOf };
import { ROUTER_SECTIONS, routerKeyOf } from './routers.js';

/** A share in percent as weight units of `total` (0.1 % of 1000 is 1). */
export const percentToUnits = (percent: number, total: number): number => Math.round((percent * total) / 100);
/** Weight units of `total` as a percent, to four decimals. */
export const unitsToPercent = (units: number, total: number): number =>
  total > 0 ? Math.round((units * 100 * 10_000) / total) / 10_000 : 0;

/** What the routing shows right now, read back by the release's traffic router. */
export interface ObservedRouting {
  stableWeight: number;
  canaryWeight: number;
  total: number;
  /** Whether canaria's A/B match route is present. */
  match: boolean;
  mirrorPercent?: number;
}

/**
 * How a release's routing names its two sides, for messages and field paths: the engine speaks of
 * stable and canary only, and the router's section of the spec says what they are called there.
 */
export interface RoutingSides {
  /** Path of the router's section, e.g. spec.trafficRouting.istio. */
  path: string;
  /** The object that shows the split, as messages name it: "the VirtualService". */
  shownBy: string;
  /** What selects each side's pods, as messages name it: "the DestinationRule's subsets". */
  selectedBy: string;
  /** What one side is, as messages name it: "subset". */
  side: string;
  stable: { field: string; name: string };
  canary: { field: string; name: string };
  /** What the weights of the managed route add up to. */
  weightTotal: number;
}

export function routingSides(
  spec: Pick<CanaryReleaseSpec, 'trafficRouting' | 'targetRef' | 'service'>,
): RoutingSides {
  const key = routerKeyOf(spec.trafficRouting);
  return ROUTER_SECTIONS[key].sides(spec);
}

/** The Gateway API router's settings with both Services filled in (managed mode's defaults). */
export function gatewayRoutingOf(
  spec: Pick<CanaryReleaseSpec, 'trafficRouting' | 'targetRef' | 'service'>,
): ResolvedGatewayApiRouting | undefined {
  const section = spec.trafficRouting.gatewayAPI;
  return section && resolveGatewayApiRouting(section, managedServiceOf(spec));
}
