/**
 * Issue 13 part 8 on a real API server and etcd: kube-apiserver is killed (kill -9) and started again
 * on the same etcd in the middle of a rollout. The controller's caches break and come back; its
 * writes fail for a while and then succeed. Every decision must still be made exactly once (each
 * Event of the release once, with count 1: aggregation would otherwise fold a repeat into a count)
 * and the rollout must finish, through the planned weights only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.js';
import { kubeRequest } from '../harness/kube-http.js';
import { CONTROLLER_NAMESPACE, recordWeights, standUpService, startWorld, type World } from './support.js';

let world: World;
let controller: ControllerProcess | undefined;

beforeAll(async () => {
  world = await startWorld();
  // no leader election: an outage longer than the renew deadline rightly ends the leader, and this
  // test is about what one controller decides across the outage
  controller = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity: 'canaria-restart',
    leaderElect: false,
  });
});

afterAll(async () => {
  await controller?.kill('SIGTERM');
  // beforeAll may have failed before world was set; that failure is what the run reports.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  await world?.stop();
});

interface EventItem {
  reason?: string;
  message?: string;
  count?: number;
  involvedObject?: { kind?: string; name?: string };
}

describe('kube-apiserver restarts mid-rollout', () => {
  it('every decision is made once (each Event once, count 1), rolloutStartedAt stays, and the rollout finishes', async () => {
    const service = await standUpService(world, {
      namespace: 'apiserver-restart',
      name: 'reviews',
      behaviour: { v1: { errorRate: 0, latencyMs: 30 }, v2: { errorRate: 0, latencyMs: 30 } },
    });
    const weights = await recordWeights(world, service);
    let atRestart: Awaited<ReturnType<typeof service.status>>;
    try {
      await service.createRelease({
        strategy: {
          steps: [
            { setWeight: 20 },
            { pause: { duration: '6s' } },
            { setWeight: 40 },
            { pause: { duration: '8s' } },
            { setWeight: 60 },
            { pause: { duration: '6s' } },
          ],
        },
      });
      await weights.waitFor('60/40', 60_000);
      atRestart = await service.status();
      await world.env.restartApiserver({ downMs: 3_000 });
      const status = await service.waitForPhase('Succeeded', 120_000);
      await weights.waitFor('0/100');

      expect(status.decisions?.map((d) => d.action)).toEqual([
        'Start',
        'Advance',
        'Advance',
        'Advance',
        'Advance',
        'Advance',
        'Promote',
        'Succeed',
      ]);
      expect(status.rolloutStartedAt).toBe(atRestart?.rolloutStartedAt);
    } finally {
      await weights.stop();
      await service.stop();
    }
    expect(weights.seen).toEqual(['100/0', '80/20', '60/40', '40/60', '0/100']);

    const response = await kubeRequest(world.env.admin, {
      method: 'GET',
      path: `/api/v1/namespaces/${service.namespace}/events`,
    });
    const events = ((response.body as { items?: EventItem[] }).items ?? []).filter(
      (e) => e.involvedObject?.kind === 'CanaryRelease' && e.involvedObject.name === 'reviews',
    );
    const said = events.map((e) => `${e.reason ?? ''}: ${e.message ?? ''} (x${String(e.count ?? 1)})`);
    expect(said.length).toBeGreaterThanOrEqual(8);
    // each decision once: no Event twice, and none that happened twice and was counted
    expect(said).toEqual([...new Set(said)]);
    expect(said.filter((line) => !line.endsWith('(x1)'))).toEqual([]);
  });
});
