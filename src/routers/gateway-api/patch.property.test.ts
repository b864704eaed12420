import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { MatchStage, RoutingState, StringMatch } from '../../api/canary-release.js';
import { applyJsonPatch, JsonPatchError } from '../../kube/json-patch.js';
import { planRoutePatch } from './patch.js';
import { findManagedRule, isCanariaRule, readSplit, ruleList } from './routes.js';
import { spec as makeSpec } from './fixtures.test-support.js';
import type { BackendRef, HeaderMatch, HttpRoute, HttpRouteRule, RouteFilter } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape it built
const asJson = <T>(value: unknown): T => JSON.parse(JSON.stringify(value)) as T;

const ref = (name: string): fc.Arbitrary<BackendRef> =>
  fc.record(
    {
      name: fc.constant(name),
      port: fc.constantFrom(80, 9080),
      weight: fc.integer({ min: 0, max: 100 }),
      filters: fc.constant<RouteFilter[]>([
        { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-b', value: name }] } },
      ]),
    },
    { requiredKeys: ['name'] },
  );

/** Everything a user may have on a rule besides its backendRefs. */
const behaviour = fc.record(
  {
    timeouts: fc.record({ request: fc.constantFrom('1s', '10s') }),
    filters: fc.constant<RouteFilter[]>([
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-env', value: 'prod' }] } },
    ]),
    matches: fc.array(
      fc.record(
        {
          path: fc.record({
            type: fc.constantFrom('PathPrefix', 'Exact'),
            value: fc.constantFrom('/api', '/static'),
          }),
          headers: fc.constant<HeaderMatch[]>([{ type: 'Exact', name: 'x-tenant', value: 'a' }]),
          method: fc.constantFrom('GET', 'POST'),
        },
        { requiredKeys: [] },
      ),
      { minLength: 1, maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);

/** Other rules never send to the stable Service, so they are never mistaken for the managed one. */
const otherRule: fc.Arbitrary<HttpRouteRule> = fc
  .tuple(behaviour, fc.option(fc.constantFrom('web', 'legacy'), { nil: undefined }), ref('other'))
  .map(([b, name, r]) => ({ ...(name ? { name: `${name}-rule` } : {}), ...b, backendRefs: [r] }));

const managedRule = (named: boolean): fc.Arbitrary<HttpRouteRule> =>
  fc
    .tuple(
      behaviour,
      ref('reviews-stable'),
      fc.option(ref('reviews-canary'), { nil: undefined }),
      fc.boolean(),
    )
    .map(([b, stable, canary, canaryFirst]) => ({
      ...(named ? { name: 'main' } : {}),
      ...b,
      backendRefs: canary ? (canaryFirst ? [canary, stable] : [stable, canary]) : [stable],
    }));

const stage: fc.Arbitrary<MatchStage> = fc
  .record(
    {
      headers: fc.constant<StringMatch[]>([{ name: 'end-user', exact: 'testuser' }]),
      cookie: fc.constant({ name: 'canary', regex: 'always' }),
      queryParams: fc.constant<StringMatch[]>([{ name: 'name', prefix: 'xx' }]),
      canaryWeight: fc.constantFrom(100, 50, 0),
    },
    { requiredKeys: ['canaryWeight'] },
  )
  .filter((m) => m.headers !== undefined || m.cookie !== undefined || m.queryParams !== undefined);

const scenario = fc
  .record({
    named: fc.boolean(),
    byIndex: fc.boolean(),
    before: fc.array(otherRule, { maxLength: 2 }),
    after: fc.array(otherRule, { maxLength: 2 }),
    weightTotal: fc.constantFrom(100, 1000),
    canaryShare: fc.double({ min: 0, max: 1, noNaN: true }),
    match: fc.option(stage, { nil: undefined }),
    mirrorPercent: fc.option(fc.constantFrom(5, 0.5, 100, 0), { nil: undefined }),
    // an A/B rule of canaria's left behind out of place, e.g. after the user moved rules around
    stale: fc.boolean(),
  })
  .chain((s) => managedRule(s.named).map((managed) => ({ ...s, managed })));

const specOf = (s: { named: boolean; byIndex: boolean; before: HttpRouteRule[]; weightTotal: number }) =>
  makeSpec({
    weightTotal: s.weightTotal,
    httpRoute: {
      name: 'reviews',
      ...(s.named ? { rule: 'main' } : s.byIndex ? { rule: s.before.length } : {}),
    },
  });

const routeOf = (rules: HttpRouteRule[]): HttpRoute =>
  asJson({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'reviews', namespace: 'prod', labels: { team: 'a' } },
    spec: { parentRefs: [{ name: 'gw', sectionName: 'http' }], hostnames: ['reviews.example.com'], rules },
  });

const desiredOf = (s: {
  weightTotal: number;
  canaryShare: number;
  match?: MatchStage | undefined;
  mirrorPercent?: number | undefined;
}): RoutingState => {
  const canaryWeight = Math.round(s.canaryShare * s.weightTotal);
  return {
    stableWeight: s.weightTotal - canaryWeight,
    canaryWeight,
    total: s.weightTotal,
    ...(s.match ? { match: s.match } : {}),
    ...(s.mirrorPercent !== undefined ? { mirrorPercent: s.mirrorPercent } : {}),
  };
};

const userRules = (r: HttpRoute, managedIndex: number) =>
  ruleList(r).filter((rule, i) => i !== managedIndex && !isCanariaRule(rule));

describe('planRoutePatch (properties)', () => {
  it('applied, gives readSplit == desired, keeps every other rule and field, and is then idempotent', () => {
    fc.assert(
      fc.property(scenario, scenario, (first, second) => {
        const spec = specOf(first);
        const abName = first.named ? 'canaria-ab-main' : 'canaria-ab';
        const stale = first.stale
          ? [{ name: abName, backendRefs: [{ name: 'reviews-stable', port: 80 }] }]
          : [];
        let doc = routeOf([...first.before, first.managed, ...first.after, ...stale]);
        const original = doc;
        // two steps in a row: from the user's route, then from canaria's own result
        for (const step of [first, { ...second, weightTotal: first.weightTotal }]) {
          const desired = desiredOf(step);
          const plan = planRoutePatch(doc, spec, desired);
          if (!plan.ok) throw plan.error;
          doc = applyJsonPatch(doc, plan.value);
          const read = readSplit(doc, spec);
          if (!read.ok) throw read.error;
          const want = desired.mirrorPercent ? { mirrorPercent: desired.mirrorPercent } : {};
          expect(read.value).toEqual({
            stableWeight: desired.stableWeight,
            canaryWeight: desired.canaryWeight,
            total: desired.stableWeight + desired.canaryWeight,
            match: desired.match !== undefined,
            ...want,
          });
          // exactly one A/B rule during a match stage, right in front of the managed rule; none otherwise
          const managedAt = findManagedRule(doc, spec);
          if (!managedAt.ok) throw managedAt.error;
          const ours = ruleList(doc).flatMap((r, i) => (isCanariaRule(r) ? [i] : []));
          expect(ours).toEqual(desired.match ? [managedAt.value.index - 1] : []);
          const again = planRoutePatch(doc, spec, desired);
          expect(again).toEqual({ ok: true, value: [] });

          const before = findManagedRule(original, spec);
          const after = findManagedRule(doc, spec);
          if (!before.ok || !after.ok) throw new Error('managed rule lost');
          expect(userRules(doc, after.value.index)).toEqual(userRules(original, before.value.index));
          expect({ ...doc.spec, rules: [] }).toEqual({ ...original.spec, rules: [] });
          expect(doc.metadata).toEqual(original.metadata);
          // the managed rule keeps its matches, timeouts and the user's filters
          const m = ruleList(doc)[after.value.index];
          const o = ruleList(original)[before.value.index];
          expect(m?.matches).toEqual(o?.matches);
          expect(m?.timeouts).toEqual(o?.timeouts);
          expect((m?.filters ?? []).filter((f) => f.type !== 'RequestMirror')).toEqual(o?.filters ?? []);
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('is rejected by its guards when the rule changed in between', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const spec = specOf(s);
        const doc = routeOf([...s.before, s.managed, ...s.after]);
        const plan = planRoutePatch(doc, spec, desiredOf(s));
        if (!plan.ok) throw plan.error;
        fc.pre(plan.value.length > 0);
        const found = findManagedRule(doc, spec);
        if (!found.ok) throw found.error;
        // a concurrent edit: someone else sets the stable weight
        const edited = structuredClone(doc);
        const rule = edited.spec.rules?.[found.value.index];
        const stable = rule?.backendRefs?.[found.value.stable];
        if (!stable) throw new Error('no stable');
        stable.weight = 12345;
        expect(() => applyJsonPatch(edited, plan.value)).toThrow(JsonPatchError);
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});
