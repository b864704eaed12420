import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import {
  aSpec,
  counts,
  errorRatioAnalysis,
  observations,
  requests,
  routingOf,
} from '../../test/builders/release.js';
import { World } from '../../test/builders/world.js';
import { emptyCatalog, resolveMetrics } from '../analysis/resolve.js';
import { analysisWindow, decide } from './decide.js';
import type { Action } from './types.js';

const T0 = new Date('2026-11-21T10:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const routingActions = (actions: Action[]) =>
  actions.flatMap((a) => (a.type === 'setRouting' ? [a.routing] : []));
const lastDecision = (s: CanaryReleaseStatus | undefined) => s?.decisions?.at(-1);

const healthy = () => new Map([['error-ratio', requests(counts(1000, 2), counts(9000, 20))]]);
const failing = () => new Map([['error-ratio', requests(counts(1000, 50), counts(9000, 45))]]);
const analysed = (extra: Parameters<typeof errorRatioAnalysis>[0] = {}) =>
  aSpec({
    analysis: errorRatioAnalysis(extra),
    strategy: { steps: [{ setWeight: 10 }, { analysis: {} }, { setWeight: 50 }, { analysis: {} }] },
  });

describe('decide: starting a rollout', () => {
  it('on first sight of a canary revision starts at step 1 with all traffic on stable', () => {
    const d = decide(aSpec(), undefined, observations({ actualRouting: routingOf(90, 10) }), T0);
    expect(d.status.phase).toBe('Progressing');
    expect(d.status.currentStepIndex).toBe(0);
    expect(d.status.canaryRevision).toBe('rev-2');
    expect(d.status.stableRevision).toBe('rev-1');
    expect(routingActions(d.actions)).toEqual([{ stableWeight: 100, canaryWeight: 0, total: 100 }]);
    expect(lastDecision(d.status)).toMatchObject({ action: 'Start', reason: 'NewRevision' });
    expect(d.requeueAfterMs).toBe(0);
  });

  it('waits in Initializing while the canary workload does not exist', () => {
    const noCanary = observations();
    delete noCanary.canaryRevision;
    const d = decide(aSpec(), undefined, noCanary, T0);
    expect(d.status.phase).toBe('Initializing');
    expect(d.status.message).toMatch(/waiting for the canary workload/);
    expect(routingActions(d.actions)).toEqual([]);
  });
});

describe('decide: advancing through the steps', () => {
  it('sets each weight, waits out timed pauses, promotes and succeeds', () => {
    const world = new World(aSpec());
    const weights: number[] = [];
    const status = world.run((s) => {
      if (s.actualCanaryWeight !== undefined && weights.at(-1) !== s.actualCanaryWeight)
        weights.push(s.actualCanaryWeight);
      return s.phase === 'Succeeded';
    });
    expect(status.phase).toBe('Succeeded');
    expect(status.stableRevision).toBe('rev-2');
    expect(world.actual).toMatchObject({ stableWeight: 0, canaryWeight: 100 });
    expect(weights).toEqual([0, 10, 50, 100]);
    const actions = status.decisions?.map((x) => x.action);
    expect(actions).toEqual(['Start', 'Advance', 'Advance', 'Advance', 'Promote', 'Succeed']);
  });

  it('does not leave a timed pause early', () => {
    const world = new World(aSpec());
    world.run((s) => s.currentStepIndex === 1 && s.windowStartedAt !== undefined);
    const pauseStart = Date.parse(world.status?.stepStartedAt ?? '');
    world.now = new Date(pauseStart + 59_000);
    const d = world.step();
    expect(d.status.currentStepIndex).toBe(1);
    expect(d.requeueAfterMs).toBe(1_000);
    world.now = new Date(pauseStart + 60_000);
    expect(world.step().status.currentStepIndex).toBe(2);
  });

  it('an analysis gate advances only on a passing analysis over its duration, with the numbers', () => {
    const spec = aSpec({
      analysis: errorRatioAnalysis(),
      strategy: { steps: [{ setWeight: 20 }, { analysis: { duration: '2m' } }, { setWeight: 60 }] },
    });
    const world = new World(spec, healthy);
    world.run((s) => s.currentStepIndex === 2);
    const advance = world.status?.decisions?.find((x) => x.reason === 'AnalysisPassed');
    expect(advance?.metrics?.[0]).toMatchObject({
      metric: 'error-ratio',
      verdict: 'Pass',
      canary: { total: 1000, errors: 2 },
      stable: { total: 9000, errors: 20 },
    });
    expect(advance?.message).toMatch(/canary 0\.002 <= stable 0\.002222 x \(1 \+ 0\.5\) \+ 0\.001/);
    const window = Date.parse(
      world.status?.decisions?.find((x) => x.reason === 'AnalysisPassed')?.time ?? '',
    );
    const started = Date.parse(
      world.status?.decisions?.find((x) => x.message.includes('now step 2'))?.time ?? '',
    );
    expect(window - started).toBeGreaterThanOrEqual(120_000);
  });

  it('the stepWeight/maxWeight/interval shorthand runs setWeight + analysis pairs', () => {
    const spec = aSpec({
      analysis: errorRatioAnalysis(),
      strategy: { steps: undefined, stepWeight: 25, maxWeight: 50, interval: '1m' },
    });
    const world = new World(spec, healthy);
    const seen = new Set<number>();
    world.run((s) => {
      seen.add(s.actualCanaryWeight ?? -1);
      return s.phase === 'Succeeded';
    });
    expect([...seen].filter((w) => w >= 0)).toEqual([0, 25, 50, 100]);
  });
});

describe('decide: pauses and user actions', () => {
  const pausing = () => aSpec({ strategy: { steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }] } });

  it('an indefinite pause waits for promote, then goes on', () => {
    const world = new World(pausing());
    world.run((s) => s.phase === 'Paused');
    expect(lastDecision(world.status)).toMatchObject({ action: 'Pause', reason: 'WaitingForPromote' });
    world.now = at(3600 * 5);
    expect(world.step().status.phase).toBe('Paused');
    world.spec = { ...world.spec, request: { action: 'Promote', id: 'p1' } };
    const d = world.step();
    expect(d.status.currentStepIndex).toBe(2);
    expect(lastDecision(d.status)).toMatchObject({ action: 'Promote', reason: 'UserPromoted' });
    expect(world.run().phase).toBe('Succeeded');
  });

  it('a request id is handled once', () => {
    const world = new World(
      aSpec({ strategy: { steps: [{ setWeight: 10 }, { pause: {} }, { pause: {} }] } }),
    );
    world.run((s) => s.phase === 'Paused');
    world.spec = { ...world.spec, request: { action: 'Promote', id: 'p1' } };
    world.step();
    const index = world.status?.currentStepIndex;
    world.step();
    world.step();
    expect(world.status?.currentStepIndex).toBe(index);
  });

  it('spec.paused pauses and resumes', () => {
    const world = new World(aSpec());
    world.run((s) => s.currentStepIndex === 1);
    world.spec = { ...world.spec, paused: true };
    world.now = at(3600);
    let d = world.step();
    expect(d.status.phase).toBe('Paused');
    expect(lastDecision(d.status)).toMatchObject({ action: 'Pause', reason: 'UserPaused' });
    d = world.step();
    expect(d.status.currentStepIndex).toBe(1);
    world.spec = { ...world.spec, paused: false };
    d = world.step();
    expect(d.status.phase).toBe('Progressing');
    expect(d.status.decisions?.some((x) => x.action === 'Resume')).toBe(true);
  });

  it('PromoteFull goes straight to 100 % and succeeds', () => {
    const world = new World(aSpec());
    world.run((s) => s.currentStepIndex === 1);
    world.spec = { ...world.spec, request: { action: 'PromoteFull', id: 'full' } };
    const d = world.step();
    expect(d.status.phase).toBe('Promoting');
    expect(routingActions(d.actions)).toEqual([{ stableWeight: 0, canaryWeight: 100, total: 100 }]);
    expect(world.step().status.phase).toBe('Succeeded');
  });

  it('abort rolls back at once to canary weight 0', () => {
    const world = new World(aSpec());
    world.run((s) => s.currentStepIndex === 3);
    world.spec = { ...world.spec, request: { action: 'Abort', id: 'a1' } };
    const d = world.step();
    expect(d.status.phase).toBe('RolledBack');
    expect(routingActions(d.actions)).toEqual([{ stableWeight: 100, canaryWeight: 0, total: 100 }]);
    expect(d.actions).toContainEqual(
      expect.objectContaining({ type: 'event', severity: 'Warning', reason: 'Aborted' }),
    );
  });

  it('retry after a rollback starts again from step 1', () => {
    const world = new World(aSpec());
    world.run((s) => s.currentStepIndex === 2);
    world.spec = { ...world.spec, request: { action: 'Abort', id: 'a1' } };
    world.step();
    world.spec = { ...world.spec, request: { action: 'Retry', id: 'r1' } };
    const d = world.step();
    expect(d.status.phase).toBe('Progressing');
    expect(d.status.currentStepIndex).toBe(0);
    expect(lastDecision(d.status)).toMatchObject({ action: 'Start', reason: 'Retry' });
    expect(world.run().phase).toBe('Succeeded');
  });

  it('retry of a release that is not rolled back is ignored, and says so', () => {
    const world = new World(aSpec());
    world.run((s) => s.currentStepIndex === 1);
    world.spec = { ...world.spec, request: { action: 'Retry', id: 'r1' } };
    const d = world.step();
    expect(d.status.phase).toBe('Progressing');
    expect(
      d.status.decisions?.some((x) => x.action === 'Ignore' && /only a rolled-back release/.test(x.message)),
    ).toBe(true);
  });
});

