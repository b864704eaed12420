import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  istioRouting,
  type IstioRouting,
  type MatchStage,
  type RoutingState,
} from '../../api/canary-release.js';
import {
  applyJsonPatch,
  JsonPatchError,
  PatchTestFailed,
  type JsonPatchOperation,
} from '../../kube/json-patch.js';
import { planRoutingPatch } from './patch.js';
import { findManagedRoutes, readRouting } from './routes.js';
import type { HttpRoute, HttpRouteDestination, VirtualService } from './types.js';

// ---------------------------------------------------------------- arbitraries

/** As the resource arrives from the API server: plain JSON (fast-check may build null-prototype objects). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape it built
const asJson = <T>(value: unknown): T => JSON.parse(JSON.stringify(value)) as T;

const host = fc.constantFrom('reviews', 'reviews.prod.svc.cluster.local');

const destinationEntry = (subset: fc.Arbitrary<string>): fc.Arbitrary<HttpRouteDestination> =>
  fc.record(
    {
      destination: fc.record(
        { host, subset, port: fc.record({ number: fc.constantFrom(80, 9080) }) },
        { requiredKeys: ['host', 'subset'] },
      ),
      weight: fc.integer({ min: 0, max: 100 }),
      headers: fc.record({
        response: fc.record({ set: fc.dictionary(fc.constantFrom('x-a', 'x-b'), fc.string()) }),
      }),
    },
    { requiredKeys: ['destination'] },
  );

/** Everything a user may have on a route besides its destinations. */
const routeBehaviour = fc.record(
  {
    timeout: fc.constantFrom('1s', '5s', '30s'),
    retries: fc.record({
      attempts: fc.integer({ min: 0, max: 5 }),
      perTryTimeout: fc.constantFrom('1s', '2s'),
    }),
    fault: fc.record({
      delay: fc.record({
        fixedDelay: fc.constantFrom('1s', '7s'),
        percentage: fc.record({ value: fc.double({ min: 0, max: 100, noNaN: true }) }),
      }),
    }),
    headers: fc.record({
      request: fc.record({ set: fc.dictionary(fc.constantFrom('x-env', 'x-team'), fc.string()) }),
    }),
    corsPolicy: fc.record({ allowOrigins: fc.array(fc.record({ exact: fc.webUrl() }), { maxLength: 2 }) }),
    rewrite: fc.record({ uri: fc.constantFrom('/', '/v2/') }),
    match: fc.array(
      fc.record(
        {
          uri: fc.record({ prefix: fc.constantFrom('/api', '/static') }),
          headers: fc.dictionary(fc.constantFrom('x-tenant', 'x-region'), fc.record({ exact: fc.string() }), {
            maxKeys: 2,
          }),
          gateways: fc.constant(['mesh']),
        },
        { requiredKeys: [] },
      ),
      { minLength: 1, maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);

/** Other routes never send to the stable subset, so they can never be mistaken for the managed one. */
const otherRoute: fc.Arbitrary<HttpRoute> = fc
  .tuple(
    routeBehaviour,
    fc.array(destinationEntry(fc.constantFrom('v3', 'v4')), { minLength: 1, maxLength: 3 }),
    fc.option(fc.constantFrom('api', 'static', 'legacy'), { nil: undefined }),
  )
  .map(([behaviour, route, name]) =>
    asJson<HttpRoute>({ ...(name === undefined ? {} : { name }), ...behaviour, route }),
  );

interface Case {
  vs: VirtualService;
  istio: IstioRouting;
  desired: RoutingState;
}

const managedRoute = (named: boolean): fc.Arbitrary<HttpRoute> =>
  fc
    .tuple(
      routeBehaviour,
      destinationEntry(fc.constant('v1')),
      fc.option(destinationEntry(fc.constant('v2')), { nil: undefined }),
      fc.option(destinationEntry(fc.constant('v3')), { nil: undefined }),
      fc.boolean(),
    )
    .map(([behaviour, stable, canary, third, canaryFirst]) => {
      const entries = [stable, canary, third].filter((e) => e !== undefined);
      if (canaryFirst) entries.reverse();
      return asJson<HttpRoute>({ ...(named ? { name: 'managed' } : {}), ...behaviour, route: entries });
    });

const cases: fc.Arbitrary<Case> = fc
  .record({
    named: fc.boolean(),
    before: fc.array(otherRoute, { maxLength: 3 }),
    after: fc.array(otherRoute, { maxLength: 3 }),
    gateways: fc.option(fc.constantFrom(['mesh'], ['bookinfo-gateway'], ['bookinfo-gateway', 'mesh']), {
      nil: undefined,
    }),
    weightTotal: fc.constantFrom(100, 1000, 10000),
    canaryShare: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .chain((c) =>
    managedRoute(c.named).map((managed): Case => {
      const vs = asJson<VirtualService>({
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name: 'reviews', namespace: 'prod', resourceVersion: '42' },
        spec: {
          hosts: ['reviews'],
          ...(c.gateways ? { gateways: c.gateways } : {}),
          http: [...c.before, managed, ...c.after],
        },
      });
      const istio = istioRouting.parse({
        virtualService: { name: 'reviews', ...(c.named ? { routes: ['managed'] } : {}) },
        destinationRule: { name: 'reviews' },
        stableSubset: 'v1',
        canarySubset: 'v2',
        weightTotal: c.weightTotal,
      });
      // at least one unit somewhere, so that the route never ends up with no traffic at all
      const canaryWeight = Math.round(c.canaryShare * c.weightTotal);
      return {
        vs,
        istio,
        desired: { stableWeight: c.weightTotal - canaryWeight, canaryWeight, total: c.weightTotal },
      };
    }),
  );

const stages: fc.Arbitrary<MatchStage> = fc
  .record(
    {
      headers: fc.array(
        fc.record({ name: fc.constantFrom('end-user', 'x-canary'), exact: fc.string({ minLength: 1 }) }),
        { minLength: 1, maxLength: 1 },
      ),
      cookie: fc.record({
        name: fc.constantFrom('email', 'group'),
        regex: fc.constantFrom('.*@corp\\.com', 'beta'),
      }),
      queryParams: fc.array(fc.record({ name: fc.constantFrom('name', 'preview'), exact: fc.string() }), {
        minLength: 1,
        maxLength: 1,
      }),
    },
    { requiredKeys: ['headers'] },
  )
  .chain((s) =>
    fc.integer({ min: 0, max: 100 }).map((canaryWeight) => asJson<MatchStage>({ ...s, canaryWeight })),
  );

// ---------------------------------------------------------------- helpers

/** A `test` operation refused the patch: a value it read changed, or a path it read is gone. */
function refusedByAGuard(apply: () => unknown): boolean {
  try {
    apply();
  } catch (err) {
    return err instanceof PatchTestFailed || (err instanceof JsonPatchError && err.reason === 'missing-path');
  }
  return false;
}

function plan(vs: VirtualService, istio: IstioRouting, desired: RoutingState): JsonPatchOperation[] {
  const planned = planRoutingPatch(vs, istio, desired);
  if (!planned.ok) throw planned.error;
  return planned.value;
}

function managedIndex(vs: VirtualService, istio: IstioRouting): number {
  const found = findManagedRoutes(vs, istio);
  if (!found.ok || found.value[0] === undefined) throw new Error('no managed route');
  return found.value[0].index;
}

/** The document without what a weight patch may change: the stable and canary weights and an added canary. */
function withoutManagedWeights(
  vs: VirtualService,
  istio: IstioRouting,
  canaryBefore: boolean,
): VirtualService {
  const copy = structuredClone(vs);
  const route = copy.spec.http?.[managedIndex(copy, istio)];
  if (!route?.route) return copy;
  route.route = route.route.filter((d) => canaryBefore || d.destination.subset !== istio.canarySubset);
  for (const d of route.route) {
    if (d.destination.subset === istio.stableSubset || d.destination.subset === istio.canarySubset)
      delete d.weight;
  }
  return copy;
}

const hasCanary = (vs: VirtualService, istio: IstioRouting) =>
  vs.spec.http?.[managedIndex(vs, istio)]?.route?.some((d) => d.destination.subset === istio.canarySubset) ??
  false;

// ---------------------------------------------------------------- properties

describe('planRoutingPatch on random VirtualServices', () => {
  it('changes only the managed weights, reaches the desired weights, and is idempotent', () => {
    fc.assert(
      fc.property(cases, ({ vs, istio, desired }) => {
        const original = structuredClone(vs);
        const after = applyJsonPatch(vs, plan(vs, istio, desired));
        expect(vs).toStrictEqual(original);
        const canaryBefore = hasCanary(vs, istio);
        expect(withoutManagedWeights(after, istio, canaryBefore)).toStrictEqual(
          withoutManagedWeights(vs, istio, canaryBefore),
        );
        const reading = readRouting(after, istio);
        expect(reading.ok && [reading.value.stableWeight, reading.value.canaryWeight]).toEqual([
          desired.stableWeight,
          desired.canaryWeight,
        ]);
        expect(plan(after, istio, desired)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('fails to apply when a value it read changed in between, instead of overwriting it', () => {
    const edits: ((vs: VirtualService, index: number) => void)[] = [
      (vs, i) => {
        const d = vs.spec.http?.[i]?.route?.[0];
        if (d) d.weight = (d.weight ?? 0) + 1;
      },
      (vs, i) => {
        vs.spec.http?.[i]?.route?.push({ destination: { host: 'reviews', subset: 'v9' }, weight: 5 });
      },
      (vs, i) => {
        const d = vs.spec.http?.[i]?.route?.at(-1);
        if (d) d.headers = { request: { set: { 'x-edited': 'yes' } } };
      },
      (vs) => {
        vs.spec.http?.unshift({ name: 'inserted', route: [{ destination: { host: 'inserted' } }] });
      },
    ];
    fc.assert(
      fc.property(cases, fc.integer({ min: 0, max: edits.length - 1 }), ({ vs, istio, desired }, e) => {
        const ops = plan(vs, istio, desired);
        fc.pre(ops.length > 0);
        const edited = structuredClone(vs);
        edits[e]?.(edited, managedIndex(vs, istio));
        expect(refusedByAGuard(() => applyJsonPatch(edited, ops))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps concurrent edits of fields it did not read (a named route: its name and destinations)', () => {
    fc.assert(
      fc.property(cases, ({ vs, istio, desired }) => {
        fc.pre(istio.virtualService.routes !== undefined);
        const ops = plan(vs, istio, desired);
        const edited = structuredClone(vs);
        const i = managedIndex(vs, istio);
        const managed = edited.spec.http?.[i];
        if (managed) managed.timeout = '42s';
        edited.metadata.labels = { edited: 'yes' };
        const after = applyJsonPatch(edited, ops);
        expect(after.spec.http?.[i]?.timeout).toBe('42s');
        expect(after.metadata.labels).toEqual({ edited: 'yes' });
      }),
      { numRuns: 100 },
    );
  });

  it('refuses, never overwrites, a concurrent edit anywhere in the routes when the managed route has no name', () => {
    fc.assert(
      fc.property(cases, ({ vs, istio, desired }) => {
        fc.pre(istio.virtualService.routes === undefined);
        const ops = plan(vs, istio, desired);
        fc.pre(ops.length > 0);
        const edited = structuredClone(vs);
        const last = edited.spec.http?.at(-1);
        if (last) last.timeout = '42s';
        fc.pre(JSON.stringify(edited) !== JSON.stringify(vs));
        expect(refusedByAGuard(() => applyJsonPatch(edited, ops))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('inserts an A/B route and a mirror, and removing them gives back exactly the weights-only result', () => {
    fc.assert(
      fc.property(
        cases,
        stages,
        fc.integer({ min: 1, max: 100 }),
        ({ vs, istio, desired }, match, mirrorPercent) => {
          const weightsOnly = applyJsonPatch(vs, plan(vs, istio, desired));
          const staged = { ...desired, match, mirrorPercent };
          const withStage = applyJsonPatch(vs, plan(vs, istio, staged));
          expect(plan(withStage, istio, staged)).toEqual([]);
          const http = withStage.spec.http ?? [];
          const i = managedIndex(withStage, istio);
          expect(http[i - 1]?.name).toMatch(/^canaria-ab/);
          expect(http[i]?.mirror).toEqual(expect.objectContaining({ subset: istio.canarySubset }));
          expect(http).toHaveLength((vs.spec.http?.length ?? 0) + 1);
          const cleaned = applyJsonPatch(withStage, plan(withStage, istio, desired));
          expect(cleaned).toStrictEqual(weightsOnly);
        },
      ),
      { numRuns: 100 },
    );
  });
});
