import { describe, expect, it } from 'vitest';
import type { CanaryReleaseSpecInput, CanaryReleaseStatus } from '../../api/canary-release.js';
import { KubeError } from '../../kube/errors.js';
import type { MemoryKube } from '../../kube/memory.js';
import { managedPrimary, NAMESPACE, reviewsCluster } from '../../../test/builders/cluster.js';
import { baseSpecInput } from '../../../test/builders/release.js';
import { controller, testEnv, type TestEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { runAbort } from './abort.js';
import { runPause } from './pause.js';
import { runPromote } from './promote.js';
import { runResume } from './resume.js';
import { runRetry } from './retry.js';
import type { ClusterFlags } from './session.js';

const REF = { namespace: NAMESPACE, name: 'reviews' };
const plain: ClusterFlags = { color: false };

/** reviews: setWeight 10, pause 1m, setWeight 50, pause 1m (the seeds' S2 steps). */
const timedSteps = () => managedPrimary(baseSpecInput());

/** reviews with a pause without duration at step 2: it waits for a human. */
const manualGate = (): CanaryReleaseSpecInput => ({
  ...timedSteps(),
  strategy: { steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }] },
});

/** Runs one command against the cluster and returns what it printed. */
async function run(
  kube: MemoryKube,
  command: (name: string, flags: ClusterFlags, env: TestEnv) => Promise<number>,
  flags: Partial<ClusterFlags> & Record<string, unknown> = {},
  name = 'reviews',
) {
  const env = testEnv(kube);
  const code = await command(name, { ...plain, ...flags }, env);
  return { code, out: env.out, err: env.err, env };
}

const idIn = (line: string | undefined) => /\(id (\d{8}T\d{6}Z-[0-9a-z]{6})\)/.exec(line ?? '')?.[1];
const pausedReason = (s: CanaryReleaseStatus) =>
  s.conditions?.find((c) => c.type === 'Paused' && c.status === 'True')?.reason;

describe('pause and resume', () => {
  it('pause holds a rollout at its step, a second pause changes nothing, resume lets it finish', async () => {
    const kube = reviewsCluster(timedSteps());
    const c = controller(kube);
    await c.runUntil((s) => s.currentStepIndex === 1);

    const paused = await run(kube, runPause);
    expect(paused).toMatchObject({ code: 0, err: [] });
    expect(paused.out).toEqual([
      'canaryrelease default/reviews: pause requested (spec.paused: true): the controller holds at step 2/4 (canary 10%) until resumed',
    ]);
    expect(c.spec().paused).toBe(true);
    await c.reconcile();
    expect(c.status().phase).toBe('Paused');
    expect(pausedReason(c.status())).toBe('UserPaused');

    const patches = kube.calls.patch;
    const again = await run(kube, runPause);
    expect(again.code).toBe(0);
    expect(again.out).toEqual([
      'canaryrelease default/reviews: already paused (spec.paused is true); to go on: kubectl canaria resume reviews -n default',
    ]);
    expect(kube.calls.patch).toBe(patches);

    const resumed = await run(kube, runResume);
    expect(resumed.out).toEqual(['canaryrelease default/reviews: resume requested (spec.paused: false)']);
    expect(c.spec().paused).toBe(false);
    await c.runUntil((s) => s.phase === 'Succeeded');
  });

  it('resume at a pause without duration also requests a promote, and says so', async () => {
    const kube = reviewsCluster(manualGate());
    const c = controller(kube);
    await c.runUntil((s) => pausedReason(s) === 'WaitingForPromote');
    expect(c.status().phase).toBe('Paused');

    const { code, out } = await run(kube, runResume);
    expect(code).toBe(0);
    expect(out[0]).toMatch(
      /^canaryrelease default\/reviews: resume requested; step 2\/3 \(pause until resumed\) waits for promote, so promote requested too \(id \d{8}T\d{6}Z-[0-9a-z]{6}\)$/,
    );
    expect(c.spec().request).toEqual({ action: 'Promote', id: idIn(out[0]) });
    await c.reconcile();
    expect(c.status().currentStepIndex).toBe(2);
    await c.runUntil((s) => s.phase === 'Succeeded');
  });

  it('resume on a release that is not paused changes nothing', async () => {
    const kube = reviewsCluster(timedSteps());
    await controller(kube).runUntil((s) => s.phase === 'Progressing');
    const patches = kube.calls.patch;
    const { code, out } = await run(kube, runResume);
    expect(code).toBe(0);
    expect(out).toEqual([
      'canaryrelease default/reviews: not paused (spec.paused is false); nothing to resume',
    ]);
    expect(kube.calls.patch).toBe(patches);
  });
});

