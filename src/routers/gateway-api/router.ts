import type { CanaryReleaseSpec } from '../../api/canary-release.js';
import type { ResolvedGatewayApiRouting } from '../../api/gateway-api.js';
import { gatewayRoutingOf, managedServiceOf, type ObservedRouting } from '../../api/routing.js';
import { describeIssues, type ValidationIssue } from '../../api/validation.js';
import type { KubePort } from '../../kube/port.js';
import type { Kind } from '../../kube/resources.js';
import {
  applyRoutingPatch,
  looseSection,
  type ObserveContext,
  type RoutingView,
  type SideSelection,
  type TrafficRouter,
} from '../router.js';
import { planRoutePatch } from './patch.js';
import { readSplit } from './routes.js';
import { desiredServices, planServices, servicesPointed, type Service } from './services.js';
import { parseHttpRoute, type HttpRoute } from './types.js';
import { validateHttpRoute } from './validate.js';

const PATH = 'spec.trafficRouting.gatewayAPI';

/**
 * Managed mode: `<service>-primary` selects the primary's pods and `<service>-canary` the user's, both
 * with the user's Service's selector and ports; canaria creates them and patches only their selector
 * and ports, and never touches a Service of that name it did not create.
 */
function selection(
  kube: KubePort,
  namespace: string,
  release: string,
  spec: CanaryReleaseSpec,
  routing: ResolvedGatewayApiRouting,
  revisionKey: string,
  canaryValue: string,
): SideSelection {
  const userName = managedServiceOf(spec) ?? '';
  const user = kube.get('Service', { namespace, name: userName }) as Service | undefined;
  const existing = {
    stable: kube.get('Service', { namespace, name: routing.stableService }) as Service | undefined,
    canary: kube.get('Service', { namespace, name: routing.canaryService }) as Service | undefined,
  };
  const describe = { services: [routing.stableService, routing.canaryService] };
  if (!user) {
    return {
      pointed: false,
      describe,
      issue: {
        path: spec.service !== undefined ? 'spec.service' : 'spec.targetRef.name',
        message: `Service "${userName}" not found in namespace "${namespace}"; managed mode copies its selector and ports into ${routing.stableService} and ${routing.canaryService}: create it, or name it in spec.service`,
      },
      point: () => Promise.resolve(),
    };
  }
  const desired = desiredServices({ metadata: { name: release } }, user, routing, revisionKey, canaryValue);
  const plans = planServices(existing, desired, release);
  const conflict = plans.find((p) => p.kind === 'conflict');
  return {
    pointed: servicesPointed(existing, desired),
    describe,
    ...(conflict?.kind === 'conflict'
      ? {
          issue: {
            path: `${PATH}.${conflict.name === routing.stableService ? 'stableService' : 'canaryService'}`,
            message: `${conflict.message}; ${conflict.fix}`,
          },
        }
      : {}),
    point: async (client) => {
      for (const plan of plans) {
        if (plan.kind === 'create') await client.create('Service', plan.service);
        else if (plan.kind === 'patch')
          await client.patch('Service', { namespace, name: plan.name }, plan.ops);
      }
    },
  };
}

/**
 * Gateway API: the weights of an HTTPRoute rule's backendRefs to a stable and a canary Service, an
 * A/B rule in front of it, and a RequestMirror filter. The parent may be a Gateway (ingress) or a
 * Service (the mesh; in ambient mode its waypoint).
 */
export const gatewayApiRouter: TrafficRouter = {
  key: 'gatewayAPI',
  kinds: ['HTTPRoute', 'Service'],
  references(spec: unknown, kind: Kind, name: string): boolean {
    const section = looseSection(spec, 'gatewayAPI');
    if (!section) return false;
    if (kind === 'HTTPRoute') return (section.httpRoute as { name?: unknown } | undefined)?.name === name;
    if (kind !== 'Service') return false;
    const loose = spec as { service?: unknown; targetRef?: { name?: unknown } } | undefined;
    const user = loose?.service ?? loose?.targetRef?.name;
    const names = [section.stableService, section.canaryService, user];
    if (typeof user === 'string') names.push(`${user}-primary`, `${user}-canary`);
    return names.includes(name);
  },
  observe(kube: KubePort, namespace: string, spec: CanaryReleaseSpec, context: ObserveContext): RoutingView {
    const section = spec.trafficRouting.gatewayAPI;
    const routing = gatewayRoutingOf(spec);
    if (!section || !routing)
      throw new Error('the Gateway API router observed a release without its Services');
    const issues: ValidationIssue[] = [];
    const name = section.httpRoute.name;
    const object = kube.get('HTTPRoute', { namespace, name });
    const parsed = object ? parseHttpRoute(object) : undefined;
    let httpRoute: HttpRoute | undefined;
    if (!object) {
      issues.push({
        path: `${PATH}.httpRoute.name`,
        message: `HTTPRoute "${name}" not found in namespace "${namespace}"`,
      });
    } else if (!parsed?.ok) {
      issues.push({
        path: `${PATH}.httpRoute.name`,
        message: `HTTPRoute "${name}" is not a valid HTTPRoute: ${parsed ? describeIssues(parsed.issues) : ''}`,
      });
    } else {
      httpRoute = parsed.value;
      issues.push(...validateHttpRoute(httpRoute, routing));
    }

    let actual: ObservedRouting | undefined;
    const split = httpRoute && readSplit(httpRoute, routing);
    if (split?.ok) {
      const { stableWeight, canaryWeight, total, match, mirrorPercent } = split.value;
      actual = { stableWeight, canaryWeight, total, match };
      if (mirrorPercent !== undefined) actual.mirrorPercent = mirrorPercent;
    }
    const selectorOf = (service: string) =>
      (kube.get('Service', { namespace, name: service }) as Service | undefined)?.spec?.selector;
    return {
      issues,
      ...(actual ? { actual } : {}),
      // each version is its own Service, and Istio reports a request under the Service it reached
      services: { stable: routing.stableService, canary: routing.canaryService },
      podLabels: (side) => selectorOf(side === 'stable' ? routing.stableService : routing.canaryService),
      route: (client, desired) =>
        httpRoute
          ? applyRoutingPatch(client, 'HTTPRoute', httpRoute, planRoutePatch(httpRoute, routing, desired))
          : Promise.resolve({ kind: 'unchanged' }),
      selection: (revisionKey, canaryValue) =>
        selection(kube, namespace, context.release, spec, routing, revisionKey, canaryValue),
    };
  },
};
