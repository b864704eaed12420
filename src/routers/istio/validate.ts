import type { IstioRouting } from '../../api/canary-release.js';
import { formatPath, type ValidationIssue } from '../../api/validation.js';
import { jsonEqual } from '../../kube/json-patch.js';
import { qualifyHost, sameHost } from './hosts.js';
import { effectiveWeights, findManagedRoutes, requiresWeightSum100, routeList } from './routes.js';
import { namespaceOf, type DestinationRule, type VirtualService } from './types.js';

export type PathSegments = readonly (string | number)[];

/** A problem in one of the resources a release routes with, located by YAML path, with its fix. */
export interface RoutingProblem {
  rule:
    | 'misplaced-weight'
    | 'subset-unlabeled'
    | 'subset-twin'
    | 'subset-missing'
    | 'weight-total'
    | 'managed-route'
    | 'host-mismatch'
    | 'weight-sum';
  resource: 'VirtualService' | 'DestinationRule' | 'CanaryRelease';
  path: PathSegments;
  message: string;
  fix: string;
}

const ROUTE_KINDS = ['http', 'tcp', 'tls'] as const;

/** `weight` written inside `destination` (seed 002 does this): Istio rejects it as an unknown field. */
export function misplacedWeights(vs: VirtualService): RoutingProblem[] {
  const problems: RoutingProblem[] = [];
  for (const kind of ROUTE_KINDS) {
    const routes: unknown = vs.spec[kind];
    if (!Array.isArray(routes)) continue;
    routes.forEach((route: unknown, i) => {
      const destinations: unknown = (route as { route?: unknown } | null)?.route;
      if (!Array.isArray(destinations)) return;
      destinations.forEach((entry: unknown, j) => {
        const dest: unknown = (entry as { destination?: unknown } | null)?.destination;
        if (typeof dest !== 'object' || dest === null || !('weight' in dest)) return;
        const weight = JSON.stringify(dest.weight);
        problems.push({
          rule: 'misplaced-weight',
          resource: 'VirtualService',
          path: ['spec', kind, i, 'route', j, 'destination', 'weight'],
          message: `weight is not a field of destination; Istio rejects the VirtualService (unknown field) and the split does not happen`,
          fix: `move "weight: ${weight}" out of destination, to spec.${kind}[${i}].route[${j}].weight beside destination`,
        });
      });
    });
  }
  return problems;
}

/** Subsets that select exactly the same pods as an earlier subset, or every pod of the host. */
export function overlappingSubsets(dr: DestinationRule, only?: readonly string[]): RoutingProblem[] {
  const problems: RoutingProblem[] = [];
  const subsets = (dr.spec.subsets ?? [])
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => !only || only.includes(s.name));
  subsets.forEach(({ s, i }, n) => {
    const labels = s.labels ?? {};
    if (!Object.keys(labels).length) {
      problems.push({
        rule: 'subset-unlabeled',
        resource: 'DestinationRule',
        path: ['spec', 'subsets', i, 'labels'],
        message: `subset ${s.name} has no labels, so it selects every pod of ${dr.spec.host}, all versions together`,
        fix: `give subset ${s.name} the labels of its version only, e.g. labels: {version: ${s.name}}`,
      });
      return;
    }
    const twin = subsets.slice(0, n).find(({ s: other }) => jsonEqual(other.labels ?? {}, labels));
    if (twin) {
      const shown = Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      problems.push({
        rule: 'subset-twin',
        resource: 'DestinationRule',
        path: ['spec', 'subsets', i, 'labels'],
        message: `subsets ${twin.s.name} and ${s.name} have the same labels (${shown}) and select the same pods`,
        fix: `give subset ${s.name} the labels of its own version, e.g. version: ${s.name}`,
      });
    }
  });
  return problems;
}

