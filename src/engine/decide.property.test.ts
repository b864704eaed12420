import fc from 'fast-check';
import { resolvedMetric } from '../../test/builders/metrics.js';
import { describe, expect, it } from 'vitest';
import type { CanaryReleaseSpec, CanaryReleaseStatus, UserAction } from '../api/canary-release.js';
import type { Measurement } from '../analysis/types.js';
import { aSpec, counts, requests } from '../../test/builders/release.js';
import { decide } from './decide.js';
import { expandSteps } from './steps.js';
import type { Decision, ObservedRouting, Observations } from './types.js';

// ---------------------------------------------------------------- generators

const durationArb = fc.integer({ min: 5, max: 600 }).map((s) => `${s}s`);

const stepArb = (weightTotal: number) => {
  const fine = weightTotal === 100 ? 1 : weightTotal === 1000 ? 0.1 : 0.01;
  const weight = fc
    .integer({ min: 0, max: Math.round(100 / fine) })
    .map((n) => Number((n * fine).toFixed(2)));
  return fc.oneof(
    { weight: 5, arbitrary: weight.map((setWeight) => ({ setWeight })) },
    { weight: 2, arbitrary: durationArb.map((duration) => ({ pause: { duration } })) },
    { weight: 1, arbitrary: fc.constant({ pause: {} }) },
    {
      weight: 2,
      arbitrary: fc
        .option(durationArb, { nil: undefined })
        .map((duration) => ({ analysis: duration ? { duration } : {} })),
    },
    {
      weight: 1,
      arbitrary: fc.record({ canaryWeight: weight, duration: durationArb }).map((m) => ({
        match: { headers: [{ name: 'end-user', exact: 'testuser' }], ...m },
      })),
    },
    {
      weight: 1,
      arbitrary: fc.record({ percent: weight, duration: durationArb }).map((mirror) => ({ mirror })),
    },
  );
};

interface Policy {
  onInconclusive: 'Hold' | 'Fail' | 'Pass';
  onError: 'Hold' | 'Fail';
}

const specArb = (policy?: fc.Arbitrary<Policy>) =>
  fc.constantFrom(100, 1000, 10000).chain((weightTotal) =>
    fc
      .record({
        steps: fc.array(stepArb(weightTotal), { minLength: 1, maxLength: 8 }),
        policy:
          policy ??
          fc.record({
            onInconclusive: fc.constantFrom('Hold' as const, 'Fail' as const, 'Pass' as const),
            onError: fc.constantFrom('Hold' as const, 'Fail' as const),
          }),
        failureLimit: fc.integer({ min: 1, max: 3 }),
        interval: fc.constantFrom('30s', '1m', '2m'),
      })
      .map(({ steps, policy: p, failureLimit, interval }) =>
        aSpec({
          trafficRouting: { istio: { weightTotal: weightTotal } },
          strategy: { steps },
          progressDeadline: '10m',
          analysis: {
            interval,
            failureLimit,
            minSamples: 20,
            ...p,
            metrics: [
              {
                name: 'error-ratio',
                type: 'errorRatio',
                judge: { type: 'relative', tolerance: 0.2, slack: 0.001 },
              },
            ],
          },
        }),
      ),
  );

type Outcome = 'pass' | 'fail' | 'inconclusive' | 'error';

interface Tick {
  advanceMs: number;
  canaryReady: boolean;
  routingApplies: boolean;
  outcome: Outcome;
  newRevision: boolean;
  togglePause: boolean;
  request: UserAction | undefined;
}

