import type { RoutingState } from '../../api/canary-release.js';
import type { ResolvedGatewayApiRouting } from '../../api/gateway-api.js';
import { applyJsonPatch, jsonEqual, toPointer, type JsonPatchOperation } from '../../kube/json-patch.js';
import { buildAbRule, canaryFrom, withDefaults } from './match-rule.js';
import {
  abRuleName,
  canaryMirror,
  fail,
  findManagedRule,
  mirrorPercentOf,
  readRuleWeights,
  ruleList,
  weightOf,
  type ManagedRule,
  type RoutingResult,
} from './routes.js';
import type { HttpRoute, RouteFilter } from './types.js';

const rulePointer = (...tokens: (string | number)[]) => toPointer(['spec', 'rules', ...tokens]);

function checkDesired(
  route: HttpRoute,
  spec: ResolvedGatewayApiRouting,
  desired: RoutingState,
  managed: ManagedRule,
): RoutingResult<never> | undefined {
  const { stableWeight, canaryWeight, total } = desired;
  if (![stableWeight, canaryWeight].every((w) => Number.isInteger(w) && w >= 0)) {
    return fail(
      'weights-invalid',
      'spec.rules',
      `weights must be whole numbers >= 0 (got ${stableWeight}/${canaryWeight})`,
      'convert percent to weight units with percentToUnits',
    );
  }
  if (total !== spec.weightTotal) {
    return fail(
      'weights-invalid',
      'spec.rules',
      `the desired weights are in units of ${total}, the release's trafficRouting.gatewayAPI.weightTotal is ${spec.weightTotal}`,
      'compute the weights with the weight total of the release',
    );
  }
  const refs = ruleList(route)[managed.index]?.backendRefs ?? [];
  const others = refs.reduce(
    (sum, ref, i) => (i === managed.stable || i === managed.canary ? sum : sum + weightOf(ref)),
    0,
  );
  if (stableWeight + canaryWeight + others === 0) {
    return fail(
      'weights-invalid',
      `spec.rules[${managed.index}].backendRefs`,
      'all weights of the rule would be 0: Gateway API answers every request with 500',
      'give the stable or the canary a weight above 0',
    );
  }
  return undefined;
}

/**
 * Tests that the rule at `managed.index` is still the managed rule. A named rule is its name (rule
 * names are unique in a route). An unnamed one was picked from the whole list (by index or as the only
 * rule to the stable Service): any rule inserted, removed or moved in front of it changes that list.
 */
export function identityGuard(route: HttpRoute, managed: ManagedRule): JsonPatchOperation {
  const rule = ruleList(route)[managed.index];
  return rule?.name !== undefined
    ? { op: 'test', path: rulePointer(managed.index, 'name'), value: rule.name }
    : { op: 'test', path: rulePointer(), value: ruleList(route) };
}

/** The RequestMirror filter canaria writes: percent when whole, else a fraction of a million. */
function mirrorFilter(
  stable: { port?: number | undefined },
  spec: ResolvedGatewayApiRouting,
  percent: number,
) {
  const backendRef: Record<string, unknown> = { group: '', kind: 'Service', name: spec.canaryService };
  if (stable.port !== undefined) backendRef.port = stable.port;
  return {
    type: 'RequestMirror',
    requestMirror: {
      backendRef,
      ...(Number.isInteger(percent)
        ? { percent }
        : { fraction: { numerator: Math.round(percent * 10_000), denominator: 1_000_000 } }),
    },
  };
}