/** Every problem that would stop canaria from routing a release with these resources. */
export function routingTargetProblems(
  vs: VirtualService,
  dr: DestinationRule,
  istio: IstioRouting,
  options: { subsetLabelsManaged?: boolean } = {},
): RoutingProblem[] {
  const problems: RoutingProblem[] = [...misplacedWeights(vs)];
  const istioPath = ['spec', 'trafficRouting', 'istio'];
  const defined = (dr.spec.subsets ?? []).map((s) => s.name);
  for (const [field, subset] of [
    ['stableSubset', istio.stableSubset],
    ['canarySubset', istio.canarySubset],
  ] as const) {
    if (!defined.includes(subset)) {
      problems.push({
        rule: 'subset-missing',
        resource: 'CanaryRelease',
        path: [...istioPath, field],
        message: `subset ${subset} is not defined in DestinationRule ${dr.metadata.name} (it defines ${defined.length ? defined.join(', ') : 'no subsets'})`,
        fix: `add a subset named ${subset} with its version's labels to the DestinationRule, or fix trafficRouting.istio.${field}`,
      });
    }
  }
  // in managed mode canaria writes the two subsets' labels itself
  if (!options.subsetLabelsManaged) {
    problems.push(...overlappingSubsets(dr, [istio.stableSubset, istio.canarySubset]));
  }

  if (istio.weightTotal !== 100 && requiresWeightSum100(istio.istioVersion)) {
    problems.push({
      rule: 'weight-total',
      resource: 'CanaryRelease',
      path: [...istioPath, 'weightTotal'],
      message: `Istio ${istio.istioVersion ?? ''} requires the weights of a route to add up to 100, so weightTotal ${istio.weightTotal} cannot be written`,
      fix: 'use weightTotal: 100 (whole-percent steps), or upgrade Istio to 1.15 or later',
    });
  }

  const found = findManagedRoutes(vs, istio);
  if (!found.ok) {
    const { error } = found;
    problems.push({
      rule: 'managed-route',
      resource: 'VirtualService',
      path: pathOf(error.path),
      message: error.message,
      fix: error.fix,
    });
    return problems;
  }
  const vsNamespace = namespaceOf(vs);
  const drNamespace = namespaceOf(dr);
  for (const m of found.value) {
    const route = routeList(vs)[m.index];
    const destinations = route?.route ?? [];
    for (const j of [m.stable, m.canary]) {
      const host = j === undefined ? undefined : destinations[j]?.destination.host;
      if (j === undefined || host === undefined || sameHost(host, vsNamespace, dr.spec.host, drNamespace))
        continue;
      problems.push({
        rule: 'host-mismatch',
        resource: 'VirtualService',
        path: ['spec', 'http', m.index, 'route', j, 'destination', 'host'],
        message: `destination host ${host} (${qualifyHost(host, vsNamespace)}) is not the host of DestinationRule ${dr.metadata.name} (${qualifyHost(dr.spec.host, drNamespace)}), so its subsets do not apply`,
        fix: `use the same service in both; short names are read in the namespace of the resource that holds them`,
      });
    }
    const weights = effectiveWeights(destinations);
    const sum = weights.reduce((a, b) => a + b, 0);
    if (destinations.length > 1 && sum !== 100 && requiresWeightSum100(istio.istioVersion)) {
      problems.push({
        rule: 'weight-sum',
        resource: 'VirtualService',
        path: ['spec', 'http', m.index, 'route'],
        message: `the weights add up to ${sum}; Istio ${istio.istioVersion ?? ''} rejects a route whose weights do not add up to 100`,
        fix: 'make the weights add up to 100',
      });
    }
  }
  return problems;
}

/** `spec.http[1].route` -> ['spec', 'http', 1, 'route'] */
export function pathOf(path: string): PathSegments {
  return path.split('.').flatMap((part) => {
    const [key = '', ...indexes] = part.split(/\[|\]/).filter(Boolean);
    return [key, ...indexes.map(Number)];
  });
}

/**
 * The engine's "invalid configuration" check: can canaria route this release with this VirtualService and
 * DestinationRule? Paths name the resource, e.g. `VirtualService/reviews:spec.http[0].route[1].destination.weight`;
 * fields of the release itself are plain paths such as `spec.trafficRouting.istio.canarySubset`.
 */
export function validateRoutingTargets(
  vs: VirtualService,
  dr: DestinationRule,
  istio: IstioRouting,
  options: { subsetLabelsManaged?: boolean } = {},
): ValidationIssue[] {
  return routingTargetProblems(vs, dr, istio, options).map((p) => {
    const field = formatPath(p.path);
    const name = p.resource === 'VirtualService' ? vs.metadata.name : dr.metadata.name;
    return {
      path: p.resource === 'CanaryRelease' ? field : `${p.resource}/${name}:${field}`,
      message: `${p.message}; ${p.fix}`,
    };
  });
}
