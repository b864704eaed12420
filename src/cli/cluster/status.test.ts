import { describe, expect, it } from 'vitest';
import { deployment, managedPrimary, reviewsCluster } from '../../../test/builders/cluster.js';
import { baseSpecInput, errorRatioAnalysis } from '../../../test/builders/release.js';
import { controller, failing, healthy, settle, testEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { runStatus } from './status.js';

const analysedSpec = () => ({
  ...managedPrimary(baseSpecInput()),
  strategy: { steps: [{ setWeight: 10 }, { analysis: {} }, { setWeight: 50 }, { analysis: {} }] },
  analysis: errorRatioAnalysis(),
});

/** Starts `status reviews` and lets it print where the release is. */
async function following(kube: ReturnType<typeof reviewsCluster>, timeout?: string) {
  const env = testEnv(kube);
  const done = runStatus('reviews', { color: false, ...(timeout ? { timeout } : {}) }, env);
  await settle();
  return { env, done };
}

describe('canaria status NAME', () => {
  it('exits 0 once the controller promotes the canary, one line per phase, step and weight on the way', async () => {
    const kube = reviewsCluster(analysedSpec());
    const { env, done } = await following(kube);
    await controller(kube).runUntil((s) => s.phase === 'Succeeded');
    expect(await done).toBe(0);
    expect(env.err).toEqual([]);
    expect(env.out[0]).toBe(
      'canaryrelease default/reviews: no status yet: the canaria controller has not reported on it (is it running?)',
    );
    expect(env.out[1]).toBe(
      `canaryrelease default/reviews: Progressing at step 1/4 (setWeight 10%), canary 0%: rolling out canary revision ${controller(kube).status().canaryRevision ?? '?'}`,
    );
    expect(env.out.at(-1)).toMatch(
      /^canaryrelease default\/reviews: Succeeded at step 4\/4 \(promote\), canary 100%: canary revision \w+ promoted: 100 % of traffic after \d+m/,
    );
    // a line for every phase, step and weight (desired and actual) it goes through, and only then
    const where = env.out
      .slice(1)
      .map(
        (line) => /^canaryrelease default\/reviews: (.*?, canary \d+%(?: \(actual \d+%\))?)/.exec(line)?.[1],
      );
    expect(where).toEqual([
      'Progressing at step 1/4 (setWeight 10%), canary 0%',
      'Progressing at step 1/4 (setWeight 10%), canary 10% (actual 0%)',
      'Progressing at step 2/4 (analysis), canary 10%',
      'Progressing at step 3/4 (setWeight 50%), canary 10%',
      'Progressing at step 3/4 (setWeight 50%), canary 50% (actual 10%)',
      'Progressing at step 4/4 (analysis), canary 50%',
      'Promoting at step 4/4 (promote), canary 50%',
      'Promoting at step 4/4 (promote), canary 100% (actual 50%)',
      'Succeeded at step 4/4 (promote), canary 100%',
    ]);
  });

  it('exits 1 when the controller rolls a failing canary back', async () => {
    const kube = reviewsCluster(analysedSpec());
    const { env, done } = await following(kube);
    await controller(kube, failing).runUntil((s) => s.phase === 'RolledBack');
    expect(await done).toBe(1);
    expect(env.out.at(-1)).toMatch(
      /^canaryrelease default\/reviews: RolledBack at step 2\/4 \(analysis\), canary 0%(?: \(actual 10%\))?: rolled back at 10% after 2 failed analyses/,
    );
  });

  it('exits 1 when the release fails on its configuration', async () => {
    const kube = reviewsCluster({ ...analysedSpec(), strategy: { steps: [{ setWeight: 150 }] } });
    const { env, done } = await following(kube);
    await controller(kube).reconcile();
    expect(await done).toBe(1);
    expect(env.out.at(-1)).toMatch(
      /^canaryrelease default\/reviews: Failed, canary -: invalid configuration, traffic left as it is: spec\.strategy\.steps\[0\]\.setWeight/,
    );
  });

  it('exits 2 when --timeout passes first, saying where the release was', async () => {
    const kube = reviewsCluster(analysedSpec());
    const c = controller(kube);
    await c.runUntil((s) => s.currentStepIndex === 1);
    const { env, done } = await following(kube, '10m');
    env.timers.advance(10 * 60_000);
    expect(await done).toBe(2);
    expect(env.out).toHaveLength(1);
    expect(env.err).toEqual([
      'timed out after 10m: canaryrelease default/reviews is still Progressing at step 2/4 (canary 10%)',
    ]);
    expect(env.stopped).toBe(1);
  });

  it('exits 0 at once for a release that is already promoted, and 130 on Ctrl-C', async () => {
    const kube = reviewsCluster(analysedSpec());
    const c = controller(kube);
    await c.runUntil((s) => s.phase === 'Succeeded');
    expect(await runStatus('reviews', { color: false }, testEnv(kube))).toBe(0);

    const other = reviewsCluster(analysedSpec());
    const { env, done } = await following(other);
    env.interrupt();
    expect(await done).toBe(130);
  });

  it('rejects a timeout that is not a duration, and a release that does not exist', async () => {
    const kube = reviewsCluster(analysedSpec());
    const env = testEnv(kube);
    expect(await runStatus('reviews', { color: false, timeout: '10' }, env)).toBe(64);
    expect(env.err).toEqual(['--timeout "10" is not a duration; write it as 10m, 90s or 1h30m']);
    const missing = testEnv(kube);
    expect(await runStatus('ratings', { color: false }, missing)).toBe(3);
    expect(missing.err[0]).toMatch(/^canaryrelease default\/ratings not found/);
  });
});

describe('canaria status NAME after a new canary Deployment (subsets mode)', () => {
  it('does not exit on the previous outcome: it waits for the revision deployed now', async () => {
    const kube = reviewsCluster(analysedSpec());
    let answer = failing;
    const c = controller(kube, () => answer());
    await c.runUntil((s) => s.phase === 'RolledBack');
    answer = healthy;
    const before = c.status().canaryRevision ?? '';
    // CI deploys a fixed image of the canary Deployment, then asks for the outcome at once
    const rolled = kube.apply('Deployment', deployment('reviews-v2', 'v2', 'reviews:3'));
    // and its pods become ready, as the kubelets would report
    kube.apply('Deployment', {
      ...rolled,
      status: { ...(rolled.status as object), observedGeneration: rolled.metadata.generation },
    });
    const env = testEnv(kube);
    const done = runStatus('reviews', { color: false }, env);
    await settle();
    let ended = false;
    void done.then(() => (ended = true));
    await settle();
    expect(ended).toBe(false);
    expect(env.out[0]).toMatch(
      new RegExp(
        `^canaryrelease default/reviews: waiting for the controller to take up canary revision (\\w+); the release still reports ${before} \\(RolledBack\\)$`,
      ),
    );
    const expected = /revision (\w+);/.exec(env.out[0] ?? '')?.[1];
    expect(expected).not.toBe(before);
    // the controller sees the new Deployment and rolls it out
    await c.runUntil((s) => s.phase === 'Succeeded' && s.canaryRevision !== before);
    expect(await done).toBe(0);
    expect(c.status().canaryRevision).toBe(expected);
    expect(env.out.at(-1)).toMatch(/^canaryrelease default\/reviews: Succeeded at step 4\/4/);
    expect(env.connections[0]?.kinds).toEqual(['CanaryRelease', 'DestinationRule', 'Deployment']);
  });

  it('waits for the --revision given, and says on timeout that the controller has not taken it up', async () => {
    const kube = reviewsCluster(analysedSpec());
    await controller(kube).runUntil((s) => s.phase === 'Succeeded');
    const env = testEnv(kube);
    const done = runStatus('reviews', { color: false, revision: 'abc123', timeout: '5m' }, env);
    await settle();
    env.timers.advance(5 * 60_000);
    expect(await done).toBe(2);
    expect(env.err).toEqual([
      `timed out after 5m: canaryrelease default/reviews still reports canary revision ${controller(kube).status().canaryRevision ?? ''} (Succeeded); the controller has not taken up revision abc123 yet (is it running?)`,
    ]);
    // with --revision nothing but releases is read
    expect(env.connections[0]?.kinds).toBeUndefined();
  });

  it('exits 0 at once when the release already reports the revision deployed now', async () => {
    const kube = reviewsCluster(analysedSpec());
    await controller(kube).runUntil((s) => s.phase === 'Succeeded');
    const env = testEnv(kube);
    expect(await runStatus('reviews', { color: false }, env)).toBe(0);
    expect(env.out).toHaveLength(1);
  });
});