/** Weight and mirror operations for the managed rule, guarded by a test of everything they read. */
function ruleOperations(
  route: HttpRoute,
  managed: ManagedRule,
  spec: ResolvedGatewayApiRouting,
  desired: RoutingState,
): JsonPatchOperation[] {
  const i = managed.index;
  const rule = ruleList(route)[i] ?? {};
  const refs = rule.backendRefs ?? [];
  const ops: JsonPatchOperation[] = [];
  const current = readRuleWeights(rule, managed);
  const setWeight = (j: number, weight: number) => {
    const before = refs[j]?.weight;
    if (before !== weight) {
      ops.push({
        op: before === undefined ? 'add' : 'replace',
        path: rulePointer(i, 'backendRefs', j, 'weight'),
        value: weight,
      });
    }
  };
  if (current.stableWeight !== desired.stableWeight) {
    setWeight(managed.stable, desired.stableWeight);
  }
  if (managed.canary !== undefined) {
    if (current.canaryWeight !== desired.canaryWeight) setWeight(managed.canary, desired.canaryWeight);
  } else if (desired.canaryWeight > 0) {
    const stable = refs[managed.stable] ?? { name: spec.stableService };
    ops.push({
      op: 'add',
      path: rulePointer(i, 'backendRefs', '-'),
      value: { ...canaryFrom(stable, spec), weight: desired.canaryWeight },
    });
  }

  const wantMirror = desired.mirrorPercent !== undefined && desired.mirrorPercent > 0;
  const ours = canaryMirror(route, rule, spec);
  const mirrorOps: JsonPatchOperation[] = [];
  if (wantMirror && !ours) {
    const filter = mirrorFilter(refs[managed.stable] ?? {}, spec, desired.mirrorPercent ?? 100);
    mirrorOps.push(
      rule.filters
        ? { op: 'add', path: rulePointer(i, 'filters', '-'), value: filter }
        : { op: 'add', path: rulePointer(i, 'filters'), value: [filter] },
    );
  } else if (wantMirror && ours && mirrorPercentOf(ours.filter) !== desired.mirrorPercent) {
    const stable = refs[managed.stable] ?? {};
    const filter: RouteFilter = {
      ...ours.filter,
      requestMirror: {
        ...mirrorFilter(stable, spec, desired.mirrorPercent ?? 100).requestMirror,
        backendRef: ours.filter.requestMirror?.backendRef ?? { name: spec.canaryService },
      },
    };
    mirrorOps.push({ op: 'replace', path: rulePointer(i, 'filters', ours.index), value: filter });
  } else if (!wantMirror && ours) {
    mirrorOps.push(
      rule.filters?.length === 1
        ? { op: 'remove', path: rulePointer(i, 'filters') }
        : { op: 'remove', path: rulePointer(i, 'filters', ours.index) },
    );
  }

  if (!ops.length && !mirrorOps.length) return [];
  // First that this is still the managed rule; then what the operations read: the backendRefs for
  // weights, the whole rule when the filters change (their absence cannot be tested otherwise).
  const identity = identityGuard(route, managed);
  const guards: JsonPatchOperation[] =
    identity.path === rulePointer()
      ? [identity]
      : [
          identity,
          mirrorOps.length
            ? { op: 'test', path: rulePointer(i), value: rule }
            : { op: 'test', path: rulePointer(i, 'backendRefs'), value: refs },
        ];
  return [...guards, ...ops, ...mirrorOps];
}

/**
 * The JSON patch that brings the managed rule of `route` to `desired`: the weights of its stable and
 * canary backendRefs, the A/B rule of a match stage and the mirror. Every value the plan read is guarded
 * by a `test` operation, so a concurrent edit makes the API server reject the patch instead of losing
 * that edit. Nothing else in the route is touched. An empty list means the route already is as desired.
 */
export function planRoutePatch(
  route: HttpRoute,
  spec: ResolvedGatewayApiRouting,
  desired: RoutingState,
): RoutingResult<JsonPatchOperation[]> {
  const found = findManagedRule(route, spec);
  if (!found.ok) return found;
  const problem = checkDesired(route, spec, desired, found.value);
  if (problem) return problem;

  // Each phase plans against the route as the previous phases left it, so later pointers stay right.
  const ops: JsonPatchOperation[] = [];
  let doc = route;
  const emit = (more: JsonPatchOperation[]) => {
    if (!more.length) return;
    ops.push(...more.map((op) => ('value' in op ? { ...op, value: structuredClone(op.value) } : op)));
    doc = applyJsonPatch(doc, more);
  };
  const managedNow = (): ManagedRule => {
    const again = findManagedRule(doc, spec);
    return again.ok ? again.value : found.value;
  };

  // 1. Remove A/B rules of ours the stage no longer wants or that are not right in front of the rule.
  const abName = abRuleName(ruleList(route)[found.value.index] ?? {});
  const stale = ruleList(route)
    .map((rule, k) => ({ rule, k }))
    .filter(({ rule, k }) => rule.name === abName && (!desired.match || k !== found.value.index - 1))
    .reverse();
  for (const { rule, k } of stale) {
    emit([
      { op: 'test', path: rulePointer(k), value: rule },
      { op: 'remove', path: rulePointer(k) },
    ]);
  }

  // 2. Weights and mirror of the managed rule.
  emit(ruleOperations(doc, managedNow(), spec, desired));

  // 3. Insert or update the A/B rule in front of the managed rule.
  if (desired.match) {
    const m = managedNow();
    const rule = ruleList(doc)[m.index] ?? {};
    const built = buildAbRule(doc, rule, m, desired.match, spec);
    if (!built.ok) return built;
    const existing = ruleList(doc)[m.index - 1];
    // the A/B rule copies the managed rule's behaviour: guard all of it, and that it is the managed one
    const guards: JsonPatchOperation[] = [
      identityGuard(doc, m),
      { op: 'test', path: rulePointer(m.index), value: rule },
    ];
    if (existing && existing.name === built.value.name) {
      if (!jsonEqual(withDefaults(existing), built.value)) {
        emit([
          ...guards,
          { op: 'test', path: rulePointer(m.index - 1), value: existing },
          { op: 'replace', path: rulePointer(m.index - 1), value: built.value },
        ]);
      }
    } else {
      emit([...guards, { op: 'add', path: rulePointer(m.index), value: built.value }]);
    }
  }
  return { ok: true, value: ops };
}
