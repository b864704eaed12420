import { gatewayMatches, MESH, sameHost } from './hosts.js';
import { requestParts } from '../http-match.js';
import { effectiveWeights, mirrorPercentOf } from './routes.js';
import { describeStringMatch, isPresenceMatch, matchesString } from './string-match.js';
import {
  namespaceOf,
  type DestinationRule,
  type HttpMatchRequest,
  type HttpRoute,
  type StringMatch,
  type VirtualService,
} from './types.js';

/** A request as a client sends it; the route evaluator tells where Istio sends it. */
export interface RouteRequest {
  host: string;
  /** The gateway that receives the request (`name` or `namespace/name`); omitted or `mesh` for a sidecar. */
  gateway?: string;
  /** Path, optionally with a query string. Default `/`. */
  uri?: string;
  /** Default GET. */
  method?: string;
  /** Default http. */
  scheme?: string;
  port?: number;
  headers?: Readonly<Record<string, string>>;
  /** Sent as one `cookie` header, as browsers do. */
  cookies?: Readonly<Record<string, string>>;
  /** Added to those of the uri's query string. */
  queryParams?: Readonly<Record<string, string>>;
}

export interface RoutedDestination {
  host: string;
  subset?: string;
  port?: number;
  /** The weight Istio applies: omitted counts as 0 beside other destinations, a lone destination takes all. */
  weight: number;
  /** Share of the route's requests, in percent. */
  percent: number;
  /** Pod labels of the subset, from the DestinationRule. */
  labels?: Record<string, string>;
}

export type RouteEvaluation =
  | {
      kind: 'matched';
      virtualService: string;
      /** Index in `spec.http` of the route that took the request. */
      index: number;
      /** `spec.http[1]`, or `spec.http[0] > ns/delegate spec.http[2]` through a delegate. */
      path: string;
      name?: string;
      /** The match block that fired, e.g. `headers end-user exact testuser`; `no conditions` for a catch-all. */
      matched: string;
      action: 'route' | 'redirect' | 'direct-response';
      destinations: RoutedDestination[];
      mirror?: { host: string; subset?: string; percent: number };
      /** Caveats: what the evaluator could not check, and configuration Istio would reject. */
      notes: string[];
    }
  | {
      /** Istio answers 404. */
      kind: 'no-match';
      virtualService: string;
      notes: string[];
    };

interface NormalizedRequest {
  gateway: string;
  path: string;
  method: string;
  scheme: string;
  authority: string;
  port: number | undefined;
  headers: Map<string, string>;
  query: Map<string, string>;
}

function normalize(request: RouteRequest): NormalizedRequest {
  const { path, headers, query } = requestParts(request);
  return {
    gateway: request.gateway ?? MESH,
    path,
    method: request.method ?? 'GET',
    scheme: request.scheme ?? 'http',
    authority: headers.get(':authority') ?? request.host,
    port: request.port,
    headers,
    query,
  };
}

function describeMap(what: string, map: Record<string, StringMatch> | undefined): string[] {
  return Object.entries(map ?? {}).map(([k, m]) => `${what} ${k} ${describeStringMatch(m)}`);
}

export function describeMatch(block: HttpMatchRequest): string {
  const parts = [
    ...(['uri', 'scheme', 'method', 'authority'] as const).flatMap((k) => {
      const m = block[k];
      return m ? [`${k} ${describeStringMatch(m)}`] : [];
    }),
    ...describeMap('headers', block.headers),
    ...describeMap('withoutHeaders', block.withoutHeaders),
    ...describeMap('queryParams', block.queryParams),
    ...(block.port !== undefined ? [`port ${block.port}`] : []),
    ...(block.gateways?.length ? [`gateways ${block.gateways.join(' ')}`] : []),
  ];
  return parts.length ? parts.join(', ') : 'no conditions';
}

function blockMatches(block: HttpMatchRequest, req: NormalizedRequest, notes: Set<string>): boolean {
  const checks: boolean[] = [];
  if (block.uri) checks.push(matchesString(block.uri, req.path, block.ignoreUriCase === true));
  if (block.scheme) checks.push(matchesString(block.scheme, req.scheme));
  if (block.method) checks.push(matchesString(block.method, req.method));
  if (block.authority) checks.push(matchesString(block.authority, req.authority));
  for (const [name, m] of Object.entries(block.headers ?? {})) {
    checks.push(matchesString(m, req.headers.get(name.toLowerCase())));
  }
  for (const [name, m] of Object.entries(block.withoutHeaders ?? {})) {
    const value = req.headers.get(name.toLowerCase());
    // Envoy inverts the match and treats a missing header as empty, except for a presence match
    checks.push(isPresenceMatch(m) ? value === undefined : !matchesString(m, value ?? ''));
  }
  for (const [name, m] of Object.entries(block.queryParams ?? {})) {
    checks.push(matchesString(m, req.query.get(name)));
  }
  if (block.port !== undefined) {
    if (req.port === undefined)
      notes.add(`the request names no port; the condition port ${block.port} was assumed to hold`);
    else checks.push(block.port === req.port);
  }
  if (block.sourceLabels || block.sourceNamespace) {
    notes.add('sourceLabels and sourceNamespace depend on the calling workload and were not checked');
  }
  return checks.every(Boolean);
}