describe('decide: changes during a rollout', () => {
  it('a new canary revision mid-rollout sets the weight back to 0 and restarts from step 1', () => {
    const world = new World(aSpec());
    world.run((s) => s.currentStepIndex === 3);
    expect(world.actual.canaryWeight).toBe(50);
    world.obs = { ...world.obs, canaryRevision: 'rev-3' };
    const d = world.step();
    expect(d.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 0, canaryRevision: 'rev-3' });
    expect(routingActions(d.actions)).toEqual([{ stableWeight: 100, canaryWeight: 0, total: 100 }]);
    expect(lastDecision(d.status)).toMatchObject({ action: 'Restart', reason: 'NewRevision' });
  });

  it('a spec change restarts the rollout', () => {
    const world = new World(aSpec());
    world.run((s) => s.currentStepIndex === 2);
    world.spec = aSpec({ strategy: { steps: [{ setWeight: 5 }, { setWeight: 30 }] } });
    const d = world.step();
    expect(lastDecision(d.status)).toMatchObject({ action: 'Restart', reason: 'SpecChanged' });
    expect(d.status.currentStepIndex).toBe(0);
  });
});

describe('decide: after a promotion, traffic only moves to an analysed revision (subsets mode)', () => {
  /** v1 -> v2 promoted: all traffic on canarySubset v2, whose revision rev-2 is now the trusted one. */
  const promoted = () => {
    const world = new World(aSpec());
    world.run();
    expect(world.actual).toMatchObject({ stableWeight: 0, canaryWeight: 100 });
    return world;
  };
  const weightsMoved = (world: World, from: number) =>
    world.history.slice(from).flatMap((d) => routingActions(d.actions));

  it('a strategy edit changes nothing now: it applies to the next revision', () => {
    const world = promoted();
    const before = world.history.length;
    world.spec = aSpec({ strategy: { steps: [{ setWeight: 20 }, { pause: { duration: '2m' } }] } });
    const d = world.step();
    expect(d.status.phase).toBe('Succeeded');
    expect(lastDecision(d.status)).toMatchObject({ action: 'Ignore', reason: 'SpecChanged' });
    world.run(undefined, 3);
    expect(weightsMoved(world, before)).toEqual([]);
    expect(world.actual).toMatchObject({ stableWeight: 0, canaryWeight: 100 });
  });

  it('a new revision of the serving canary subset is refused, with the fix, and traffic stays', () => {
    const world = promoted();
    const before = world.history.length;
    world.obs = { ...world.obs, canaryRevision: 'rev-3' };
    const d = world.step();
    expect(d.status.phase).toBe('Failed');
    const valid = d.status.conditions?.find((c) => c.type === 'ConfigValid');
    expect(valid).toMatchObject({ status: 'False' });
    expect(valid?.message).toMatch(
      /stableSubset v1 does not run revision rev-2.*set stableSubset to its subset/,
    );
    const again = world.step();
    expect(again.status.conditions?.find((c) => c.type === 'ConfigValid')?.lastTransitionTime).toBe(
      valid?.lastTransitionTime,
    );
    expect(weightsMoved(world, before)).toEqual([]);
  });

  it('pointing stableSubset at the promoted version and canarySubset at the next rolls out v3 from v2', () => {
    const world = promoted();
    const before = world.history.length;
    world.spec = aSpec({ trafficRouting: { istio: { stableSubset: 'v2', canarySubset: 'v3' } } });
    // the router now reads the same route as v2 = stable (100), v3 = canary (0)
    world.actual = routingOf(100, 0);
    world.obs = { ...world.obs, stableRevision: 'rev-2', canaryRevision: 'rev-3' };
    const status = world.run();
    expect(status.phase).toBe('Succeeded');
    expect(status.decisions?.find((x) => x.action === 'Start')).toMatchObject({ reason: 'NewRevision' });
    expect(weightsMoved(world, before).map((r) => r.canaryWeight)).toEqual([10, 50, 100]);
  });

  it('a first sight with all traffic on the canary subset is refused instead of moving it', () => {
    const d = decide(aSpec(), undefined, observations({ actualRouting: routingOf(0, 100) }), T0);
    expect(d.status.phase).toBe('Failed');
    expect(routingActions(d.actions)).toEqual([]);
    expect(d.status.message).toMatch(/100% of traffic is on canarySubset v2 and none on stableSubset v1/);
  });

  it('after a rollback a spec edit starts again from the stable revision, which serves', () => {
    const world = new World(analysed(), failing);
    world.run();
    expect(world.status?.phase).toBe('RolledBack');
    world.spec = analysed({ failureLimit: 3 });
    const d = world.step();
    expect(lastDecision(d.status)).toMatchObject({ action: 'Start', reason: 'SpecChanged' });
    expect(routingActions(d.actions)).toEqual([]);
  });
});