describe('promote', () => {
  it('skips the current step with a request the controller handles once', async () => {
    const kube = reviewsCluster(timedSteps());
    const c = controller(kube);
    await c.runUntil((s) => s.currentStepIndex === 1);
    const { code, out } = await run(kube, runPromote);
    expect(code).toBe(0);
    expect(out[0]).toMatch(
      /^canaryrelease default\/reviews: promote requested \(id 20261121T100000Z-[0-9a-z]{6}\): the controller skips step 2\/4 \(pause 1m\)$/,
    );
    expect(c.spec().request).toEqual({ action: 'Promote', id: idIn(out[0]) });
    await c.reconcile();
    expect(c.status().currentStepIndex).toBe(2);
    expect(c.status().handledRequestId).toBe(idIn(out[0]));
    expect(c.status().decisions?.at(-1)).toMatchObject({ action: 'Promote', reason: 'UserPromoted' });
  });

  it('--full sends all traffic to the canary at once', async () => {
    const kube = reviewsCluster(timedSteps());
    const c = controller(kube);
    await c.runUntil((s) => s.currentStepIndex === 1);
    const { out } = await run(kube, runPromote, { full: true });
    expect(out[0]).toMatch(
      /: full promotion requested \(id .+\): the controller sends all traffic to the canary and skips the remaining steps$/,
    );
    expect(c.spec().request?.action).toBe('PromoteFull');
    await c.runUntil((s) => s.phase === 'Succeeded');
    expect(c.status().decisions?.map((d) => d.reason)).toContain('UserPromotedFull');
  });

  it('is refused, with the reason, on a release that is not rolling out', async () => {
    const kube = reviewsCluster(timedSteps());
    await controller(kube).runUntil((s) => s.phase === 'Succeeded');
    const patches = kube.calls.patch;
    const { code, out, err } = await run(kube, runPromote);
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual(['canaryrelease default/reviews: nothing to promote while it is Succeeded']);
    expect(kube.calls.patch).toBe(patches);
  });

  it('is refused on a release the controller has not reported on', async () => {
    const { code, err } = await run(reviewsCluster(timedSteps()), runPromote);
    expect(code).toBe(1);
    expect(err).toEqual([
      'canaryrelease default/reviews has no status yet: the canaria controller has not reported on it (is it running?)',
    ]);
  });

  it('does not send the same request twice while the controller has not handled it; another action replaces it', async () => {
    const kube = reviewsCluster(timedSteps());
    const c = controller(kube);
    await c.runUntil((s) => s.currentStepIndex === 1);
    const first = await run(kube, runPromote);
    const id = idIn(first.out[0]);
    const patches = kube.calls.patch;
    const second = await run(kube, runPromote);
    expect(second.out).toEqual([
      `canaryrelease default/reviews: Promote was already requested (id ${id}) and waits for the canaria controller (is it running?)`,
    ]);
    expect(kube.calls.patch).toBe(patches);
    const abort = await run(kube, runAbort);
    expect(abort.out[0]).toMatch(
      new RegExp(`; this replaces the Promote request ${id}, which the controller had not handled yet$`),
    );
    expect(c.spec().request?.action).toBe('Abort');
  });
});

