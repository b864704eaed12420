import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus, DecisionRecord, MetricEvidence } from '../../api/canary-release.js';
import { MemoryKube } from '../../kube/memory.js';
import { baseSpecInput, errorRatioAnalysis } from '../../../test/builders/release.js';
import { placeRelease, settle, testEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { runGet } from './get.js';

const REF = { namespace: 'default', name: 'reviews' };

const spec = () => ({
  ...baseSpecInput(),
  strategy: {
    steps: [{ setWeight: 10 }, { analysis: { duration: '2m' } }, { setWeight: 50 }, { analysis: {} }],
  },
  analysis: errorRatioAnalysis(),
});

const errorRatio = (verdict: MetricEvidence['verdict'], canaryErrors: number): MetricEvidence => {
  const value = canaryErrors / 1000;
  const pass = verdict === 'Pass';
  return {
    metric: 'error-ratio',
    type: 'errorRatio',
    verdict,
    rule: `canary ${value} ${pass ? '<=' : '>'} stable 0.002222 x (1 + 0.5) + 0.001 = 0.004333`,
    canary: { value, total: 1000, errors: canaryErrors },
    stable: { value: 0.002222, total: 9000, errors: 20 },
    bound: 0.004333,
  };
};

const decision = (record: Omit<DecisionRecord, 'time'> & { time?: string }): DecisionRecord => ({
  time: '2026-11-21T10:02:00.000Z',
  ...record,
});

/** The statuses the controller writes while it takes reviews from step 1 to a rollback. */
const started: CanaryReleaseStatus = {
  phase: 'Progressing',
  currentStepIndex: 0,
  canaryWeight: 0,
  actualCanaryWeight: 0,
  stableRevision: '5f1c2a9e',
  canaryRevision: 'b7d04e13',
  message: 'rolling out canary revision b7d04e13',
  decisions: [
    decision({
      time: '2026-11-21T10:00:00.000Z',
      action: 'Start',
      reason: 'NewRevision',
      message: 'rolling out canary revision b7d04e13',
      step: 0,
      canaryWeight: 0,
    }),
  ],
};

const analysing: CanaryReleaseStatus = {
  ...started,
  currentStepIndex: 1,
  canaryWeight: 10,
  actualCanaryWeight: 10,
  message: 'step 1 (setWeight 10%) done; now step 2/4: analysis over 2m',
  lastAnalysis: {
    time: '2026-11-21T10:01:00.000Z',
    windowStart: '2026-11-21T10:00:00.000Z',
    verdict: 'Pass',
    summary: 'error-ratio Pass: canary 0.002 <= stable 0.002222 x (1 + 0.5) + 0.001 = 0.004333',
    metrics: [errorRatio('Pass', 2)],
  },
  decisions: [
    ...(started.decisions ?? []),
    decision({
      time: '2026-11-21T10:00:05.000Z',
      action: 'Advance',
      reason: 'StepComplete',
      message: 'step 1 (setWeight 10%) done; now step 2/4: analysis over 2m',
      step: 1,
      canaryWeight: 10,
    }),
  ],
};

const failedOnce: CanaryReleaseStatus = {
  ...analysing,
  consecutiveFailures: 1,
  message:
    'analysis failed (1 of 2 allowed in a row) over 2m: error-ratio Fail: canary 0.08 > stable 0.002222 x (1 + 0.5) + 0.001 = 0.004333',
  lastAnalysis: {
    time: '2026-11-21T10:02:00.000Z',
    windowStart: '2026-11-21T10:00:00.000Z',
    verdict: 'Fail',
    summary: 'error-ratio Fail: canary 0.08 > stable 0.002222 x (1 + 0.5) + 0.001 = 0.004333',
    metrics: [errorRatio('Fail', 80)],
  },
  decisions: [
    ...(analysing.decisions ?? []),
    decision({
      action: 'Hold',
      reason: 'AnalysisFailed',
      message:
        'analysis failed (1 of 2 allowed in a row) over 2m: error-ratio Fail: canary 0.08 > stable 0.002222 x (1 + 0.5) + 0.001 = 0.004333',
      step: 1,
      canaryWeight: 10,
      verdict: 'Fail',
      metrics: [errorRatio('Fail', 80)],
    }),
  ],
};

const rolledBack: CanaryReleaseStatus = {
  ...failedOnce,
  phase: 'RolledBack',
  canaryWeight: 0,
  actualCanaryWeight: 10,
  consecutiveFailures: 2,
  message:
    'rolled back at 10% after 2 failed analyses in a row (limit 2) over 3m: error-ratio Fail: canary 0.08 > stable 0.002222 x (1 + 0.5) + 0.001 = 0.004333',
  decisions: [
    ...(failedOnce.decisions ?? []),
    decision({
      time: '2026-11-21T10:03:00.000Z',
      action: 'Rollback',
      reason: 'AnalysisFailed',
      message:
        'rolled back at 10% after 2 failed analyses in a row (limit 2) over 3m: error-ratio Fail: canary 0.08 > stable 0.002222 x (1 + 0.5) + 0.001 = 0.004333',
      step: 1,
      canaryWeight: 10,
      verdict: 'Fail',
      metrics: [errorRatio('Fail', 80)],
    }),
  ],
};

const lines = (out: string[]) => out.join('\n').split('\n');

function cluster(status?: CanaryReleaseStatus): MemoryKube {
  const kube = new MemoryKube();
  placeRelease(kube, { name: 'reviews', spec: spec(), ...(status ? { status } : {}) });
  return kube;
}

/** Starts `get reviews --watch` and lets it print its first block. */
async function watching(kube: MemoryKube, flags: { timeout?: string; output?: string } = {}) {
  const env = testEnv(kube);
  const done = runGet('reviews', { color: false, watch: true, ...flags }, env);
  await settle();
  return { env, done };
}

describe('canaria get NAME --watch', () => {
  it('reprints the block on every visible change and exits 1 when the release rolls back (golden)', async () => {
    const kube = cluster();
    const { env, done } = await watching(kube);
    for (const status of [started, analysing, analysing, failedOnce, rolledBack]) {
      await kube.writeReleaseStatus(REF, status);
      await settle();
    }
    expect(await done).toBe(1);
    expect(env.err).toEqual([]);
    // the repeated status printed nothing: 1 block without status + 4 changes
    expect(lines(env.out).filter((line) => line.startsWith('canaryrelease '))).toHaveLength(5);
    await expect(`${env.out.join('\n')}\n`).toMatchFileSnapshot('./__golden__/watch-rollback.txt');
    expect(env.stopped).toBe(1);
  });

  it('exits 0 when the release is promoted', async () => {
    const kube = cluster(analysing);
    const { env, done } = await watching(kube);
    await kube.writeReleaseStatus(REF, {
      ...analysing,
      phase: 'Succeeded',
      currentStepIndex: 4,
      canaryWeight: 100,
      actualCanaryWeight: 100,
      stableRevision: 'b7d04e13',
      message: 'canary revision b7d04e13 promoted: 100 % of traffic after 6m8s',
    });
    expect(await done).toBe(0);
    expect(env.out.at(-1)).toContain('canary revision b7d04e13 promoted');
    expect(lines(env.out)).toContain('  step       4/4  promote');
  });

  it('ends at once with the exit code when the release is already settled', async () => {
    const env = testEnv(cluster(rolledBack));
    expect(await runGet('reviews', { color: false, watch: true }, env)).toBe(1);
    expect(lines(env.out)[0]).toBe('canaryrelease default/reviews  RolledBack');
  });

  it('keeps watching a settled release whose latest spec the controller has not seen yet', async () => {
    const kube = cluster({ ...rolledBack, observedGeneration: 1 });
    const ref = REF;
    await kube.patch('CanaryRelease', ref, [
      { op: 'add', path: '/spec/request', value: { action: 'Retry', id: 'r1' } },
    ]);
    const { done } = await watching(kube);
    let finished = false;
    void done.then(() => (finished = true));
    await settle();
    expect(finished).toBe(false);
    await kube.writeReleaseStatus(ref, { ...started, observedGeneration: 2, handledRequestId: 'r1' });
    await kube.writeReleaseStatus(ref, { ...rolledBack, observedGeneration: 2, handledRequestId: 'r1' });
    expect(await done).toBe(1);
  });

  it('gives up after --timeout with exit code 2 and the phase it was in', async () => {
    const kube = cluster(analysing);
    const { env, done } = await watching(kube, { timeout: '10m' });
    env.timers.advance(9 * 60_000);
    await settle();
    env.timers.advance(60_000);
    expect(await done).toBe(2);
    expect(env.err).toEqual([
      'timed out after 10m: canaryrelease default/reviews is still Progressing at step 2/4 (canary 10%)',
    ]);
  });

  it('stops on Ctrl-C with exit code 130', async () => {
    const { env, done } = await watching(cluster(analysing));
    env.interrupt();
    expect(await done).toBe(130);
  });

  it('says so when the release is deleted while watched', async () => {
    const kube = cluster(analysing);
    const { env, done } = await watching(kube);
    kube.remove('CanaryRelease', REF);
    expect(await done).toBe(3);
    expect(env.err).toEqual(['canaryrelease default/reviews was deleted before it settled']);
  });

  it('prints each version of the object with -o json', async () => {
    const kube = cluster(analysing);
    const { env, done } = await watching(kube, { output: 'json' });
    await kube.writeReleaseStatus(REF, rolledBack);
    expect(await done).toBe(1);
    const phases = env.out.map((text) => (JSON.parse(text) as { status: CanaryReleaseStatus }).status.phase);
    expect(phases).toEqual(['Progressing', 'RolledBack']);
  });

  it('tells a paused release how to go on', async () => {
    const kube = cluster({
      ...analysing,
      phase: 'Paused',
      conditions: [
        {
          type: 'Paused',
          status: 'True',
          reason: 'UserPaused',
          message: 'paused by the user at 10% (step 2)',
          lastTransitionTime: '2026-11-21T10:01:30.000Z',
        },
      ],
    });
    const { env, done } = await watching(kube);
    env.interrupt();
    await done;
    expect(lines(env.out)).toContain(
      '  next       paused by the user: kubectl canaria resume reviews -n default',
    );
  });
});