describe('decide: holding', () => {
  it('holds while the canary is not ready and rolls back after the progress deadline', () => {
    const world = new World(aSpec({ progressDeadline: '5m' }));
    world.obs = { ...world.obs, canaryReady: false };
    let d = world.step();
    d = world.step();
    expect(d.status.holdingSince).toBe(T0.toISOString());
    world.now = at(30);
    d = world.step();
    expect(d.status.phase).toBe('Progressing');
    expect(lastDecision(d.status)).toMatchObject({ action: 'Hold', reason: 'CanaryNotReady' });
    expect(world.actual.canaryWeight).toBe(0);
    world.now = at(299);
    expect(world.step().status.phase).toBe('Progressing');
    world.now = at(301);
    d = world.step();
    expect(d.status.phase).toBe('RolledBack');
    expect(lastDecision(d.status)).toMatchObject({ action: 'Rollback', reason: 'ProgressDeadlineExceeded' });
    expect(lastDecision(d.status)?.message).toMatch(/no progress for 5m1s \(deadline 5m\).*not ready/);
  });

  it('a canary that becomes ready in time goes on', () => {
    const world = new World(aSpec({ progressDeadline: '5m' }));
    world.obs = { ...world.obs, canaryReady: false };
    world.step();
    world.now = at(200);
    world.step();
    world.obs = { ...world.obs, canaryReady: true };
    world.now = at(250);
    world.step();
    expect(world.step().status.holdingSince).toBeUndefined();
    expect(world.run().phase).toBe('Succeeded');
  });

  it('holds its weight outside every release window and moves on when one opens', () => {
    // windows open at 12:00 UTC for an hour; the world starts at 10:00
    const world = new World(aSpec({ releaseWindows: [{ schedule: '0 12 * * *', duration: '1h' }] }));
    world.run((s) => s.decisions?.some((x) => x.reason === 'WindowClosed') ?? false);
    expect(world.status?.currentStepIndex).toBe(0);
    expect(world.actual.canaryWeight).toBe(10);
    expect(world.status?.message).toMatch(/outside every release window/);
    const status = world.run();
    expect(status.phase).toBe('Succeeded');
    const advanced = status.decisions
      ?.filter((x) => x.action === 'Advance')
      .map((x) => new Date(x.time).getUTCHours());
    expect(advanced?.every((h) => h === 12)).toBe(true);
  });

  it('invalid configuration fails the release with a condition and leaves traffic alone', () => {
    const issues = [
      { path: 'spec.analysis.templates[0].name', message: 'AnalysisTemplate "nope" not found' },
    ];
    const d = decide(aSpec(), undefined, observations({ configIssues: issues }), T0);
    expect(d.status.phase).toBe('Failed');
    expect(routingActions(d.actions)).toEqual([]);
    expect(d.status.conditions).toContainEqual(
      expect.objectContaining({ type: 'ConfigValid', status: 'False', reason: 'InvalidConfiguration' }),
    );
    expect(d.status.message).toMatch(
      /spec\.analysis\.templates\[0\]\.name: AnalysisTemplate "nope" not found/,
    );
    expect(d.requeueAfterMs).toBeNull();
  });

  it('a fixed configuration starts the rollout', () => {
    const issues = [{ path: 'spec.trafficRouting.istio.virtualService.name', message: 'not found' }];
    const failed = decide(aSpec(), undefined, observations({ configIssues: issues }), T0);
    const d = decide(aSpec(), failed.status, observations(), at(10));
    expect(d.status.phase).toBe('Progressing');
    expect(d.status.conditions).toContainEqual(
      expect.objectContaining({ type: 'ConfigValid', status: 'True' }),
    );
  });
});