describe('abort and retry', () => {
  it('abort sends all traffic back to stable; retry rolls the same revision out again from step 1', async () => {
    const kube = reviewsCluster(timedSteps());
    const c = controller(kube);
    await c.runUntil((s) => s.currentStepIndex === 2);

    const early = await run(kube, runRetry);
    expect(early.code).toBe(1);
    expect(early.err).toEqual([
      'canaryrelease default/reviews: only a rolled-back release can be retried; it is Progressing',
    ]);

    const aborted = await run(kube, runAbort);
    expect(aborted.code).toBe(0);
    expect(aborted.out[0]).toMatch(
      /^canaryrelease default\/reviews: abort requested \(id .+\): the controller sends all traffic back to the stable revision$/,
    );
    await c.runUntil((s) => s.phase === 'RolledBack' && s.actualCanaryWeight === 0);
    expect(c.status().decisions?.at(-1)).toMatchObject({ action: 'Rollback', reason: 'Aborted' });

    const again = await run(kube, runAbort);
    expect(again.code).toBe(1);
    expect(again.err).toEqual([
      'canaryrelease default/reviews: it is RolledBack, not rolling out: nothing to abort',
    ]);

    const retried = await run(kube, runRetry);
    expect(retried.code).toBe(0);
    expect(retried.out[0]).toMatch(
      new RegExp(
        `^canaryrelease default/reviews: retry requested \\(id .+\\): the controller rolls out canary revision ${c.status().canaryRevision ?? '?'} again from step 1$`,
      ),
    );
    await c.reconcile();
    expect(c.status()).toMatchObject({ phase: 'Progressing', currentStepIndex: 0 });
    expect(c.status().decisions?.at(-1)).toMatchObject({ action: 'Start', reason: 'Retry' });
    await c.runUntil((s) => s.phase === 'Succeeded');
  });

  it('abort is refused on a release that already succeeded', async () => {
    const kube = reviewsCluster(timedSteps());
    await controller(kube).runUntil((s) => s.phase === 'Succeeded');
    const { code, err } = await run(kube, runAbort);
    expect(code).toBe(1);
    expect(err).toEqual([
      'canaryrelease default/reviews: it is Succeeded, not rolling out: nothing to abort',
    ]);
  });
});

describe('the API server says no', () => {
  it('names the release and namespace when it does not exist', async () => {
    for (const command of [runPause, runResume, runPromote, runAbort, runRetry]) {
      const { code, out, err } = await run(reviewsCluster(), command, { namespace: 'shop' }, 'reviews');
      expect(code).toBe(3);
      expect(out).toEqual([]);
      expect(err).toEqual([
        'canaryrelease shop/reviews not found; check the name and the namespace (-n), or list them with: kubectl canaria get -n shop',
      ]);
    }
  });

  it('says which verb on which resource RBAC denied', async () => {
    const kube = reviewsCluster(timedSteps());
    kube.failNext(
      'patch',
      new KubeError(
        'Forbidden',
        'canaryreleases.canaria.dev "reviews" is forbidden: User "dev" cannot patch resource "canaryreleases" in API group "canaria.dev" in the namespace "default"',
        403,
      ),
    );
    const { code, err } = await run(kube, runPause);
    expect(code).toBe(3);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(
      /^forbidden: you may not patch canaryreleases\.canaria\.dev in namespace default \(needed for canaryrelease default\/reviews\); ask for RBAC verb "patch" on canaryreleases\.canaria\.dev\. The API server said: .*User "dev" cannot patch/,
    );
  });

  it('refuses to overwrite a spec edited since the command read it (the generation guard)', async () => {
    const kube = reviewsCluster(timedSteps());
    const c = controller(kube);
    await c.runUntil((s) => s.currentStepIndex === 1);
    const env = testEnv(kube);
    const connect = env.connect;
    // the command's cache still shows the release as it was before someone paused it
    env.connect = async (options) => {
      const connection = await connect(options);
      const stale = kube.get('CanaryRelease', REF);
      await kube.patch('CanaryRelease', REF, [{ op: 'add', path: '/spec/paused', value: true }]);
      connection.get = () => structuredClone(stale);
      return connection;
    };
    expect(await runPromote('reviews', plain, env)).toBe(3);
    expect(env.err).toEqual([
      'canaryrelease default/reviews changed while the request was being made; run the command again',
    ]);
    expect(c.spec().request).toBeUndefined();
  });

  it('prints the patched object with -o json', async () => {
    const kube = reviewsCluster(timedSteps());
    await controller(kube).runUntil((s) => s.currentStepIndex === 1);
    const { code, out } = await run(kube, runPause, { output: 'json' });
    expect(code).toBe(0);
    expect(JSON.parse(out.join('\n'))).toMatchObject({ kind: 'CanaryRelease', spec: { paused: true } });
  });
});
