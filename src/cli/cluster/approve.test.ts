import { describe, expect, it } from 'vitest';
import type { CanaryReleaseSpecInput } from '../../api/canary-release.js';
import type { MemoryKube } from '../../kube/memory.js';
import { managedPrimary, reviewsCluster } from '../../../test/builders/cluster.js';
import { baseSpecInput } from '../../../test/builders/release.js';
import { controller, testEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { runApprove } from './approve.js';

const idIn = (line: string | undefined) => /\(id (\d{8}T\d{6}Z-[0-9a-z]{6})\)/.exec(line ?? '')?.[1];

async function approve(kube: MemoryKube) {
  const env = testEnv(kube);
  const code = await runApprove('reviews', { color: false }, env);
  return { code, out: env.out, err: env.err };
}

/** A confirm-promotion hook nobody answers (the controller here calls no hooks): only approve opens it. */
const gated = (): CanaryReleaseSpecInput => ({
  ...managedPrimary(baseSpecInput()),
  webhooks: [{ name: 'release-manager', type: 'confirm-promotion', url: 'http://gate.test/' }],
});

describe('approve', () => {
  it('opens the confirm-promotion gate the release waits at, through a request the controller records', async () => {
    const kube = reviewsCluster(gated());
    const c = controller(kube);
    await c.runUntil((s) => s.hooks?.waiting !== undefined);
    expect(c.status().message).toMatch(/^waiting for confirm-promotion hook release-manager: not called yet/);

    const { code, out } = await approve(kube);
    expect(code).toBe(0);
    expect(out[0]).toMatch(
      /^canaryrelease default\/reviews: approve requested \(id .+\): the controller opens the confirm-promotion gate$/,
    );
    expect(c.spec().request).toEqual({ action: 'Approve', id: idIn(out[0]) });
    await c.reconcile();
    expect(c.status().decisions?.at(-1)).toMatchObject({ action: 'Resume', reason: 'UserApproved' });
    expect(c.status().hooks?.approved).toEqual(['confirm-promotion']);
    await c.runUntil((s) => s.phase === 'Succeeded');
  });

  it('opens a pause without duration', async () => {
    const kube = reviewsCluster({
      ...managedPrimary(baseSpecInput()),
      strategy: { steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }] },
    });
    const c = controller(kube);
    await c.runUntil((s) => s.phase === 'Paused');
    const { out } = await approve(kube);
    expect(out[0]).toMatch(/: the controller opens the pause at step 2\/3$/);
    await c.reconcile();
    expect(c.status().currentStepIndex).toBe(2);
  });

  it('is refused, saying what to do instead, where the release waits at no gate', async () => {
    const kube = reviewsCluster(managedPrimary(baseSpecInput()));
    await controller(kube).runUntil((s) => s.phase === 'Progressing');
    const patches = kube.calls.patch;
    const { code, err } = await approve(kube);
    expect(code).toBe(1);
    expect(err[0]).toMatch(
      /waits at no gate .*; to skip a step: kubectl canaria promote reviews -n default$/,
    );
    expect(kube.calls.patch).toBe(patches);
  });
});