const tickArb = (opts: { outcomes: Outcome[]; requests: boolean; notReady: boolean; revisions: boolean }) =>
  fc.record({
    advanceMs: fc.integer({ min: 0, max: 600_000 }),
    canaryReady: opts.notReady ? fc.boolean() : fc.constant(true),
    routingApplies: opts.notReady
      ? fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x > 0.1)
      : fc.constant(true),
    outcome: fc.constantFrom(...opts.outcomes),
    newRevision: opts.revisions
      ? fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x > 0.95)
      : fc.constant(false),
    togglePause: opts.requests
      ? fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x > 0.93)
      : fc.constant(false),
    request: opts.requests
      ? fc.option(fc.constantFrom<UserAction>('Promote', 'PromoteFull', 'Abort', 'Retry'), {
          freq: 8,
          nil: undefined,
        })
      : fc.constant(undefined),
  });

function measurement(outcome: Outcome): Measurement {
  switch (outcome) {
    case 'pass':
      return requests(counts(500, 1), counts(5000, 10));
    case 'fail':
      return requests(counts(500, 60), counts(5000, 10));
    case 'inconclusive':
      return requests(counts(3, 0), counts(5000, 10));
    case 'error':
      return { kind: 'error', error: { code: 'Timeout', message: 'timed out after 5s', retryable: true } };
  }
}

interface Run {
  spec: CanaryReleaseSpec;
  decisions: {
    before: CanaryReleaseStatus | undefined;
    decision: Decision;
    obs: Observations;
    spec: CanaryReleaseSpec;
    now: Date;
  }[];
}

/** Drives `decide` through a sequence of ticks, applying routing actions when the tick says they land. */
function simulate(initial: CanaryReleaseSpec, ticks: Tick[]): Run {
  let spec = initial;
  let status: CanaryReleaseStatus | undefined;
  const total = spec.trafficRouting.istio!.weightTotal;
  let actual: ObservedRouting = { stableWeight: total, canaryWeight: 0, total, match: false };
  let now = new Date('2026-11-21T10:00:00Z');
  let revision = 1;
  let requestId = 0;
  const run: Run = { spec: initial, decisions: [] };
  for (const tick of ticks) {
    if (tick.newRevision) revision++;
    if (tick.togglePause) spec = { ...spec, paused: !spec.paused };
    if (tick.request) spec = { ...spec, request: { action: tick.request, id: `r${++requestId}` } };
    const obs: Observations = {
      canaryRevision: `rev-${revision}`,
      stableRevision: 'rev-0',
      canaryReady: tick.canaryReady,
      actualRouting: actual,
      configIssues: [],
      analysis: {
        metrics: (spec.analysis?.metrics ?? []).map((m) => resolvedMetric({ ...m, minSamples: 20 })),
        measurements: new Map([['error-ratio', measurement(tick.outcome)]]),
      },
    };
    const decision = decide(spec, status, obs, now);
    run.decisions.push({ before: status, decision, obs, spec, now });
    for (const action of decision.actions) {
      if (action.type === 'setRouting' && tick.routingApplies) {
        const r = action.routing;
        actual = {
          stableWeight: r.stableWeight,
          canaryWeight: r.canaryWeight,
          total: r.total,
          match: !!r.match,
          ...(r.mirrorPercent !== undefined ? { mirrorPercent: r.mirrorPercent } : {}),
        };
      }
    }
    status = decision.status;
    now = new Date(now.getTime() + Math.min(tick.advanceMs, decision.requeueAfterMs ?? tick.advanceMs));
  }
  return run;
}

const everything = tickArb({
  outcomes: ['pass', 'fail', 'inconclusive', 'error'],
  requests: true,
  notReady: true,
  revisions: true,
});
const RUNS = { numRuns: 300 };

// ---------------------------------------------------------------- properties

