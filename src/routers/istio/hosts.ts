/*
 * Host and gateway names as Istio resolves them. A short host such as `reviews` means
 * `reviews.<namespace of the resource>.svc.cluster.local`: Istio interprets it in the namespace of the
 * rule that names it, not of the service. Gateways are `<namespace>/<name>`, the namespace defaulting to
 * the VirtualService's; `mesh` means every sidecar.
 */

export const MESH = 'mesh';

const CLUSTER_DOMAIN = 'svc.cluster.local';

function withoutPort(host: string): string {
  return host.replace(/:\d+$/, '').toLowerCase();
}

/** The fully qualified form of a host named in a resource of `namespace`. */
export function qualifyHost(host: string, namespace: string): string {
  const bare = withoutPort(host);
  return bare.includes('.') || bare.includes('*') ? bare : `${bare}.${namespace}.${CLUSTER_DOMAIN}`;
}

/** Whether two hosts, each named in a resource of its own namespace, are the same service. */
export function sameHost(a: string, aNamespace: string, b: string, bNamespace: string): boolean {
  return qualifyHost(a, aNamespace) === qualifyHost(b, bNamespace);
}

/**
 * The names a client's request host can stand for: the DNS search path of a pod turns `reviews`,
 * `reviews.ns` and `reviews.ns.svc` into the service's full name.
 */
function requestHostForms(host: string, namespace: string): string[] {
  const bare = withoutPort(host);
  const labels = bare.split('.');
  if (labels.length === 2) return [bare, `${bare}.${CLUSTER_DOMAIN}`];
  if (labels.length === 3 && labels[2] === 'svc') return [bare, `${bare}.cluster.local`];
  return [qualifyHost(bare, namespace)];
}

/**
 * How specifically a VirtualService host matches a request host, or undefined when it does not:
 * an exact name beats any wildcard, and a longer wildcard suffix beats a shorter one (`*` is weakest).
 */
export function hostMatchSpecificity(
  vsHost: string,
  vsNamespace: string,
  requestHost: string,
  requestNamespace: string,
): number | undefined {
  const pattern = qualifyHost(vsHost, vsNamespace);
  const forms = requestHostForms(requestHost, requestNamespace);
  if (pattern === '*') return 0;
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1);
    return forms.some((f) => f.endsWith(suffix)) ? suffix.length : undefined;
  }
  return forms.includes(pattern) ? Number.MAX_SAFE_INTEGER : undefined;
}

/** Whether a gateway reference in a VirtualService of `vsNamespace` names the request's gateway. */
export function gatewayMatches(reference: string, vsNamespace: string, requestGateway: string): boolean {
  if (reference === MESH || requestGateway === MESH) return reference === requestGateway;
  const qualified = reference.includes('/') ? reference : `${vsNamespace}/${reference}`;
  return requestGateway.includes('/')
    ? qualified === requestGateway
    : qualified.slice(qualified.indexOf('/') + 1) === requestGateway;
}
