import { z } from 'zod';
import { LIMITS } from './limits.js';
import { k8sName } from './meta.js';

/*
 * `spec.trafficRouting.gatewayAPI`: the Gateway API router's settings.
 *
 * Field names follow Gateway API's own words, so a user who wrote the HTTPRoute recognises them:
 * - `gatewayAPI` is how the project spells itself in prose and in Istio's and Argo's settings
 *   (`gatewayAPI`), and reads as the counterpart of `istio` beside it.
 * - `httpRoute` names the kind it points at (a GRPCRoute would sit beside it as `grpcRoute`).
 * - `rule` is what Gateway API calls an entry of `spec.rules`; since v1.2 a rule may carry a `name`
 *   (the `sectionName` a policy attaches to), so a name is the stable way to point at one. An index is
 *   accepted for routes whose rules have no names, at the price that inserting a rule moves it.
 * - `stableService` / `canaryService`: a backendRef of kind Service is what a rule weighs, and in
 *   ambient mode each version is its own Service (no DestinationRule subsets), so the pair replaces
 *   Istio's `stableSubset` / `canarySubset`.
 * - `weightTotal`, as for Istio: what the two weights add up to. Gateway API weights are proportions
 *   (int32 up to 1,000,000), so 1000 and 10000 work on every implementation.
 */

export const GATEWAY_WEIGHT_TOTALS = [100, 1000, 10000] as const;

const RULE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const gatewayApiRouting = z
  .strictObject({
    httpRoute: z
      .strictObject({
        name: k8sName('httpRoute.name').describe("Name of the HTTPRoute, in the release's namespace."),
        rule: z
          .union([
            z
              .string()
              .max(LIMITS.name, { error: `must be at most ${LIMITS.name} characters` })
              .regex(RULE_NAME, { error: 'must be a rule name: lowercase letters, digits and -' }),
            z
              .int({ error: 'must be a rule name or a whole index into spec.rules' })
              .min(0, { error: 'must be >= 0' })
              .max(LIMITS.routes - 1, {
                error: `must be < ${LIMITS.routes} (an HTTPRoute has at most 16 rules)`,
              }),
          ])
          .optional()
          .describe(
            "The rule canaria manages: its name (spec.rules[].name, Gateway API >= 1.2) or its index among the rules (not counting canaria's own A/B rule). Default: the only rule whose backendRefs are the stable and canary Services.",
          ),
      })
      .describe(
        "The HTTPRoute whose rule's backendRef weights canaria sets; only those weights are patched.",
      ),
    stableService: k8sName('stableService')
      .optional()
      .describe(
        'The Service of the stable version, a backendRef of the managed rule. Default in managed mode: <service>-primary.',
      ),
    canaryService: k8sName('canaryService')
      .optional()
      .describe(
        'The Service of the canary version; canaria adds its backendRef when missing. Default in managed mode: <service>-canary.',
      ),
    weightTotal: z
      .union(
        GATEWAY_WEIGHT_TOTALS.map((n) => z.literal(n)),
        { error: `must be one of ${GATEWAY_WEIGHT_TOTALS.join(', ')}` },
      )
      .default(100)
      .describe(
        'What the weights of the stable and canary backendRefs add up to: 100 (whole percents, default), 1000 or 10000 (steps of 0.1 % or 0.01 %).',
      ),
  })
  .superRefine((spec, ctx) => {
    if (spec.stableService !== undefined && spec.stableService === spec.canaryService) {
      ctx.addIssue({
        code: 'custom',
        path: ['canaryService'],
        message: `stableService and canaryService are both ${spec.stableService}; the canary needs a Service of its own`,
      });
    }
  });
export type GatewayApiRouting = z.infer<typeof gatewayApiRouting>;

/** The settings with both Services known: what the router works with. */
export type ResolvedGatewayApiRouting = GatewayApiRouting & { stableService: string; canaryService: string };

export const managedServiceNames = (service: string) => ({
  stableService: `${service}-primary`,
  canaryService: `${service}-canary`,
});

/**
 * Fills in the Services: those the release names, else in managed mode the pair canaria creates for
 * `service`. Undefined when a Service is still unknown (subsets mode without them is a validation issue).
 */
export function resolveGatewayApiRouting(
  spec: GatewayApiRouting,
  managedService?: string,
): ResolvedGatewayApiRouting | undefined {
  const defaults = managedService === undefined ? undefined : managedServiceNames(managedService);
  const stableService = spec.stableService ?? defaults?.stableService;
  const canaryService = spec.canaryService ?? defaults?.canaryService;
  if (stableService === undefined || canaryService === undefined) return undefined;
  return { ...spec, stableService, canaryService };
}

/**
 * Managed mode: the user's Service that canaria's `-primary` and `-canary` Services copy,
 * `spec.service`, else the Deployment's name (the convention Flagger and most charts follow).
 */
export function managedServiceOf(spec: {
  targetRef?: { name: string } | undefined;
  service?: string | undefined;
}): string | undefined {
  return spec.targetRef ? (spec.service ?? spec.targetRef.name) : undefined;
}