describe('decide: properties over random specs and observation sequences', () => {
  it('every routing it asks for has weights within bounds that add up to the route total', () => {
    fc.assert(
      fc.property(specArb(), fc.array(everything, { maxLength: 60 }), (spec, ticks) => {
        const total = spec.trafficRouting.istio!.weightTotal;
        for (const { decision } of simulate(spec, ticks).decisions) {
          for (const a of decision.actions) {
            if (a.type !== 'setRouting') continue;
            const r = a.routing;
            expect(r.total).toBe(total);
            expect(r.canaryWeight).toBeGreaterThanOrEqual(0);
            expect(r.canaryWeight).toBeLessThanOrEqual(total);
            expect(r.stableWeight + r.canaryWeight).toBe(total);
            expect(Number.isInteger(r.canaryWeight) && Number.isInteger(r.stableWeight)).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('every rollback ends with canary weight 0', () => {
    fc.assert(
      fc.property(specArb(), fc.array(everything, { maxLength: 60 }), (spec, ticks) => {
        for (const { before, decision, obs } of simulate(spec, ticks).decisions) {
          if (decision.status.phase !== 'RolledBack') continue;
          expect(decision.status.routing?.canaryWeight).toBe(0);
          expect(decision.status.routing?.match).toBeUndefined();
          if (before?.phase !== 'RolledBack') {
            const asked = decision.actions.some(
              (a) => a.type === 'setRouting' && a.routing.canaryWeight === 0,
            );
            expect(asked || obs.actualRouting?.canaryWeight === 0).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('is deterministic: the same inputs give the same decision', () => {
    fc.assert(
      fc.property(specArb(), fc.array(everything, { maxLength: 40 }), (spec, ticks) => {
        for (const { before, decision, obs, spec: s, now } of simulate(spec, ticks).decisions) {
          expect(decide(s, before, obs, now)).toEqual(decision);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('never skips a step without a promote request', () => {
    fc.assert(
      fc.property(specArb(), fc.array(everything, { maxLength: 60 }), (spec, ticks) => {
        const stepCount = expandSteps(spec.strategy).length;
        for (const { before, decision, spec: s } of simulate(spec, ticks).decisions) {
          const promoted =
            s.request !== undefined &&
            s.request.id !== before?.handledRequestId &&
            (s.request.action === 'Promote' || s.request.action === 'PromoteFull');
          const from = before?.currentStepIndex ?? 0;
          const to = decision.status.currentStepIndex ?? 0;
          if (to > from + 1) expect(promoted && s.request?.action === 'PromoteFull').toBe(true);
          if (decision.status.phase === 'Promoting' && before?.phase !== 'Promoting' && !promoted) {
            expect(from).toBeGreaterThanOrEqual(stepCount - 1);
          }
          if (to === from + 1 && !promoted) {
            // an ordinary advance: the step was really done and the release was free to move
            expect(before?.phase === 'Progressing' || before?.phase === 'Paused').toBe(true);
            expect(s.paused).toBe(false);
          }
        }
      }),
      RUNS,
    );
  });

  it('Inconclusive and Error verdicts never roll back when the policy holds', () => {
    const holding = fc.constant<Policy>({ onInconclusive: 'Hold', onError: 'Hold' });
    const noFail = tickArb({
      outcomes: ['pass', 'inconclusive', 'error'],
      requests: false,
      notReady: false,
      revisions: true,
    });
    fc.assert(
      fc.property(specArb(holding), fc.array(noFail, { maxLength: 80 }), (spec, ticks) => {
        for (const { decision } of simulate(spec, ticks).decisions) {
          expect(decision.status.phase).not.toBe('RolledBack');
          expect(decision.status.consecutiveFailures ?? 0).toBe(0);
        }
      }),
      RUNS,
    );
  });

  it('only Fail evidence counts towards the failure limit under the default policy', () => {
    const holding = fc.constant<Policy>({ onInconclusive: 'Hold', onError: 'Hold' });
    fc.assert(
      fc.property(specArb(holding), fc.array(everything, { maxLength: 60 }), (spec, ticks) => {
        for (const { decision } of simulate(spec, ticks).decisions) {
          for (const record of decision.status.decisions ?? []) {
            if (record.action === 'Rollback' && record.reason === 'AnalysisFailed')
              expect(record.verdict).toBe('Fail');
          }
        }
      }),
      RUNS,
    );
  });
});
