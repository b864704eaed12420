import type { IstioRouting, RoutingState } from '../../api/canary-release.js';
import { applyJsonPatch, jsonEqual, toPointer, type JsonPatchOperation } from '../../kube/json-patch.js';
import { buildAbRoute } from './match-route.js';
import {
  abRouteName,
  findManagedRoutes,
  IstioRoutingError,
  mirrorsToCanary,
  mirrorPercentOf,
  readRouteWeights,
  requiresWeightSum100,
  routeList,
  type ManagedRoute,
  type RoutingResult,
} from './routes.js';
import type { VirtualService } from './types.js';

const httpPointer = (...tokens: (string | number)[]) => toPointer(['spec', 'http', ...tokens]);

function invalid(path: string, message: string, fix: string): RoutingResult<never> {
  return { ok: false, error: new IstioRoutingError('weights-invalid', path, message, fix) };
}

function checkDesired(
  vs: VirtualService,
  istio: IstioRouting,
  desired: RoutingState,
  managed: ManagedRoute[],
) {
  const { stableWeight, canaryWeight, total } = desired;
  if (![stableWeight, canaryWeight].every((w) => Number.isInteger(w) && w >= 0)) {
    return invalid(
      'spec.http',
      `weights must be whole numbers >= 0 (got ${stableWeight}/${canaryWeight})`,
      'convert percent to weight units with percentToUnits',
    );
  }
  if (total !== istio.weightTotal) {
    return invalid(
      'spec.http',
      `the desired weights are in units of ${total}, the release's trafficRouting.istio.weightTotal is ${istio.weightTotal}`,
      'compute the weights with the weight total of the release',
    );
  }
  for (const m of managed) {
    const route = routeList(vs)[m.index] ?? {};
    const others = (route.route ?? []).reduce(
      (sum, d, i) => (i === m.stable || i === m.canary ? sum : sum + (d.weight ?? 0)),
      0,
    );
    const sum = stableWeight + canaryWeight + others;
    if (requiresWeightSum100(istio.istioVersion) && sum !== 100) {
      return invalid(
        `spec.http[${m.index}].route`,
        `Istio ${istio.istioVersion ?? ''} rejects weights that add up to ${sum}; before 1.15 they must add up to 100`,
        'use trafficRouting.istio.weightTotal: 100 or upgrade Istio to 1.15 or later',
      );
    }
    if (sum === 0) {
      return invalid(
        `spec.http[${m.index}].route`,
        'all weights of the route would be 0: no destination would get traffic (Istio rejects "total destination weight = 0")',
        'give the stable or the canary a weight above 0',
      );
    }
  }
  return undefined;
}

/**
 * Tests that the route at `managed.index` is still the managed route, not one someone put in its place.
 * A named route is its name (names are unique among the routes canaria manages). An unnamed one was
 * picked as the only route to the stable subset, so what identifies it is the whole list it was picked
 * from: any route inserted, removed or moved in front of it changes that.
 */
export function identityGuard(vs: VirtualService, managed: ManagedRoute): JsonPatchOperation {
  const route = routeList(vs)[managed.index];
  return route?.name !== undefined
    ? { op: 'test', path: httpPointer(managed.index, 'name'), value: route.name }
    : { op: 'test', path: toPointer(['spec', 'http']), value: routeList(vs) };
}

/** Weight and mirror operations for one managed route, guarded by a test of everything they read. */
function routeOperations(
  vs: VirtualService,
  managed: ManagedRoute,
  istio: IstioRouting,
  desired: RoutingState,
): RoutingResult<JsonPatchOperation[]> {
  const route = routeList(vs)[managed.index] ?? {};
  const i = managed.index;
  const destinations = route.route ?? [];
  const ops: JsonPatchOperation[] = [];
  const current = readRouteWeights(route, managed, istio.weightTotal);
  if (current.stableWeight !== desired.stableWeight || current.canaryWeight !== desired.canaryWeight) {
    const setWeight = (j: number, weight: number) => {
      const before = destinations[j]?.weight;
      if (before !== weight) {
        ops.push({
          op: before === undefined ? 'add' : 'replace',
          path: httpPointer(i, 'route', j, 'weight'),
          value: weight,
        });
      }
    };
    setWeight(managed.stable, desired.stableWeight);
    if (managed.canary !== undefined) {
      setWeight(managed.canary, desired.canaryWeight);
    } else if (desired.canaryWeight > 0) {
      const stable = destinations[managed.stable];
      ops.push({
        op: 'add',
        path: httpPointer(i, 'route', '-'),
        value: {
          destination: { ...stable?.destination, subset: istio.canarySubset },
          weight: desired.canaryWeight,
        },
      });
    }
  }

  const wantMirror = desired.mirrorPercent !== undefined && desired.mirrorPercent > 0;
  const ours = mirrorsToCanary(route, managed, istio);
  const mirrorOps: JsonPatchOperation[] = [];
  if (route.mirror && !ours && wantMirror) {
    return {
      ok: false,
      error: new IstioRoutingError(
        'mirror-conflict',
        `spec.http[${i}].mirror`,
        `spec.http[${i}] already mirrors to ${route.mirror.host}${route.mirror.subset ? ` subset ${route.mirror.subset}` : ''}; canaria will not replace a mirror it did not set`,
        'remove that mirror, or drop the mirror step from the release',
      ),
    };
  }
  if (wantMirror && !ours) {
    const stable = destinations[managed.stable]?.destination;
    const mirror: Record<string, unknown> = { host: stable?.host, subset: istio.canarySubset };
    if (stable?.port) mirror.port = stable.port;
    mirrorOps.push({ op: 'add', path: httpPointer(i, 'mirror'), value: mirror });
    mirrorOps.push({
      op: 'add',
      path: httpPointer(i, 'mirrorPercentage'),
      value: { value: desired.mirrorPercent },
    });
  } else if (
    wantMirror &&
    (route.mirrorPercentage === undefined || mirrorPercentOf(route) !== desired.mirrorPercent)
  ) {
    mirrorOps.push({
      op: 'add',
      path: httpPointer(i, 'mirrorPercentage'),
      value: { value: desired.mirrorPercent },
    });
    if (route.mirrorPercent !== undefined)
      mirrorOps.push({ op: 'remove', path: httpPointer(i, 'mirrorPercent') });
  } else if (!wantMirror && ours) {
    mirrorOps.push({ op: 'remove', path: httpPointer(i, 'mirror') });
    for (const field of ['mirrorPercentage', 'mirrorPercent'] as const) {
      if (route[field] !== undefined) mirrorOps.push({ op: 'remove', path: httpPointer(i, field) });
    }
  }

  if (!ops.length && !mirrorOps.length) return { ok: true, value: [] };
  // First that this is still the managed route (the same destinations may sit in a user's route put in
  // front of it); then what the operations read. A mirror change reads fields that may be absent, and
  // JSON patch cannot test for absence: guard the whole route then. Weight changes read the destinations.
  const identity = identityGuard(vs, managed);
  const guards: JsonPatchOperation[] =
    identity.path === toPointer(['spec', 'http'])
      ? [identity]
      : [
          identity,
          mirrorOps.length
            ? { op: 'test', path: httpPointer(i), value: route }
            : { op: 'test', path: httpPointer(i, 'route'), value: destinations },
        ];
  return { ok: true, value: [...guards, ...ops, ...mirrorOps] };
}

