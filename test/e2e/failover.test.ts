/**
 * The controller dies and comes back: all rollout state lives in the CanaryRelease status, so a
 * restart resumes where it was, and with two replicas only the Lease holder acts.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.js';
import { waitUntil } from '../harness/wait.js';
import { CONTROLLER_NAMESPACE, recordWeights, standUpService, startWorld, type World } from './support.js';

let world: World;
const controllers: ControllerProcess[] = [];

const start = async (identity: string, leaderElect = true) => {
  const c = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity,
    leaderElect,
  });
  controllers.push(c);
  return c;
};

let started = false;

beforeAll(async () => {
  world = await startWorld();
  started = true;
});

afterAll(async () => {
  for (const c of controllers) await c.kill('SIGKILL');
  if (started) await world.stop();
});

const healthy = { v1: { errorRate: 0, latencyMs: 30 }, v2: { errorRate: 0, latencyMs: 30 } };
const slowSteps = {
  steps: [
    { setWeight: 20 },
    { pause: { duration: '6s' } },
    { setWeight: 40 },
    { pause: { duration: '6s' } },
    { setWeight: 60 },
    { pause: { duration: '6s' } },
  ],
};

/** The reconciles a controller's log shows, by release. */
const reconcilesOf = (c: ControllerProcess) => c.records().filter((r) => typeof r.release === 'string');

describe('controller failures', () => {
  it('kill -9 mid-rollout, then a restart: the rollout continues from its status without resetting the weight', async () => {
    const first = await start('solo-0', false);
    const service = await standUpService(world, {
      namespace: 'restart',
      name: 'reviews',
      behaviour: healthy,
    });
    const weights = await recordWeights(world, service);
    try {
      await service.createRelease({ strategy: slowSteps });
      await waitUntil('the canary at 40 %', async () => (await service.weights())[1] === 40, {
        deadline: Date.now() + 60_000,
      });
      await first.kill('SIGKILL');
      const atKill = await service.status();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await start('solo-1', false);
      const status = await service.waitForPhase('Succeeded', 90_000);
      // one rollout: started once, never restarted, every step in order
      expect(status.decisions?.filter((d) => d.action === 'Start' || d.action === 'Restart')).toHaveLength(
        atKill?.decisions?.filter((d) => d.action === 'Start').length ?? 1,
      );
      expect(status.rolloutStartedAt).toBe(atKill?.rolloutStartedAt);
      // Succeeded is written once the VirtualService shows 0/100; the watch may deliver it a moment later
      await weights.waitFor('0/100');
    } finally {
      await weights.stop();
      await service.stop();
    }
    expect(weights.seen).toEqual(['100/0', '80/20', '60/40', '40/60', '0/100']);
    expect(weights.history.gaps).toEqual([]);
    for (const c of controllers.splice(0)) await c.kill('SIGKILL');
  });

  it('two replicas: only the leader writes, and killing it hands over within the lease time', async () => {
    const a = await start('replica-a');
    const b = await start('replica-b');
    const leases = world.admin.makeApiClient(CoordinationV1Api);
    const holder = async () =>
      (
        await leases
          .readNamespacedLease({ namespace: CONTROLLER_NAMESPACE, name: 'canaria-leader' })
          .catch(() => undefined)
      )?.spec?.holderIdentity;
    await waitUntil('a leader', async () => (await holder()) !== undefined, {
      deadline: Date.now() + 30_000,
    });
    const leaderId = await holder();
    const [leader, follower] = leaderId === 'replica-a' ? [a, b] : [b, a];

    const service = await standUpService(world, { namespace: 'ha', name: 'reviews', behaviour: healthy });
    try {
      await service.createRelease({ strategy: slowSteps });
      await waitUntil('the canary at 20 %', async () => (await service.weights())[1] === 20, {
        deadline: Date.now() + 60_000,
      });
      expect(reconcilesOf(leader).length).toBeGreaterThan(0);
      expect(reconcilesOf(follower)).toEqual([]);

      await leader.kill('SIGKILL');
      const killedAt = Date.now();
      await waitUntil(
        `${follower.identity} to hold the lease`,
        async () => (await holder()) === follower.identity,
        {
          deadline: killedAt + 30_000,
          intervalMs: 250,
        },
      );
      const handover = Date.now() - killedAt;
      // lease 15 s, retried every 2 s: the follower takes over once the dead leader's lease expires
      expect(handover).toBeLessThanOrEqual(15_000 + 2_000 + 1_500);
      await service.waitForPhase('Succeeded', 90_000);
      expect(reconcilesOf(follower).length).toBeGreaterThan(0);
    } finally {
      await service.stop();
    }
  });
});
