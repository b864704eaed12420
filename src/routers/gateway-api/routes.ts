import type { ResolvedGatewayApiRouting } from '../../api/gateway-api.js';
import {
  isServiceRef,
  type BackendRef,
  type HttpRoute,
  type HttpRouteRule,
  type RouteFilter,
} from './types.js';

/**
 * What the router reads back from an HTTPRoute; the same shape as the engine's ObservedRouting
 * (src/engine/types.ts), repeated here because a router does not import the engine.
 */
export interface ObservedSplit {
  stableWeight: number;
  canaryWeight: number;
  /** Sum of all weights of the managed rule's backendRefs. */
  total: number;
  /** Whether canaria's A/B match rule is present. */
  match: boolean;
  mirrorPercent?: number;
}

/** Why canaria cannot work with an HTTPRoute as it is; editing the route or the release fixes it. */
export type GatewayRoutingErrorCode =
  | 'rule-not-found'
  | 'rule-ambiguous'
  | 'named-rule-missing'
  | 'backend-ambiguous'
  | 'mirror-conflict'
  | 'match-conflict'
  | 'weights-invalid';

export class GatewayRoutingError extends Error {
  override readonly name = 'GatewayRoutingError';
  /** Only an edit of the HTTPRoute or of the release helps; trying again does not. */
  readonly retryable = false;
  constructor(
    readonly code: GatewayRoutingErrorCode,
    /** YAML path of the offending field, e.g. `spec.rules[1].backendRefs`. */
    readonly path: string,
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

export type RoutingResult<T> = { ok: true; value: T } | { ok: false; error: GatewayRoutingError };

export function fail<T>(
  code: GatewayRoutingErrorCode,
  path: string,
  message: string,
  fix: string,
): RoutingResult<T> {
  return { ok: false, error: new GatewayRoutingError(code, path, message, fix) };
}

/** The rule whose backendRef weights canaria moves between the stable and the canary Service. */
export interface ManagedRule {
  /** Index in `spec.rules`. */
  index: number;
  name?: string;
  /** Index in the rule's backendRefs of the stable Service. */
  stable: number;
  /** Index of the canary Service; undefined until canaria adds it. */
  canary?: number;
}

// The A/B rule canaria inserts carries this name (prefix), so canaria finds and removes it later and
// never takes it for a rule of the user. Rule names are standard since Gateway API v1.2.
const OWNED_PREFIX = 'canaria-ab';

export const isCanariaRule = (rule: HttpRouteRule): boolean =>
  rule.name === OWNED_PREFIX || rule.name?.startsWith(`${OWNED_PREFIX}-`) === true;

/** The name of the A/B rule canaria places in front of `managed`. */
export const abRuleName = (managed: HttpRouteRule): string =>
  managed.name ? `${OWNED_PREFIX}-${managed.name}` : OWNED_PREFIX;

export const ruleList = (route: HttpRoute): HttpRouteRule[] => route.spec.rules ?? [];

/** A backendRef to the Service `name` in the route's own namespace. */
export function refersTo(route: HttpRoute, ref: BackendRef, name: string): boolean {
  return (
    isServiceRef(ref) &&
    ref.name === name &&
    (ref.namespace === undefined || ref.namespace === (route.metadata.namespace ?? ref.namespace))
  );
}

function refIndexes(route: HttpRoute, rule: HttpRouteRule, service: string): number[] {
  return (rule.backendRefs ?? []).flatMap((ref, i) => (refersTo(route, ref, service) ? [i] : []));
}

const describeRule = (rule: HttpRouteRule, index: number): string =>
  rule.name ? `spec.rules[${index}] (${rule.name})` : `spec.rules[${index}]`;

function toManaged(
  route: HttpRoute,
  index: number,
  spec: ResolvedGatewayApiRouting,
): RoutingResult<ManagedRule> {
  const rule = ruleList(route)[index] ?? {};
  const stable = refIndexes(route, rule, spec.stableService);
  const canary = refIndexes(route, rule, spec.canaryService);
  for (const [service, found] of [
    [spec.stableService, stable],
    [spec.canaryService, canary],
  ] as const) {
    if (found.length > 1) {
      return fail(
        'backend-ambiguous',
        `spec.rules[${index}].backendRefs`,
        `${describeRule(rule, index)} of HTTPRoute ${route.metadata.name} refers to Service ${service} from ${found.length} backendRefs (backendRefs[${found.join('], backendRefs[')}])`,
        'keep one backendRef per Service in that rule',
      );
    }
  }
  const [stableIndex] = stable;
  if (stableIndex === undefined) {
    return fail(
      'rule-not-found',
      `spec.rules[${index}].backendRefs`,
      `${describeRule(rule, index)} of HTTPRoute ${route.metadata.name} has no backendRef to the stable Service ${spec.stableService}`,
      `add a backendRef {name: ${spec.stableService}, port: ...} to that rule, or fix trafficRouting.gatewayAPI.stableService`,
    );
  }
  const managed: ManagedRule = { index, stable: stableIndex };
  if (rule.name !== undefined) managed.name = rule.name;
  if (canary[0] !== undefined) managed.canary = canary[0];
  return { ok: true, value: managed };
}

/**
 * The rule canaria manages: the one the release names (by name or index), or else the single rule
 * whose backendRefs are the stable Service and, once added, the canary Service and nothing else.
 * Rules canaria inserted itself are never managed rules.
 */
export function findManagedRule(
  route: HttpRoute,
  spec: ResolvedGatewayApiRouting,
): RoutingResult<ManagedRule> {
  const rules = ruleList(route);
  const wanted = spec.httpRoute.rule;
  if (typeof wanted === 'string') {
    const indexes = rules.flatMap((r, i) => (r.name === wanted && !isCanariaRule(r) ? [i] : []));
    const [index] = indexes;
    if (index === undefined) {
      const known = rules.flatMap((r) => (r.name && !isCanariaRule(r) ? [r.name] : []));
      return fail(
        'named-rule-missing',
        'spec.rules',
        `HTTPRoute ${route.metadata.name} has no rule named "${wanted}" (named rules: ${known.length ? known.join(', ') : 'none'})`,
        `add name: ${wanted} to the rule canaria should manage, or fix trafficRouting.gatewayAPI.httpRoute.rule`,
      );
    }
    if (indexes.length > 1) {
      return fail(
        'rule-ambiguous',
        'spec.rules',
        `HTTPRoute ${route.metadata.name} has ${indexes.length} rules named "${wanted}" (spec.rules[${indexes.join('], spec.rules[')}])`,
        'give each rule a unique name',
      );
    }
    return toManaged(route, index, spec);
  }
  if (typeof wanted === 'number') {
    // counted among the user's rules, so the A/B rule canaria inserts in front does not move it
    const users = rules.flatMap((r, i) => (isCanariaRule(r) ? [] : [i]));
    const index = users[wanted];
    if (index === undefined) {
      return fail(
        'named-rule-missing',
        'spec.rules',
        `HTTPRoute ${route.metadata.name} has ${users.length} rules; trafficRouting.gatewayAPI.httpRoute.rule is ${wanted}`,
        'name the rule canaria should manage (spec.rules[].name) and set trafficRouting.gatewayAPI.httpRoute.rule to that name',
      );
    }
    return toManaged(route, index, spec);
  }

  const ours = new Set([spec.stableService, spec.canaryService]);
  const candidates = rules.flatMap((r, i) => {
    if (isCanariaRule(r)) return [];
    const refs = r.backendRefs ?? [];
    const onlyOurs = refs.every((ref) => [...ours].some((s) => refersTo(route, ref, s)));
    return onlyOurs && refIndexes(route, r, spec.stableService).length > 0 ? [i] : [];
  });
  const [only] = candidates;
  if (only === undefined) {
    return fail(
      'rule-not-found',
      'spec.rules',
      `no rule of HTTPRoute ${route.metadata.name} sends traffic to Service ${spec.stableService} alone (or with ${spec.canaryService})`,
      `add a rule with backendRefs [{name: ${spec.stableService}, port: ...}], or name the rule in trafficRouting.gatewayAPI.httpRoute.rule`,
    );
  }
  if (candidates.length > 1) {
    const listed = candidates.map((i) => describeRule(rules[i] ?? {}, i)).join(', ');
    return fail(
      'rule-ambiguous',
      'spec.rules',
      `${candidates.length} rules of HTTPRoute ${route.metadata.name} send traffic to Service ${spec.stableService}: ${listed}`,
      'give the rule canaria should manage a name (spec.rules[].name) and set trafficRouting.gatewayAPI.httpRoute.rule to it',
    );
  }
  return toManaged(route, only, spec);
}

/** Gateway API: an omitted weight is 1. */
export const weightOf = (ref: BackendRef | undefined): number => (ref ? (ref.weight ?? 1) : 0);

/** canaria's mirror: a RequestMirror filter of the rule whose backendRef is the canary Service. */
export function canaryMirror(
  route: HttpRoute,
  rule: HttpRouteRule,
  spec: ResolvedGatewayApiRouting,
): { index: number; filter: RouteFilter } | undefined {
  const index = (rule.filters ?? []).findIndex(
    (f) =>
      f.type === 'RequestMirror' &&
      f.requestMirror !== undefined &&
      refersTo(route, f.requestMirror.backendRef, spec.canaryService),
  );
  const filter = rule.filters?.[index];
  return filter ? { index, filter } : undefined;
}

/** Gateway API mirrors every request when the filter names neither a percent nor a fraction. */
export function mirrorPercentOf(filter: RouteFilter): number {
  const mirror = filter.requestMirror;
  if (mirror?.percent !== undefined) return mirror.percent;
  if (mirror?.fraction !== undefined) {
    // in this order the division is the last, correctly rounded step: 5000/1000000 reads back as 0.5
    return (mirror.fraction.numerator * 100) / (mirror.fraction.denominator ?? 100);
  }
  return 100;
}

export function readRuleWeights(rule: HttpRouteRule, managed: ManagedRule) {
  const refs = rule.backendRefs ?? [];
  return {
    stableWeight: weightOf(refs[managed.stable]),
    canaryWeight: managed.canary === undefined ? 0 : weightOf(refs[managed.canary]),
    total: refs.reduce((sum, ref) => sum + weightOf(ref), 0),
  };
}

/** The weights, A/B rule and mirror actually in the HTTPRoute: the status's "actual" routing. */
export function readSplit(route: HttpRoute, spec: ResolvedGatewayApiRouting): RoutingResult<ObservedSplit> {
  const found = findManagedRule(route, spec);
  if (!found.ok) return found;
  const rule = ruleList(route)[found.value.index] ?? {};
  const abName = abRuleName(rule);
  const split: ObservedSplit = {
    ...readRuleWeights(rule, found.value),
    match: ruleList(route).some((r) => r.name === abName),
  };
  const mirror = canaryMirror(route, rule, spec);
  if (mirror) split.mirrorPercent = mirrorPercentOf(mirror.filter);
  return { ok: true, value: split };
}
