import type { CanaryReleaseSpec, IstioRouting } from '../../api/canary-release.js';
import type { ObservedRouting } from '../../api/routing.js';
import type { ValidationIssue } from '../../api/validation.js';
import type { KubePort } from '../../kube/port.js';
import type { Kind, KubeObject } from '../../kube/resources.js';
import {
  applyRoutingPatch,
  looseSection,
  type ObserveContext,
  type RoutingView,
  type SideSelection,
  type TrafficRouter,
} from '../router.js';
import { routeClaimIssue } from './claims.js';
import { planRoutingPatch } from './patch.js';
import { readRouting } from './routes.js';
import { desiredSubsets, pointSubsetsPatch, subsetsPointed } from './subsets.js';
import {
  destinationRule as destinationRuleSchema,
  virtualService as virtualServiceSchema,
  type DestinationRule,
  type VirtualService,
} from './types.js';
import { validateRoutingTargets } from './validate.js';

const PATH = 'spec.trafficRouting.istio';

function parse<T>(
  schema: { safeParse(input: unknown): { success: true; data: T } | { success: false } },
  object: KubeObject | undefined,
): T | undefined {
  if (!object) return undefined;
  const parsed = schema.safeParse(object);
  return parsed.success ? parsed.data : undefined;
}

/** Reads a named object of the release's namespace and says what is wrong with it, if anything. */
function read<T>(
  kube: KubePort,
  kind: 'VirtualService' | 'DestinationRule',
  field: string,
  namespace: string,
  name: string,
  schema: Parameters<typeof parse<T>>[0],
  issues: ValidationIssue[],
): T | undefined {
  const object = kube.get(kind, { namespace, name });
  const parsed = parse<T>(schema, object);
  if (!object) {
    issues.push({
      path: `${PATH}.${field}`,
      message: `${kind} "${name}" not found in namespace "${namespace}"`,
    });
  } else if (!parsed) {
    issues.push({
      path: `${PATH}.${field}`,
      message: `${kind} "${name}" is not a valid ${kind}; run canaria lint on it`,
    });
  }
  return parsed;
}

function selection(
  dr: DestinationRule,
  istio: IstioRouting,
  revisionKey: string,
  canaryValue: string,
): SideSelection {
  const subsets = desiredSubsets(istio, revisionKey, canaryValue);
  return {
    pointed: subsetsPointed(dr, subsets),
    describe: { subsets },
    point: async (kube) => {
      const ops = pointSubsetsPatch(dr, subsets);
      if (ops.length) {
        await kube.patch(
          'DestinationRule',
          { namespace: dr.metadata.namespace ?? '', name: dr.metadata.name },
          ops,
        );
      }
    },
  };
}

/**
 * Istio's VirtualService and DestinationRule: the weights of the managed http routes' stable and
 * canary subsets, an A/B match route in front of them, and mirroring.
 */
export const istioRouter: TrafficRouter = {
  key: 'istio',
  kinds: ['VirtualService', 'DestinationRule'],
  references(spec: unknown, kind: Kind, name: string): boolean {
    const section = looseSection(spec, 'istio');
    const named = (field: string) => (section?.[field] as { name?: unknown } | undefined)?.name === name;
    if (kind === 'VirtualService') return named('virtualService');
    if (kind === 'DestinationRule') return named('destinationRule');
    return false;
  },
  observe(kube: KubePort, namespace: string, spec: CanaryReleaseSpec, context: ObserveContext): RoutingView {
    const istio = spec.trafficRouting.istio;
    if (!istio) throw new Error('the Istio router observed a release without trafficRouting.istio');
    const issues: ValidationIssue[] = [];
    const vs = read<VirtualService>(
      kube,
      'VirtualService',
      'virtualService.name',
      namespace,
      istio.virtualService.name,
      virtualServiceSchema,
      issues,
    );
    const dr = read<DestinationRule>(
      kube,
      'DestinationRule',
      'destinationRule.name',
      namespace,
      istio.destinationRule.name,
      destinationRuleSchema,
      issues,
    );
    if (vs && dr) {
      issues.push(
        ...validateRoutingTargets(vs, dr, istio, { subsetLabelsManaged: spec.targetRef !== undefined }),
      );
    }
    const claimed = context.release ? routeClaimIssue(kube, namespace, context.release, spec, vs) : undefined;
    if (claimed) issues.push(claimed);

    let actual: ObservedRouting | undefined;
    const reading = vs && readRouting(vs, istio);
    if (reading?.ok) {
      const { stableWeight, canaryWeight, total, matchRoute, mirrorPercent } = reading.value;
      actual = { stableWeight, canaryWeight, total, match: matchRoute !== undefined };
      if (mirrorPercent !== undefined) actual.mirrorPercent = mirrorPercent;
    }
    // Istio reports a request to a subset under the DestinationRule's host, for both sides
    const service = spec.service ?? (dr?.spec.host ?? '').split('.')[0] ?? '';
    const subsetLabels = (name: string) => dr?.spec.subsets?.find((s) => s.name === name)?.labels;
    return {
      issues,
      ...(actual ? { actual } : {}),
      services: { stable: service, canary: service },
      podLabels: (side) => subsetLabels(side === 'stable' ? istio.stableSubset : istio.canarySubset),
      route: (client, routing) =>
        vs
          ? applyRoutingPatch(client, 'VirtualService', vs, planRoutingPatch(vs, istio, routing))
          : Promise.resolve({ kind: 'unchanged' }),
      selection: (revisionKey, canaryValue) =>
        dr ? selection(dr, istio, revisionKey, canaryValue) : undefined,
    };
  },
};
