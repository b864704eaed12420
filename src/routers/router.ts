import type { CanaryReleaseSpec, RoutingState } from '../api/canary-release.js';
import type { ObservedRouting } from '../api/routing.js';
import type { RouterKey } from '../api/routers.js';
import type { ValidationIssue } from '../api/validation.js';
import type { KubePort } from '../kube/port.js';
import { KubeError } from '../kube/errors.js';
import type { JsonPatchOperation } from '../kube/json-patch.js';
import { refOf, type Kind, type KubeObject } from '../kube/resources.js';

/*
 * The traffic-router port. A router owns one section of `spec.trafficRouting` and the objects it
 * names: it reads them from the caches, says what split they show, and patches them to the split the
 * engine wants. The engine never sees a router: it gets the observed split and answers with a
 * RoutingState. Adding a router is a folder beside istio/ and gateway-api/ and one line in
 * registry.ts.
 */

/** The release's two sides, as the router and the controller name them. */
export type Side = 'stable' | 'canary';

/** What came of asking the router for a split. */
export type RouteOutcome =
  | { kind: 'unchanged' }
  | { kind: 'patched'; object: string }
  /** Someone changed the routing object since the cache saw it: read again and plan again. */
  | { kind: 'conflict'; object: string; message: string }
  /** The routing object cannot take the split (it changed shape); says what to fix. */
  | { kind: 'unplannable'; message: string };

/**
 * Managed mode: how the router points each side at the pods canaria runs for it (DestinationRule
 * subset labels, or the `-primary` and `-canary` Services).
 */
export interface SideSelection {
  /** Whether both sides already select what they should. */
  readonly pointed: boolean;
  /** What pointing them means, for logs: the labels or the Services. */
  readonly describe: Record<string, unknown>;
  /** What stands in the way of pointing them (an object of that name that is not canaria's). */
  readonly issue?: ValidationIssue;
  /** Writes what makes `pointed` true; an issue when an object in the way is not canaria's. */
  point(kube: KubePort): Promise<void>;
}

/** One reconcile's reading of a release's routing. */
export interface RoutingView {
  /** What makes the routing unusable: objects missing, invalid, or claimed by another release. */
  readonly issues: ValidationIssue[];
  /** The split the routing shows; undefined while it cannot be read. */
  readonly actual?: ObservedRouting;
  /** The Services Istio reports each side's requests under (`destination_service_name`). */
  readonly services: Record<Side, string>;
  /** Subsets mode: the pod labels that pick each side's Deployment; undefined when unknown. */
  podLabels(side: Side): Record<string, string> | undefined;
  /** Patches the routing to show `routing`; only what canaria owns, guarded by JSON-patch tests. */
  route(kube: KubePort, routing: RoutingState): Promise<RouteOutcome>;
  /**
   * Managed mode: the selection of each side, given the pod label that tells revisions apart and the
   * canary's value of it. Undefined while the routing objects it needs are missing.
   */
  selection?(revisionKey: string, canaryValue: string): SideSelection | undefined;
}

export interface ObserveContext {
  /** The release's name; what canaria creates for it carries it. */
  readonly release: string;
  /** The release object, for owner references of what the router creates. */
  readonly object?: KubeObject;
}

export interface TrafficRouter {
  /** Its key in `spec.trafficRouting`, e.g. `istio`. */
  readonly key: RouterKey;
  /** The kinds it reads: the controller watches them, and the chart grants access to them. */
  readonly kinds: readonly Kind[];
  /**
   * Whether a release points at `kind`/`name`, so that an event of that object wakes it. `spec` is the
   * release's raw spec, which may not parse yet.
   */
  references(spec: unknown, kind: Kind, name: string): boolean;
  observe(kube: KubePort, namespace: string, spec: CanaryReleaseSpec, context: ObserveContext): RoutingView;
}

export { ROUTER_KEYS, type RouterKey } from '../api/routers.js';

/** A spec's router section, read loosely: events route by it before a spec parses. */
export function looseSection(spec: unknown, key: RouterKey): Record<string, unknown> | undefined {
  const routing = (spec as { trafficRouting?: Record<string, unknown> } | undefined)?.trafficRouting;
  const section = routing?.[key];
  return section !== null && typeof section === 'object' ? (section as Record<string, unknown>) : undefined;
}

/**
 * Applies a router's planned patch of its routing object. A Conflict (a `test` failed: someone edited
 * the object since the cache saw it) is an outcome, not an error: the controller reads and plans again.
 */
export async function applyRoutingPatch(
  kube: KubePort,
  kind: Kind,
  object: KubeObject,
  plan: { ok: true; value: JsonPatchOperation[] } | { ok: false; error: { message: string; fix?: string } },
): Promise<RouteOutcome> {
  if (!plan.ok) {
    const { message, fix } = plan.error;
    return { kind: 'unplannable', message: fix ? `${message}; ${fix}` : message };
  }
  if (!plan.value.length) return { kind: 'unchanged' };
  const what = `${kind} ${object.metadata.name}`;
  try {
    await kube.patch(kind, refOf(object), plan.value);
    return { kind: 'patched', object: what };
  } catch (err) {
    if (err instanceof KubeError && err.code === 'Conflict')
      return { kind: 'conflict', object: what, message: err.message };
    throw err;
  }
}