/**
 * The JSON patch that brings the managed routes of `vs` to `desired`: weights, the A/B route of a match
 * stage and the mirror. Every value the plan read is guarded by a `test` operation, so a concurrent edit
 * makes the API server reject the patch instead of losing that edit. Nothing else in the resource is
 * touched. An empty list means the VirtualService already is as desired.
 */
export function planRoutingPatch(
  vs: VirtualService,
  istio: IstioRouting,
  desired: RoutingState,
): RoutingResult<JsonPatchOperation[]> {
  const found = findManagedRoutes(vs, istio);
  if (!found.ok) return found;
  const problem = checkDesired(vs, istio, desired, found.value);
  if (problem) return problem;

  // Each phase plans against the document as the previous phases left it, so the pointers of later
  // operations stay right when an A/B route is removed or inserted in front of a managed route.
  const ops: JsonPatchOperation[] = [];
  let doc = vs;
  const emit = (more: JsonPatchOperation[]) => {
    if (!more.length) return;
    // copies, so that the plan does not share objects with the caller's resource
    ops.push(...more.map((op) => ('value' in op ? { ...op, value: structuredClone(op.value) } : op)));
    doc = applyJsonPatch(doc, more);
  };
  const managedNow = (): ManagedRoute[] => {
    const again = findManagedRoutes(doc, istio);
    return again.ok ? [...again.value].sort((a, b) => b.index - a.index) : [];
  };

  // 1. Remove our A/B routes that the stage no longer wants or that are not right in front of their route.
  const wanted = new Map(found.value.map((m) => [abRouteName(routeList(vs)[m.index] ?? {}), m.index]));
  const stale = routeList(vs)
    .map((route, k) => ({ route, k }))
    .filter(({ route, k }) => {
      const target = route.name === undefined ? undefined : wanted.get(route.name);
      return target !== undefined && (!desired.match || k !== target - 1);
    })
    .reverse();
  for (const { route, k } of stale) {
    emit([
      { op: 'test', path: httpPointer(k), value: route },
      { op: 'remove', path: httpPointer(k) },
    ]);
  }

  // 2. Weights and mirror of each managed route.
  for (const m of managedNow()) {
    const planned = routeOperations(doc, m, istio, desired);
    if (!planned.ok) return planned;
    emit(planned.value);
  }

  // 3. Insert or update the A/B route in front of each managed route, last route first.
  if (desired.match) {
    for (const m of managedNow()) {
      const route = routeList(doc)[m.index] ?? {};
      const built = buildAbRoute(route, m, desired.match, istio);
      if (!built.ok) return built;
      const existing = routeList(doc)[m.index - 1];
      // the A/B route copies the managed route's behaviour: guard all of it, and that it is the managed one
      const guards: JsonPatchOperation[] = [
        identityGuard(doc, m),
        { op: 'test', path: httpPointer(m.index), value: route },
      ];
      if (existing?.name === built.value.name) {
        if (!jsonEqual(existing, built.value)) {
          emit([
            ...guards,
            { op: 'test', path: httpPointer(m.index - 1), value: existing },
            { op: 'replace', path: httpPointer(m.index - 1), value: built.value },
          ]);
        }
      } else {
        emit([...guards, { op: 'add', path: httpPointer(m.index), value: built.value }]);
      }
    }
  }
  return { ok: true, value: ops };
}
