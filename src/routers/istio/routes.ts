import type { IstioRouting } from '../../api/canary-release.js';
import type { HttpRoute, HttpRouteDestination, VirtualService } from './types.js';

/** Why canaria cannot work with a VirtualService as it is; editing the resource or the release fixes it. */
export type RoutingErrorCode =
  | 'route-not-found'
  | 'route-ambiguous'
  | 'named-route-missing'
  | 'subset-ambiguous'
  | 'mirror-conflict'
  | 'match-conflict'
  | 'weights-invalid';

export class IstioRoutingError extends Error {
  override readonly name = 'IstioRoutingError';
  /** Only an edit of the VirtualService or of the release helps; trying again does not. */
  readonly retryable = false;
  constructor(
    readonly code: RoutingErrorCode,
    /** YAML path of the offending field, e.g. `spec.http[1].route`. */
    readonly path: string,
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

export type RoutingResult<T> = { ok: true; value: T } | { ok: false; error: IstioRoutingError };

/** An http route whose weights canaria moves between the stable and the canary subset. */
export interface ManagedRoute {
  /** Index in `spec.http`. */
  index: number;
  name?: string;
  /** Index in the route's `route` list of the stable destination. */
  stable: number;
  /** Index of the canary destination; undefined until canaria adds it. */
  canary?: number;
}

// Routes canaria inserts for an A/B stage carry this name prefix, so it can find and remove them later
// and never mistakes them for routes of the user.
const OWNED_PREFIX = 'canaria-ab';

export function isCanariaRoute(route: HttpRoute): boolean {
  return route.name === OWNED_PREFIX || route.name?.startsWith(`${OWNED_PREFIX}-`) === true;
}

/** The name of the A/B route that canaria places in front of `managed`. */
export function abRouteName(managed: HttpRoute): string {
  return managed.name ? `${OWNED_PREFIX}-${managed.name}` : OWNED_PREFIX;
}

export const routeList = (vs: VirtualService): HttpRoute[] => vs.spec.http ?? [];

/** Istio before 1.15 rejects a route whose weights do not add up to 100 (istio/istio#39544 lifted that). */
export function requiresWeightSum100(istioVersion: string | undefined): boolean {
  if (istioVersion === undefined) return false;
  const [major = 0, minor = 0] = istioVersion.split('.').map(Number);
  return major < 1 || (major === 1 && minor < 15);
}

function fail<T>(code: RoutingErrorCode, path: string, message: string, fix: string): RoutingResult<T> {
  return { ok: false, error: new IstioRoutingError(code, path, message, fix) };
}

function subsetIndexes(route: HttpRoute, subset: string): number[] {
  const out: number[] = [];
  (route.route ?? []).forEach((d, i) => {
    if (d.destination.subset === subset) out.push(i);
  });
  return out;
}

function describeRoute(route: HttpRoute, index: number): string {
  return route.name ? `spec.http[${index}] (${route.name})` : `spec.http[${index}]`;
}

function toManaged(
  vs: VirtualService,
  route: HttpRoute,
  index: number,
  istio: IstioRouting,
): RoutingResult<ManagedRoute> {
  const stable = subsetIndexes(route, istio.stableSubset);
  const canary = subsetIndexes(route, istio.canarySubset);
  for (const [subset, found] of [
    [istio.stableSubset, stable],
    [istio.canarySubset, canary],
  ] as const) {
    if (found.length > 1) {
      return fail(
        'subset-ambiguous',
        `spec.http[${index}].route`,
        `${describeRoute(route, index)} of VirtualService ${vs.metadata.name} sends to subset ${subset} from ${found.length} destinations (route[${found.join('], route[')}])`,
        `keep one destination per subset in that route`,
      );
    }
  }
  const [stableIndex] = stable;
  if (stableIndex === undefined) {
    return fail(
      'route-not-found',
      `spec.http[${index}].route`,
      `${describeRoute(route, index)} of VirtualService ${vs.metadata.name} has no destination with the stable subset ${istio.stableSubset}`,
      `add a destination with subset: ${istio.stableSubset} to that route, or name another route in trafficRouting.istio.virtualService.routes`,
    );
  }
  const managed: ManagedRoute = { index, stable: stableIndex };
  if (route.name !== undefined) managed.name = route.name;
  if (canary[0] !== undefined) managed.canary = canary[0];
  return { ok: true, value: managed };
}

/**
 * The http routes canaria manages: those named in the release, or else the single route that sends
 * traffic to the stable subset. Routes canaria inserted itself are never managed routes.
 */
export function findManagedRoutes(vs: VirtualService, istio: IstioRouting): RoutingResult<ManagedRoute[]> {
  const routes = routeList(vs);
  const names = istio.virtualService.routes;
  if (names?.length) {
    const managed: ManagedRoute[] = [];
    for (const name of names) {
      const indexes = routes.flatMap((r, i) => (r.name === name && !isCanariaRoute(r) ? [i] : []));
      const [index] = indexes;
      if (index === undefined) {
        const known = routes.flatMap((r) => (r.name && !isCanariaRoute(r) ? [r.name] : []));
        return fail(
          'named-route-missing',
          'spec.http',
          `VirtualService ${vs.metadata.name} has no http route named "${name}" (named routes: ${known.length ? known.join(', ') : 'none'})`,
          `add name: ${name} to the route canaria should manage, or fix trafficRouting.istio.virtualService.routes`,
        );
      }
      if (indexes.length > 1) {
        return fail(
          'route-ambiguous',
          'spec.http',
          `VirtualService ${vs.metadata.name} has ${indexes.length} http routes named "${name}" (spec.http[${indexes.join('], spec.http[')}])`,
          'give each http route a unique name',
        );
      }
      const found = toManaged(vs, routes[index] ?? {}, index, istio);
      if (!found.ok) return found;
      managed.push(found.value);
    }
    return { ok: true, value: managed };
  }

  const candidates = routes.flatMap((r, i) =>
    !isCanariaRoute(r) && subsetIndexes(r, istio.stableSubset).length > 0 ? [i] : [],
  );
  const [only] = candidates;
  if (only === undefined) {
    const delegates = routes.flatMap((r, i) =>
      r.delegate
        ? [
            `spec.http[${i}] delegates to ${r.delegate.namespace ?? vs.metadata.namespace ?? 'default'}/${r.delegate.name}`,
          ]
        : [],
    );
    return fail(
      'route-not-found',
      'spec.http',
      `no http route of VirtualService ${vs.metadata.name} sends traffic to subset ${istio.stableSubset}${delegates.length ? `; ${delegates.join('; ')}` : ''}`,
      delegates.length
        ? 'set trafficRouting.istio.virtualService.name to the delegate VirtualService that holds the route'
        : `add a route with a destination subset: ${istio.stableSubset}, or fix trafficRouting.istio.stableSubset`,
    );
  }
  if (candidates.length > 1) {
    const listed = candidates.map((i) => describeRoute(routes[i] ?? {}, i)).join(', ');
    return fail(
      'route-ambiguous',
      'spec.http',
      `${candidates.length} http routes of VirtualService ${vs.metadata.name} send traffic to subset ${istio.stableSubset}: ${listed}`,
      'name the routes canaria should manage in trafficRouting.istio.virtualService.routes (give them a name: first if they have none)',
    );
  }
  const found = toManaged(vs, routes[only] ?? {}, only, istio);
  return found.ok ? { ok: true, value: [found.value] } : found;
}

/**
 * Weights as Istio applies them: a lone destination takes all traffic whatever its weight; among several,
 * an omitted weight is 0. A lone destination reads as `loneWeight` so that it compares with a weight total.
 */
export function effectiveWeights(destinations: readonly HttpRouteDestination[], loneWeight = 100): number[] {
  if (destinations.length === 1) return [loneWeight];
  return destinations.map((d) => d.weight ?? 0);
}

/** The weights of one managed route, in the units of the release's weight total. */
export interface RouteWeights {
  stableWeight: number;
  canaryWeight: number;
  /** Sum of all weights of the route (stable, canary and any other destination). */
  total: number;
}

export function readRouteWeights(route: HttpRoute, managed: ManagedRoute, weightTotal: number): RouteWeights {
  const weights = effectiveWeights(route.route ?? [], weightTotal);
  return {
    stableWeight: weights[managed.stable] ?? 0,
    canaryWeight: managed.canary === undefined ? 0 : (weights[managed.canary] ?? 0),
    total: weights.reduce((a, b) => a + b, 0),
  };
}

export interface RoutingReading extends RouteWeights {
  /** The canary's share of the managed route's traffic in percent, for the status. */
  canaryPercent: number;
  /** The A/B route canaria placed in front of the first managed route, if any. */
  matchRoute?: { name: string; stableWeight: number; canaryWeight: number };
  /** Share of requests mirrored to the canary, when canaria's mirror is set. */
  mirrorPercent?: number;
  /** False when the managed routes disagree; the values above are the first route's. */
  consistent: boolean;
}

/** Whether the route mirrors to the canary subset of the stable destination's host, as canaria writes it. */
export function mirrorsToCanary(route: HttpRoute, managed: ManagedRoute, istio: IstioRouting): boolean {
  const stableHost = route.route?.[managed.stable]?.destination.host;
  return route.mirror?.subset === istio.canarySubset && route.mirror.host === stableHost;
}

/** Istio mirrors everything when a mirror names no percentage. */
export function mirrorPercentOf(route: HttpRoute): number {
  return route.mirrorPercentage?.value ?? route.mirrorPercent ?? 100;
}

/** The weights, A/B route and mirror actually in the VirtualService: the status's "actual" routing. */
export function readRouting(vs: VirtualService, istio: IstioRouting): RoutingResult<RoutingReading> {
  const found = findManagedRoutes(vs, istio);
  if (!found.ok) return found;
  const routes = routeList(vs);
  const readings = found.value.map((m) => readRouteWeights(routes[m.index] ?? {}, m, istio.weightTotal));
  const [first] = found.value;
  const [weights] = readings;
  if (!first || !weights) return fail('route-not-found', 'spec.http', 'no managed route', '');
  const route = routes[first.index] ?? {};
  const reading: RoutingReading = {
    ...weights,
    canaryPercent: weights.total > 0 ? (weights.canaryWeight / weights.total) * 100 : 0,
    consistent: readings.every(
      (r) => r.stableWeight === weights.stableWeight && r.canaryWeight === weights.canaryWeight,
    ),
  };
  const abName = abRouteName(route);
  const ab = routes.find((r) => r.name === abName);
  if (ab) {
    const weightOf = (subset: string) => ab.route?.find((d) => d.destination.subset === subset)?.weight ?? 0;
    reading.matchRoute = {
      name: abName,
      stableWeight: weightOf(istio.stableSubset),
      canaryWeight: weightOf(istio.canarySubset),
    };
  }
  if (mirrorsToCanary(route, first, istio)) reading.mirrorPercent = mirrorPercentOf(route);
  return { ok: true, value: reading };
}