describe('decide: analysis', () => {
  it('rolls back after failureLimit consecutive failures, with the evidence in the Event', () => {
    const world = new World(analysed(), failing);
    const status = world.run();
    expect(status.phase).toBe('RolledBack');
    expect(world.actual.canaryWeight).toBe(0);
    const rollback = lastDecision(status);
    expect(rollback).toMatchObject({
      action: 'Rollback',
      reason: 'AnalysisFailed',
      verdict: 'Fail',
      canaryWeight: 0,
    });
    expect(rollback?.metrics?.[0]).toMatchObject({ canary: { total: 1000, errors: 50, value: 0.05 } });
    expect(rollback?.message).toMatch(
      /2 failed analyses in a row \(limit 2\).*canary 0\.05 > stable 0\.005 x \(1 \+ 0\.5\)/,
    );
    const events = world.history
      .flatMap((d) => d.actions)
      .filter((a) => a.type === 'event' && a.reason === 'AnalysisFailed');
    expect(events.at(-1)).toMatchObject({ severity: 'Warning' });
  });

  it('a pass between failures resets the count', () => {
    let n = 0;
    const world = new World(analysed({ failureLimit: 2 }), () => (++n % 2 ? failing() : healthy()));
    const status = world.run(undefined, 200);
    expect(status.phase).toBe('Succeeded');
  });

  it('no data holds and says why in one collapsing record; past holdDeadline it pauses once, never rolls back', () => {
    const quiet = () => new Map([['error-ratio', requests(counts(3, 0), counts(4, 0))]]);
    const world = new World(analysed({ holdDeadline: '20m' }), quiet);
    for (let i = 0; i < 15; i++) {
      world.step();
      world.now = new Date(world.now.getTime() + 60_000);
    }
    expect(world.status?.phase).toBe('Progressing');
    expect(world.status?.currentStepIndex).toBe(1);
    const holds = world.status?.decisions?.filter((x) => x.reason === 'Inconclusive' && x.step === 1) ?? [];
    expect(holds).toHaveLength(1);
    expect(holds[0]?.count).toBeGreaterThan(10);
    expect(Date.parse(holds[0]?.time ?? '') - Date.parse(holds[0]?.firstTime ?? '')).toBeGreaterThan(600_000);
    expect(world.status?.message).toMatch(
      /canary served 3 requests, stable served 4 requests in the window; 50 needed/,
    );
    for (let i = 0; i < 100; i++) {
      world.step();
      world.now = new Date(world.now.getTime() + 60_000);
    }
    expect(world.status?.phase).toBe('Paused');
    expect(world.status?.conditions?.find((c) => c.type === 'Paused')).toMatchObject({
      status: 'True',
      reason: 'HoldDeadlineExceeded',
    });
    const events = world.history.flatMap((d) => d.actions).filter((a) => a.type === 'event');
    expect(events.filter((e) => e.reason === 'Inconclusive').length).toBeLessThanOrEqual(2);
    expect(events.filter((e) => e.reason === 'HoldDeadlineExceeded')).toEqual([
      expect.objectContaining({ severity: 'Warning' }),
    ]);
    expect(world.status?.decisions?.some((x) => x.action === 'Rollback')).toBe(false);
    expect(world.status?.decisions?.length).toBeLessThan(8);
  });

  it('past holdDeadline a release can roll back instead, and evidence resumes a paused one', () => {
    const quiet = () => new Map([['error-ratio', requests(counts(3, 0), counts(4, 0))]]);
    const rolled = new World(analysed({ holdDeadline: '10m', onHoldDeadline: 'Rollback' }), quiet);
    const status = rolled.run(undefined, 100);
    expect(status).toMatchObject({ phase: 'RolledBack', canaryWeight: 0 });
    expect(lastDecision(status)).toMatchObject({ reason: 'HoldDeadlineExceeded' });

    let minute = 0;
    const returning = () => (++minute < 15 ? quiet() : healthy());
    const resumed = new World(analysed({ holdDeadline: '10m' }), returning);
    const done = resumed.run(undefined, 200);
    expect(done.phase).toBe('Succeeded');
    const reasons = done.decisions?.map((x) => x.reason);
    expect(reasons).toContain('HoldDeadlineExceeded');
    expect(reasons).toContain('EvidenceResumed');
  });

  it('a holding analysis gate looks again at the next analysis, not in a busy loop', () => {
    const quiet = () => new Map([['error-ratio', requests(counts(3, 0), counts(4, 0))]]);
    const world = new World(analysed(), quiet);
    world.run((s) => s.lastAnalysis?.verdict === 'Inconclusive');
    for (let i = 0; i < 10; i++) {
      const d = world.step();
      expect(d.requeueAfterMs).toBeGreaterThanOrEqual(1_000);
      world.now = new Date(world.now.getTime() + (d.requeueAfterMs ?? 60_000));
    }
  });

  it('a metrics backend error holds by default and fails when configured to', () => {
    const down = () =>
      new Map([
        [
          'error-ratio',
          {
            kind: 'error',
            error: { code: 'Unreachable', message: 'connect ECONNREFUSED', retryable: true },
          } as const,
        ],
      ]);
    const holding = new World(analysed(), down);
    for (let i = 0; i < 30; i++) {
      holding.step();
      holding.now = new Date(holding.now.getTime() + 60_000);
    }
    expect(holding.status?.phase).toBe('Progressing');
    expect(lastDecision(holding.status)).toMatchObject({ reason: 'MetricsUnavailable', verdict: 'Error' });

    const strict = new World(analysed({ onError: 'Fail' }), down);
    expect(strict.run().phase).toBe('RolledBack');
  });

  it('analysisWindow asks for the current step window once an interval has passed', () => {
    const spec = analysed();
    const world = new World(spec, healthy);
    world.run((s) => s.windowStartedAt !== undefined && s.currentStepIndex === 1);
    const start = Date.parse(world.status?.windowStartedAt ?? '');
    expect(analysisWindow(spec, world.status, new Date(start + 59_000))).toBeNull();
    expect(analysisWindow(spec, world.status, new Date(start + 60_000))).toEqual({
      start: new Date(start),
      end: new Date(start + 60_000),
      since: {},
    });
  });
});

