/**
 * A webhook's headersFrom Secret on the real API server, with the chart's RBAC for
 * `webhooks.headersFromSecrets=true` alone (no release sinks, no trackSecrets): the controller may
 * `get` that Secret and nothing more, and the hook receives its headers.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver } from '../../src/notify/receiver.test-support.js';
import { isAllowed } from '../harness/access.js';
import { startControllerProcess } from '../harness/controller-process.js';
import { CONTROLLER_NAMESPACE, standUpService, startWorld, type World } from './support.js';

let world: World;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  world = await startWorld({
    chartValues: { 'managedMode.enabled': false, 'webhooks.headersFromSecrets': true },
  });
  cleanups.push(() => world.stop());
  const controller = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity: 'canaria-0',
    extraArgs: ['--managed-mode=false', '--release-notifications=false'],
  });
  cleanups.push(() => controller.kill('SIGTERM'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('webhooks.headersFromSecrets', () => {
  it('lets the controller get a hook’s headersFrom Secret, and only get, and the hook receives its headers', async () => {
    const account = { namespace: CONTROLLER_NAMESPACE, name: 'canaria' };
    const secrets = { group: '', resource: 'secrets', namespace: 'h1' };
    expect(await isAllowed(world.env, account, { ...secrets, verb: 'get' })).toBe(true);
    for (const verb of ['list', 'watch', 'create', 'patch'])
      expect(await isAllowed(world.env, account, { ...secrets, verb }), verb).toBe(false);

    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const service = await standUpService(world, {
      namespace: 'h1',
      name: 'reviews',
      behaviour: { v1: { errorRate: 0, latencyMs: 30 }, v2: { errorRate: 0, latencyMs: 30 } },
    });
    await world.admin.makeApiClient(CoreV1Api).createNamespacedSecret({
      namespace: 'h1',
      body: { metadata: { name: 'hook-token' }, stringData: { Authorization: 'Bearer s3cret' } },
    });
    try {
      await service.createRelease({
        strategy: { steps: [{ setWeight: 50 }, { pause: { duration: '2s' } }] },
        webhooks: [
          {
            name: 'smoke',
            type: 'pre-rollout',
            url: receiver.url,
            headersFrom: { secretRef: { name: 'hook-token' } },
          },
        ],
      });
      await service.waitForPhase('Succeeded', 60_000);
      expect(receiver.received.length).toBeGreaterThanOrEqual(1);
      expect(receiver.received[0]?.headers.authorization).toBe('Bearer s3cret');
    } finally {
      await service.stop();
    }
  });
});
