import type { IstioRouting, MatchStage } from '../../api/canary-release.js';
import { percentToUnits } from '../../api/routing.js';
import { cookieHeaderRegex } from '../http-match.js';
import {
  abRouteName,
  IstioRoutingError,
  mirrorsToCanary,
  type ManagedRoute,
  type RoutingResult,
} from './routes.js';
import type { HttpMatchRequest, HttpRoute, HttpRouteDestination, StringMatch } from './types.js';

function toStringMatch(m: {
  exact?: string | undefined;
  prefix?: string | undefined;
  regex?: string | undefined;
}): StringMatch {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  return { regex: m.regex ?? '' };
}

function conflict(message: string, fix: string): RoutingResult<never> {
  return { ok: false, error: new IstioRoutingError('match-conflict', 'spec.http', message, fix) };
}

/** The conditions of an A/B stage as one Istio match block. */
export function stageConditions(stage: MatchStage): RoutingResult<HttpMatchRequest> {
  const conditions: HttpMatchRequest = {};
  const headers: Record<string, StringMatch> = {};
  for (const h of stage.headers ?? []) {
    // Istio requires lower-case header names; HTTP/2 sends them lower-cased anyway
    const name = h.name.toLowerCase();
    if (headers[name])
      return conflict(`the stage matches header ${name} twice`, 'keep one condition per header');
    headers[name] = toStringMatch(h);
  }
  if (stage.cookie) {
    if (headers.cookie) {
      return conflict(
        'the stage matches the cookie header and a cookie',
        'use either cookie or a cookie header match',
      );
    }
    headers.cookie = { regex: cookieHeaderRegex(stage.cookie.name, stage.cookie.regex) };
  }
  if (Object.keys(headers).length) conditions.headers = headers;
  if (stage.queryParams?.length) {
    const params: Record<string, StringMatch> = {};
    for (const q of stage.queryParams) {
      if (params[q.name]) {
        return conflict(
          `the stage matches query parameter ${q.name} twice`,
          'keep one condition per parameter',
        );
      }
      params[q.name] = toStringMatch(q);
    }
    conditions.queryParams = params;
  }
  return { ok: true, value: conditions };
}

function mergeMap(
  base: Record<string, StringMatch> | undefined,
  extra: Record<string, StringMatch> | undefined,
  what: string,
): RoutingResult<Record<string, StringMatch> | undefined> {
  if (!extra) return { ok: true, value: base };
  for (const key of Object.keys(extra)) {
    if (base?.[key]) {
      return conflict(
        `the managed route already matches ${what} ${key}, which the A/B stage also matches`,
        `match another ${what} in the stage, or drop the condition from the route`,
      );
    }
  }
  return { ok: true, value: { ...base, ...extra } };
}

/** Both the route's own match block and the stage's conditions must hold. */
function mergeMatch(base: HttpMatchRequest, extra: HttpMatchRequest): RoutingResult<HttpMatchRequest> {
  const merged: HttpMatchRequest = { ...base };
  const headers = mergeMap(base.headers, extra.headers, 'header');
  if (!headers.ok) return headers;
  const params = mergeMap(base.queryParams, extra.queryParams, 'query parameter');
  if (!params.ok) return params;
  if (headers.value) merged.headers = headers.value;
  if (params.value) merged.queryParams = params.value;
  return { ok: true, value: merged };
}

/**
 * The route canaria places right in front of a managed route for an A/B stage: the same route (timeouts,
 * retries, rewrites and all) restricted to requests that also meet the stage's conditions, sending
 * `stage.canaryWeight` percent of them to the canary.
 */
export function buildAbRoute(
  managedRoute: HttpRoute,
  managed: ManagedRoute,
  stage: MatchStage,
  istio: IstioRouting,
): RoutingResult<HttpRoute> {
  const conditions = stageConditions(stage);
  if (!conditions.ok) return conditions;
  const blocks = managedRoute.match?.length ? managedRoute.match : [{}];
  const match: HttpMatchRequest[] = [];
  for (const block of blocks) {
    const merged = mergeMatch(block, conditions.value);
    if (!merged.ok) return merged;
    match.push(merged.value);
  }

  const destinations = managedRoute.route ?? [];
  const behaviour: HttpRoute = { ...managedRoute };
  delete behaviour.name;
  delete behaviour.match;
  delete behaviour.route;
  if (mirrorsToCanary(managedRoute, managed, istio)) {
    delete behaviour.mirror;
    delete behaviour.mirrorPercentage;
    delete behaviour.mirrorPercent;
  }
  const stableEntry = destinations[managed.stable];
  if (!stableEntry) {
    return {
      ok: false,
      error: new IstioRoutingError(
        'route-not-found',
        'spec.http',
        'the managed route lost its stable destination',
        '',
      ),
    };
  }
  const canaryEntry: HttpRouteDestination =
    managed.canary === undefined
      ? { destination: { ...stableEntry.destination, subset: istio.canarySubset } }
      : (destinations[managed.canary] ?? {
          destination: { ...stableEntry.destination, subset: istio.canarySubset },
        });
  const canaryUnits = percentToUnits(stage.canaryWeight, istio.weightTotal);
  return {
    ok: true,
    value: {
      name: abRouteName(managedRoute),
      match,
      ...behaviour,
      route: [
        { ...stableEntry, weight: istio.weightTotal - canaryUnits },
        { ...canaryEntry, weight: canaryUnits },
      ],
    },
  };
}