describe('decide: the analysis cadence', () => {
  it('is due one interval after the data last measured ended, not after the reconcile that measured it', () => {
    const spec = aSpec({
      analysis: errorRatioAnalysis(),
      strategy: { steps: [{ setWeight: 10 }, { analysis: { duration: '10m' } }, { setWeight: 50 }] },
    });
    const world = new World(spec, healthy);
    world.run((s) => s.windowStartedAt !== undefined && s.currentStepIndex === 1);
    const status = world.status as CanaryReleaseStatus;
    const start = Date.parse(status.windowStartedAt ?? '');
    // measured at a time releases share (a granule's end), by a reconcile that ran 700 ms after it
    const shared = new Date(start + 60_000);
    const { metrics } = resolveMetrics(spec.analysis, emptyCatalog());
    const obs = observations({
      actualRouting: world.actual,
      analysis: { metrics, measurements: healthy(), end: shared },
    });
    const d = decide(spec, status, obs, new Date(start + 60_700));
    expect(d.status.lastAnalysis?.windowEnd).toBe(shared.toISOString());
    // without the 700 ms of this reconcile: the next round keeps the shared time and its queries
    expect(d.requeueAfterMs).toBe(59_300);
    expect(analysisWindow(spec, d.status, new Date(start + 119_999))).toBeNull();
    expect(analysisWindow(spec, d.status, new Date(start + 120_000))).not.toBeNull();
  });
});