/** The first match block that applies at the request's gateway and holds, or undefined. */
function matchRoute(
  route: HttpRoute,
  vsGateways: readonly string[],
  namespace: string,
  req: NormalizedRequest,
  notes: Set<string>,
): string | undefined {
  const boundHere = (gateways: readonly string[]) =>
    gateways.some((g) => gatewayMatches(g, namespace, req.gateway));
  if (!route.match?.length) return boundHere(vsGateways) ? 'no conditions' : undefined;
  for (const block of route.match) {
    // gateways on a match block replace the VirtualService's for that block
    if (!boundHere(block.gateways?.length ? block.gateways : vsGateways)) continue;
    if (blockMatches(block, req, notes)) return describeMatch(block);
  }
  return undefined;
}

function routedDestinations(
  route: HttpRoute,
  vsNamespace: string,
  destinationRules: readonly DestinationRule[],
  path: string,
  notes: Set<string>,
): RoutedDestination[] {
  const entries = route.route ?? [];
  const weights = effectiveWeights(entries);
  const total = weights.reduce((a, b) => a + b, 0);
  if (entries.length > 1 && total === 0) {
    notes.add(
      `${path}: every weight is 0 (or missing), which Istio rejects ("total destination weight = 0")`,
    );
  }
  return entries.map((entry, j) => {
    const d = entry.destination;
    if ('weight' in d) {
      notes.add(
        `${path}.route[${j}].destination.weight is not an Istio field, Istio rejects the VirtualService; move weight up beside destination`,
      );
    }
    const weight = weights[j] ?? 0;
    const out: RoutedDestination = { host: d.host, weight, percent: total > 0 ? (weight / total) * 100 : 0 };
    if (d.subset !== undefined) out.subset = d.subset;
    if (d.port?.number !== undefined) out.port = d.port.number;
    if (d.subset !== undefined) {
      const rule = destinationRules.find((dr) =>
        sameHost(dr.spec.host, namespaceOf(dr), d.host, vsNamespace),
      );
      const subset = rule?.spec.subsets?.find((s) => s.name === d.subset);
      if (subset?.labels) out.labels = subset.labels;
      if (!subset) {
        notes.add(
          rule
            ? `subset ${d.subset} is not defined in DestinationRule ${rule.metadata.name}: Istio answers 503 for its share`
            : `no DestinationRule for host ${d.host} was given, so subset ${d.subset} could not be checked`,
        );
      }
    }
    return out;
  });
}

/**
 * Where Istio sends `request` by the http routes of `vs`: the first route with a match block that holds
 * (blocks are ORed, conditions within a block ANDed), and its destinations with their shares.
 * `delegates` are the VirtualServices that routes with `delegate` point to.
 */
export function evaluateRoute(
  vs: VirtualService,
  destinationRules: readonly DestinationRule[],
  request: RouteRequest,
  delegates: readonly VirtualService[] = [],
): RouteEvaluation {
  const namespace = namespaceOf(vs);
  const vsGateways = vs.spec.gateways?.length ? vs.spec.gateways : [MESH];
  const req = normalize(request);
  const notes = new Set<string>();
  const name = `${namespace}/${vs.metadata.name}`;

  const routes = (vs.spec.http ?? []).map((route, index) => ({ route, index, path: `spec.http[${index}]` }));
  for (const { route, index, path } of routes) {
    const matched = matchRoute(route, vsGateways, namespace, req, notes);
    if (matched === undefined) continue;
    let taken = { route, path, matched, namespace };
    if (route.delegate) {
      const ref = route.delegate;
      const delegateNamespace = ref.namespace ?? namespace;
      const target = delegates.find(
        (d) => d.metadata.name === ref.name && namespaceOf(d) === delegateNamespace,
      );
      if (!target) {
        notes.add(
          `${path} delegates to ${delegateNamespace}/${ref.name}, which was not given; its routes were skipped`,
        );
        continue;
      }
      // the delegate's routes apply under the root's gateways, and only after the root route matched
      const inner = (target.spec.http ?? [])
        .map((r, j) => ({ r, j, m: matchRoute(r, vsGateways, delegateNamespace, req, notes) }))
        .find((x) => x.m !== undefined);
      if (!inner?.m) continue;
      taken = {
        route: inner.r,
        path: `${path} > ${delegateNamespace}/${ref.name} spec.http[${inner.j}]`,
        matched: [matched, inner.m].filter((m) => m !== 'no conditions').join(', ') || 'no conditions',
        namespace: delegateNamespace,
      };
    }
    const result: RouteEvaluation = {
      kind: 'matched',
      virtualService: name,
      index,
      path: taken.path,
      matched: taken.matched,
      action: taken.route.redirect ? 'redirect' : taken.route.directResponse ? 'direct-response' : 'route',
      destinations: routedDestinations(taken.route, taken.namespace, destinationRules, taken.path, notes),
      notes: [],
    };
    if (taken.route.name !== undefined) result.name = taken.route.name;
    const mirror = taken.route.mirror;
    if (mirror) {
      result.mirror = { host: mirror.host, percent: mirrorPercentOf(taken.route) };
      if (mirror.subset !== undefined) result.mirror.subset = mirror.subset;
    }
    result.notes = [...notes];
    return result;
  }
  return { kind: 'no-match', virtualService: name, notes: [...notes] };
}

/**
 * The destination a request goes to, given a uniform random number in [0, 1): what Envoy's weighted
 * cluster choice does. Undefined when no destination has a weight.
 */
export function pickDestination(
  destinations: readonly RoutedDestination[],
  random: number,
): RoutedDestination | undefined {
  const total = destinations.reduce((sum, d) => sum + d.weight, 0);
  let threshold = random * total;
  for (const d of destinations) {
    if (d.weight <= 0) continue;
    if (threshold < d.weight) return d;
    threshold -= d.weight;
  }
  return destinations.findLast((d) => d.weight > 0);
}
