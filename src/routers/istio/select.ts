import { gatewayMatches, hostMatchSpecificity, MESH } from './hosts.js';
import { namespaceOf, type VirtualService } from './types.js';

export type Selection =
  | { ok: true; value: VirtualService }
  /** `unbound`: no VirtualService routes the host there, a valid answer; `ambiguous`: several do. */
  | { ok: false; reason: 'unbound' | 'ambiguous'; message: string };

/** The gateways a VirtualService is bound to: its own list (the mesh by default) and those of its match blocks. */
function boundGateways(vs: VirtualService): string[] {
  const top = vs.spec.gateways?.length ? vs.spec.gateways : [MESH];
  const perMatch = (vs.spec.http ?? []).flatMap((r) => (r.match ?? []).flatMap((m) => m.gateways ?? []));
  return [...top, ...perMatch];
}

/**
 * The VirtualService that routes a request for `host` arriving at `gateway` (the mesh by default): among
 * those bound to that gateway, the one whose host names the request's host most specifically. Delegate
 * VirtualServices have no hosts and are never chosen here.
 */
export function selectVirtualService(
  candidates: readonly VirtualService[],
  request: { host: string; gateway?: string; namespace?: string },
): Selection {
  const gateway = request.gateway ?? MESH;
  let best: VirtualService[] = [];
  let bestScore = -1;
  for (const vs of candidates) {
    const namespace = namespaceOf(vs);
    if (!boundGateways(vs).some((g) => gatewayMatches(g, namespace, gateway))) continue;
    for (const host of vs.spec.hosts ?? []) {
      const score = hostMatchSpecificity(host, namespace, request.host, request.namespace ?? namespace);
      if (score === undefined || score < bestScore) continue;
      if (score > bestScore) best = [];
      bestScore = score;
      if (!best.includes(vs)) best.push(vs);
    }
  }
  const [only] = best;
  if (!only) {
    return {
      ok: false,
      reason: 'unbound',
      message: `no VirtualService binds host ${request.host} at ${gateway === MESH ? 'the mesh' : `gateway ${gateway}`}${gateway === MESH ? '; Istio sends the request to every pod of the Kubernetes Service, no subsets' : '; the gateway answers 404'}`,
    };
  }
  if (best.length > 1) {
    return {
      ok: false,
      reason: 'ambiguous',
      message: `${best.length} VirtualServices bind host ${request.host} equally: ${best.map((v) => `${namespaceOf(v)}/${v.metadata.name}`).join(', ')}; Istio merges them only at gateways, in creation order; give route-test one of them`,
    };
  }
  return { ok: true, value: only };
}