describe('decide: sub-1 % steps', () => {
  it('expresses 0.1 % as weights 999/1 with weightTotal 1000', () => {
    const spec = aSpec({
      trafficRouting: { istio: { weightTotal: 1000 } },
      strategy: { steps: [{ setWeight: 0.1 }, { pause: { duration: '1m' } }] },
    });
    const world = new World(spec);
    world.actual = routingOf(1000, 0, 1000);
    world.run((s) => s.currentStepIndex === 1);
    expect(world.actual).toMatchObject({ stableWeight: 999, canaryWeight: 1, total: 1000 });
    expect(world.status?.actualCanaryWeight).toBe(0.1);
  });
});

describe('decide: status.currentStep, the 1-based step of kubectl get', () => {
  it('counts from 1 over the number of steps, and shows the last step once all are done', () => {
    const started = decide(aSpec(), undefined, observations({ actualRouting: routingOf(100, 0) }), T0);
    expect(started.status.currentStep).toBe('1/4');
    const third = decide(aSpec(), { ...started.status, currentStepIndex: 2 }, observations(), at(1));
    expect(third.status.currentStep).toBe('3/4');
    const done = decide(aSpec(), { ...started.status, currentStepIndex: 4 }, observations(), at(2));
    expect(done.status.currentStep).toBe('4/4');
  });
});
