import type { ResolvedGatewayApiRouting } from '../../api/gateway-api.js';
import { formatPath, type ValidationIssue } from '../../api/validation.js';
import { findManagedRule, refersTo, ruleList } from './routes.js';
import { GATEWAY_GROUP, type HttpRoute, type ParentRef } from './types.js';

/*
 * What makes an HTTPRoute unusable for a release, found before any patch: the route does not send to
 * the release's Services, or attaches to a parent no Istio data plane serves. Two parent kinds are
 * served: a Gateway (ingress; Istio's gateways and others) and a Service (GAMMA: the mesh, and in
 * ambient mode the Service's waypoint). Issues carry the route's own YAML path, prefixed with the
 * route's kind and name so a release's condition can tell them from the release's own fields.
 */

const issue = (route: HttpRoute, path: (string | number)[], message: string): ValidationIssue => ({
  path: `HTTPRoute ${route.metadata.name}: ${formatPath(path)}`,
  message,
});

/** Gateway API defaults a parentRef to group gateway.networking.k8s.io, kind Gateway. */
export function parentKind(ref: ParentRef): 'Gateway' | 'Service' | undefined {
  const group = ref.group ?? GATEWAY_GROUP;
  const kind = ref.kind ?? 'Gateway';
  if (group === GATEWAY_GROUP && kind === 'Gateway') return 'Gateway';
  if ((group === '' || group === 'core') && kind === 'Service') return 'Service';
  return undefined;
}

/** One thing wrong with an HTTPRoute: where (a YAML path in the route), what, and the fix. */
export interface RouteProblem {
  path: (string | number)[];
  message: string;
  fix: string;
}

/** `spec.rules[1].backendRefs` -> ['spec', 'rules', 1, 'backendRefs'] */
export function segmentsOf(path: string): (string | number)[] {
  return path.split('.').flatMap((part) => {
    const [key = '', ...indexes] = part.split(/\[|\]/).filter(Boolean);
    return [key, ...indexes.map(Number)];
  });
}

/** The parents no Istio data plane serves, and a route with none. */
export function parentRefProblems(route: HttpRoute): RouteProblem[] {
  const parents = route.spec.parentRefs ?? [];
  const problems: RouteProblem[] = [];
  if (!parents.length) {
    problems.push({
      path: ['spec', 'parentRefs'],
      message: 'the route has no parentRefs, so no Gateway or mesh serves it',
      fix: 'add a parentRef to a Gateway (ingress) or to the Service (mesh, ambient waypoint)',
    });
  }
  parents.forEach((ref, i) => {
    if (parentKind(ref) === undefined) {
      problems.push({
        path: ['spec', 'parentRefs', i],
        message: `parentRef of group ${JSON.stringify(ref.group ?? GATEWAY_GROUP)} kind ${JSON.stringify(ref.kind ?? 'Gateway')} is not one canaria knows how Istio serves`,
        fix: `use kind Gateway (group ${GATEWAY_GROUP}) or kind Service (group "")`,
      });
    }
  });
  return problems;
}

/** What keeps canaria from managing `route` for a release with these settings. */
export function httpRouteProblems(route: HttpRoute, routing: ResolvedGatewayApiRouting): RouteProblem[] {
  const problems = parentRefProblems(route);
  const rules = ruleList(route);
  // the canary's backendRef may be missing before the first step: canaria adds it
  const stable = routing.stableService;
  if (!rules.some((r) => (r.backendRefs ?? []).some((ref) => refersTo(route, ref, stable)))) {
    problems.push({
      path: ['spec', 'rules'],
      message: `no rule has a backendRef to the stable Service ${stable} (trafficRouting.gatewayAPI.stableService)`,
      fix: `add {name: ${stable}, port: ...} to the rule canaria should manage`,
    });
  }
  if (!problems.length) {
    const found = findManagedRule(route, routing);
    if (!found.ok)
      problems.push({
        path: segmentsOf(found.error.path),
        message: found.error.message,
        fix: found.error.fix,
      });
  }
  return problems;
}

export function validateHttpRoute(route: HttpRoute, routing: ResolvedGatewayApiRouting): ValidationIssue[] {
  return httpRouteProblems(route, routing).map((p) => issue(route, p.path, `${p.message}; ${p.fix}`));
}
