import { z } from 'zod';
import { LIMITS } from './limits.js';
import { k8sName } from './meta.js';

/* `spec.trafficRouting.istio`: the Istio router's settings. */

const list = <T extends z.ZodType>(item: T, max: number, what: string) =>
  z.array(item).max(max, { error: `at most ${max} ${what}` });
const bounded = (max: number, what = '') =>
  z.string().max(max, { error: `must be at most ${max} characters${what}` });

export const ISTIO_WEIGHT_TOTALS = [100, 1000, 10000] as const;

export const istioRouting = z.strictObject({
  virtualService: z
    .strictObject({
      name: k8sName('virtualService.name').describe(
        "Name of the VirtualService, in the release's namespace.",
      ),
      routes: list(bounded(LIMITS.name).min(1), LIMITS.routes, 'routes')
        .optional()
        .describe(
          'Names of the http routes canaria manages. Default: the routes to the stable and canary subsets. Naming them spares retries when others edit other routes.',
        ),
    })
    .describe('The VirtualService whose route weights canaria sets; only those weights are patched.'),
  destinationRule: z
    .strictObject({
      name: k8sName('destinationRule.name').describe(
        "Name of the DestinationRule, in the release's namespace.",
      ),
    })
    .describe('The DestinationRule that defines the stable and canary subsets.'),
  stableSubset: k8sName('stableSubset').describe(
    'The DestinationRule subset of the stable version, e.g. v1.',
  ),
  canarySubset: k8sName('canarySubset').describe(
    'The DestinationRule subset of the canary version, e.g. v2.',
  ),
  weightTotal: z
    .union(
      ISTIO_WEIGHT_TOTALS.map((n) => z.literal(n)),
      {
        error: `must be one of ${ISTIO_WEIGHT_TOTALS.join(', ')}`,
      },
    )
    .default(100)
    .describe(
      'What the weights of a managed route add up to: 100 (whole percents, default), 1000 or 10000 (steps of 0.1 % or 0.01 %, Istio >= 1.15).',
    ),
  istioVersion: bounded(LIMITS.shortText)
    .regex(/^\d+\.\d+(\.\d+)?$/, { error: 'must be a version such as 1.22 or 1.22.3' })
    .optional()
    .describe(
      "The mesh's Istio version, e.g. 1.22, when known; canaria then refuses what that version would reject.",
    ),
});
export type IstioRouting = z.infer<typeof istioRouting>;
