import { z } from 'zod';
import {
  gatewayApiRouting,
  managedServiceOf,
  resolveGatewayApiRouting,
  type GatewayApiRouting,
} from './gateway-api.js';
import { istioRouting, type IstioRouting } from './istio.js';
import type { RoutingSides } from './routing.js';

/*
 * The traffic routers as the spec knows them: each one's section of `spec.trafficRouting` and how
 * its messages name the two sides. The CRD, the validation and the engine's messages are built from
 * this table, so a new router's spec is one file beside istio.ts and gateway-api.ts and one line
 * here; its code is a folder in src/routers and a line in src/routers/registry.ts.
 */

/** What the sides are read from; spelled out, as the spec's type is built from this table. */
interface SidesSpec {
  trafficRouting: { istio?: IstioRouting | undefined; gatewayAPI?: GatewayApiRouting | undefined };
  targetRef?: { name: string } | undefined;
  service?: string | undefined;
}

export const ROUTER_SECTIONS = {
  istio: {
    schema: istioRouting.describe('Istio: the VirtualService and DestinationRule that split the traffic.'),
    sides: (spec: SidesSpec): RoutingSides => {
      const section = spec.trafficRouting.istio ?? { stableSubset: '', canarySubset: '', weightTotal: 100 };
      return {
        path: 'spec.trafficRouting.istio',
        shownBy: 'the VirtualService',
        selectedBy: "the DestinationRule's subsets",
        side: 'subset',
        stable: { field: 'stableSubset', name: section.stableSubset },
        canary: { field: 'canarySubset', name: section.canarySubset },
        weightTotal: section.weightTotal,
      };
    },
  },
  gatewayAPI: {
    schema: gatewayApiRouting.describe(
      "Gateway API: the HTTPRoute whose rule weighs a stable and a canary Service (Istio's ambient mode, or a Gateway).",
    ),
    sides: (spec: SidesSpec): RoutingSides => {
      const section = spec.trafficRouting.gatewayAPI;
      const services = section && resolveGatewayApiRouting(section, managedServiceOf(spec));
      return {
        path: 'spec.trafficRouting.gatewayAPI',
        shownBy: `HTTPRoute ${section?.httpRoute.name ?? ''}`,
        selectedBy: "the Services' selectors",
        side: 'Service',
        stable: { field: 'stableService', name: services?.stableService ?? '' },
        canary: { field: 'canaryService', name: services?.canaryService ?? '' },
        weightTotal: section?.weightTotal ?? 100,
      };
    },
  },
} as const;

export type RouterKey = keyof typeof ROUTER_SECTIONS;
export const ROUTER_KEYS = Object.keys(ROUTER_SECTIONS) as RouterKey[];

type Sections = { [K in RouterKey]: z.ZodOptional<(typeof ROUTER_SECTIONS)[K]['schema']> };

/** `spec.trafficRouting`: exactly one router's section, checked by the API server (CEL) and by canaria. */
export const trafficRouting = z
  .strictObject(
    Object.fromEntries(ROUTER_KEYS.map((key) => [key, ROUTER_SECTIONS[key].schema.optional()])) as Sections,
  )
  .meta({
    'x-kubernetes-validations': [
      {
        rule: `[${ROUTER_KEYS.map((key) => `has(self.${key})`).join(', ')}].filter(set, set).size() == 1`,
        message: `set exactly one router: ${ROUTER_KEYS.map((key) => `trafficRouting.${key}`).join(' or ')}`,
      },
    ],
  })
  .describe(
    `How traffic is split between the stable and canary versions: exactly one router (${ROUTER_KEYS.join(', ')}).`,
  );

/** The router a section names; the spec's refinement guarantees one, a spec that slipped through reads as Istio's. */
export function routerKeyOf(routing: Partial<Record<RouterKey, unknown>>): RouterKey {
  return ROUTER_KEYS.find((key) => routing[key] !== undefined) ?? 'istio';
}
