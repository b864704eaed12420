import type { MatchStage, StringMatch } from '../../api/canary-release.js';
import type { ResolvedGatewayApiRouting } from '../../api/gateway-api.js';
import { percentToUnits } from '../../api/routing.js';
import { cookieHeaderRegex, escapeRegex } from '../http-match.js';
import { abRuleName, canaryMirror, fail, type ManagedRule, type RoutingResult } from './routes.js';
import type { BackendRef, HeaderMatch, HttpRoute, HttpRouteMatch, HttpRouteRule } from './types.js';

/** Gateway API has Exact and RegularExpression matches only; a prefix becomes a regex. */
function toHeaderMatch(m: StringMatch): HeaderMatch {
  if (m.exact !== undefined) return { type: 'Exact', name: m.name, value: m.exact };
  if (m.prefix !== undefined)
    return { type: 'RegularExpression', name: m.name, value: `${escapeRegex(m.prefix)}.*` };
  return { type: 'RegularExpression', name: m.name, value: m.regex ?? '' };
}

const conflict = (message: string, fix: string): RoutingResult<never> =>
  fail('match-conflict', 'spec.rules', message, fix);

/** The conditions of an A/B stage as Gateway API header and query parameter matches. */
export function stageConditions(
  stage: MatchStage,
): RoutingResult<{ headers: HeaderMatch[]; queryParams: HeaderMatch[] }> {
  const headers: HeaderMatch[] = [];
  // header names are case-insensitive; Gateway API considers only the first of equal names
  const seen = new Set<string>();
  for (const h of stage.headers ?? []) {
    const key = h.name.toLowerCase();
    if (seen.has(key))
      return conflict(`the stage matches header ${h.name} twice`, 'keep one condition per header');
    seen.add(key);
    headers.push(toHeaderMatch(h));
  }
  if (stage.cookie) {
    if (seen.has('cookie')) {
      return conflict(
        'the stage matches the cookie header and a cookie',
        'use either cookie or a cookie header match',
      );
    }
    headers.push({
      type: 'RegularExpression',
      name: 'Cookie',
      value: cookieHeaderRegex(stage.cookie.name, stage.cookie.regex),
    });
  }
  const queryParams: HeaderMatch[] = [];
  const params = new Set<string>();
  for (const q of stage.queryParams ?? []) {
    // query parameter names are case-sensitive in Gateway API
    if (params.has(q.name)) {
      return conflict(
        `the stage matches query parameter ${q.name} twice`,
        'keep one condition per parameter',
      );
    }
    params.add(q.name);
    queryParams.push(toHeaderMatch(q));
  }
  return { ok: true, value: { headers, queryParams } };
}

const ROOT_PATH = { type: 'PathPrefix', value: '/' } as const;

/** A match as the API server stores it: Gateway API's defaults written out. */
function defaultMatch(m: HttpRouteMatch): HttpRouteMatch {
  const out: HttpRouteMatch = { ...m, path: { ...ROOT_PATH, ...m.path } };
  if (m.headers) out.headers = m.headers.map((h) => ({ type: 'Exact', ...h }));
  if (m.queryParams) out.queryParams = m.queryParams.map((q) => ({ type: 'Exact', ...q }));
  return out;
}

const defaultRef = (ref: BackendRef): BackendRef => ({ group: '', kind: 'Service', weight: 1, ...ref });

/**
 * A rule with the defaults the API server fills in (a root path prefix, Exact matches, core Services,
 * weight 1), so a rule canaria built compares equal to the same rule read back.
 */
export function withDefaults(rule: HttpRouteRule): HttpRouteRule {
  const out: HttpRouteRule = {
    ...rule,
    matches: (rule.matches?.length ? rule.matches : [{}]).map(defaultMatch),
  };
  if (rule.backendRefs) out.backendRefs = rule.backendRefs.map(defaultRef);
  return out;
}

function merge(base: HeaderMatch[] | undefined, extra: HeaderMatch[], what: string, fold: boolean) {
  const key = (name: string) => (fold ? name.toLowerCase() : name);
  const have = new Set((base ?? []).map((m) => key(m.name)));
  const clash = extra.find((m) => have.has(key(m.name)));
  if (clash) {
    return conflict(
      `the managed rule already matches ${what} ${clash.name}, which the A/B stage also matches`,
      `match another ${what} in the stage, or drop the condition from the rule`,
    );
  }
  return { ok: true as const, value: [...(base ?? []), ...extra] };
}

/**
 * The rule canaria places right in front of the managed rule for an A/B stage: the same rule (filters,
 * timeouts and all) restricted to requests that also meet the stage's conditions, sending
 * `stage.canaryWeight` percent of them to the canary. It has more header or query matches than the
 * managed rule for each of the same paths, so Gateway API's precedence picks it first wherever it sits;
 * its place in front only keeps the list readable.
 */
export function buildAbRule(
  route: HttpRoute,
  managedRule: HttpRouteRule,
  managed: ManagedRule,
  stage: MatchStage,
  spec: ResolvedGatewayApiRouting,
): RoutingResult<HttpRouteRule> {
  const conditions = stageConditions(stage);
  if (!conditions.ok) return conditions;
  const matches: HttpRouteMatch[] = [];
  for (const block of managedRule.matches?.length ? managedRule.matches : [{}]) {
    const merged: HttpRouteMatch = { ...block };
    const headers = merge(block.headers, conditions.value.headers, 'header', true);
    if (!headers.ok) return headers;
    const params = merge(block.queryParams, conditions.value.queryParams, 'query parameter', false);
    if (!params.ok) return params;
    if (headers.value.length) merged.headers = headers.value;
    if (params.value.length) merged.queryParams = params.value;
    matches.push(merged);
  }
  const behaviour: HttpRouteRule = { ...managedRule };
  delete behaviour.name;
  delete behaviour.matches;
  delete behaviour.backendRefs;
  const mirror = canaryMirror(route, managedRule, spec);
  if (mirror) {
    const filters = (managedRule.filters ?? []).filter((_, i) => i !== mirror.index);
    if (filters.length) behaviour.filters = filters;
    else delete behaviour.filters;
  }
  const refs = managedRule.backendRefs ?? [];
  const stableRef = refs[managed.stable];
  if (!stableRef)
    return fail('rule-not-found', 'spec.rules', 'the managed rule lost its stable backendRef', '');
  const canaryRef =
    (managed.canary === undefined ? undefined : refs[managed.canary]) ?? canaryFrom(stableRef, spec);
  const canaryUnits = percentToUnits(stage.canaryWeight, spec.weightTotal);
  return {
    ok: true,
    value: withDefaults({
      name: abRuleName(managedRule),
      matches,
      ...behaviour,
      backendRefs: [
        { ...stableRef, weight: spec.weightTotal - canaryUnits },
        { ...canaryRef, weight: canaryUnits },
      ],
    }),
  };
}

/** The canary's backendRef as canaria adds it: the stable one's port and filters, the canary Service. */
export function canaryFrom(stableRef: BackendRef, spec: ResolvedGatewayApiRouting): BackendRef {
  const ref: BackendRef = { ...stableRef, name: spec.canaryService };
  delete ref.weight;
  return ref;
}
