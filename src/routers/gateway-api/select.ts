import type { HttpRoute } from './types.js';
import { parentKind } from './validate.js';

/*
 * Which HTTPRoutes serve a request, for route-test and the simulator. A route attaches to parents: a
 * Service (GAMMA: the mesh, in ambient mode the Service's waypoint) serves requests for that Service's
 * name; a Gateway serves requests that arrive there for one of the route's hostnames (any host when it
 * names none).
 */

export interface RouteTarget {
  /** The request's host: a Service name (`reviews`, `reviews.prod`, `reviews.prod.svc.cluster.local`) or a hostname. */
  host: string;
  /** The Gateway that receives it (`name` or `namespace/name`); absent: the mesh. */
  gateway?: string;
  /** The client's namespace, for a short Service name; default the route's. */
  namespace?: string;
}

const namespaceOf = (route: HttpRoute): string => route.metadata.namespace ?? 'default';

/** `reviews.prod.svc.cluster.local` -> {name: reviews, namespace: prod}; a short name has no namespace. */
export function serviceOfHost(host: string): { name: string; namespace?: string } {
  const labels = host
    .replace(/:\d+$/, '')
    .toLowerCase()
    .replace(/\.svc(\.cluster\.local)?$/, '')
    .split('.');
  const [name = '', namespace] = labels;
  return labels.length === 2 && namespace !== undefined ? { name, namespace } : { name };
}

function hostnameMatches(hostnames: readonly string[], host: string): boolean {
  if (!hostnames.length) return true;
  const h = host.replace(/:\d+$/, '').toLowerCase();
  return hostnames.some((name) => {
    const n = name.toLowerCase();
    return n.startsWith('*.') ? h.endsWith(n.slice(1)) && h.length > n.length - 1 : h === n;
  });
}

/** Whether `route` serves the request described by `target`. */
export function serves(route: HttpRoute, target: RouteTarget): boolean {
  const ns = namespaceOf(route);
  return (route.spec.parentRefs ?? []).some((ref) => {
    const parentNs = ref.namespace ?? ns;
    const kind = parentKind(ref);
    if (target.gateway === undefined) {
      if (kind !== 'Service') return false;
      const wanted = serviceOfHost(target.host);
      return ref.name === wanted.name && parentNs === (wanted.namespace ?? target.namespace ?? ns);
    }
    if (kind !== 'Gateway') return false;
    const [gwNs, gwName] = target.gateway.includes('/')
      ? target.gateway.split('/', 2)
      : [undefined, target.gateway];
    return (
      ref.name === gwName &&
      (gwNs === undefined || gwNs === parentNs) &&
      hostnameMatches(route.spec.hostnames ?? [], target.host)
    );
  });
}

/** The routes that serve the request, by namespace and name (Gateway API's last tie-breaker). */
export function selectHttpRoutes(routes: readonly HttpRoute[], target: RouteTarget): HttpRoute[] {
  return routes
    .filter((r) => serves(r, target))
    .sort((a, b) =>
      `${namespaceOf(a)}/${a.metadata.name}`.localeCompare(`${namespaceOf(b)}/${b.metadata.name}`),
    );
}
