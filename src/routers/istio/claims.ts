import type { CanaryReleaseSpec } from '../../api/canary-release.js';
import { parseCanaryReleaseSpec, type ValidationIssue } from '../../api/validation.js';
import { findManagedRoutes } from './routes.js';
import type { VirtualService } from './types.js';
import type { KubePort } from '../../kube/port.js';
import type { KubeObject } from '../../kube/resources.js';

/** Who came first: the older release, then (for the same second) the name that sorts first. */
function claimedBefore(a: KubeObject, b: KubeObject): boolean {
  const at = (o: KubeObject) => Date.parse(o.metadata.creationTimestamp ?? '') || 0;
  if (at(a) !== at(b)) return at(a) < at(b);
  return a.metadata.name < b.metadata.name;
}

const vsNameOf = (object: KubeObject): unknown =>
  (object.spec as { trafficRouting?: { istio?: { virtualService?: { name?: unknown } } } } | undefined)
    ?.trafficRouting?.istio?.virtualService?.name;

/**
 * One release per route. Two releases that move the weights of one VirtualService route fight over it
 * for ever (each undoes the other's patch), so the route belongs to the release that claimed it first
 * (by creation time, then name) and any later one is refused with an issue that names it. Routes are
 * compared as each release finds its managed routes in the VirtualService as it is now, so releases on
 * different routes of one VirtualService live side by side.
 */
export function routeClaimIssue(
  kube: KubePort,
  namespace: string,
  release: string,
  spec: CanaryReleaseSpec,
  vs: VirtualService | undefined,
): ValidationIssue | undefined {
  const istio = spec.trafficRouting.istio;
  if (!vs || !istio) return undefined;
  const mine = findManagedRoutes(vs, istio);
  if (!mine.ok) return undefined; // reported where the routes are read
  const all = kube.list('CanaryRelease', namespace);
  const self = all.find((o) => o.metadata.name === release);
  if (!self) return undefined;
  const vsName = istio.virtualService.name;
  const earlier = all
    .filter((o) => o.metadata.name !== release && vsNameOf(o) === vsName && claimedBefore(o, self))
    .sort((a, b) => (claimedBefore(a, b) ? -1 : 1));
  for (const other of earlier) {
    const parsed = parseCanaryReleaseSpec(other.spec);
    const their = parsed.ok ? parsed.value.trafficRouting.istio : undefined;
    if (!their) continue; // a release that does not parse manages nothing
    const theirs = findManagedRoutes(vs, their);
    if (!theirs.ok) continue;
    const shared = mine.value.find((m) => theirs.value.some((t) => t.index === m.index));
    if (!shared) continue;
    const which = shared.name !== undefined ? `route "${shared.name}"` : `route spec.http[${shared.index}]`;
    return {
      path: 'spec.trafficRouting.istio.virtualService',
      message: `CanaryRelease "${other.metadata.name}" already manages ${which} of VirtualService ${vsName} (it was created first); two releases on one route would undo each other's weights, so this one patches nothing: delete one of them, or point this one at another route with trafficRouting.istio.virtualService.routes`,
    };
  }
  return undefined;
}
