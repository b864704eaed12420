import { afterEach, describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import { Registry } from 'prom-client';
import { HookMetrics } from '../hooks/metrics.js';
import { MemoryKube } from '../kube/memory.js';
import { startReceiver } from '../notify/receiver.test-support.js';
import { silentLogger } from '../telemetry/logger.js';
import { aSpec, observations } from '../../test/builders/release.js';
import { HookRunner } from './hooks.js';
import type { ReleaseObservation } from './observe.js';

const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});
const seen = (): ReleaseObservation => ({
  observations: observations(),
  metrics: [],
  services: { stable: 'reviews', canary: 'reviews' },
  reported: {},
});
const waiting: CanaryReleaseStatus = {
  phase: 'Progressing',
  canaryWeight: 50,
  hooks: { waiting: { type: 'confirm-promotion', key: 'confirm-promotion', since: '2026-11-21T10:00:00Z' } },
};
const ref = { namespace: 'shop', name: 'reviews' };

describe('HookRunner', () => {
  it('calls only the due hooks, with the headers of the Secret from the cache, and puts the answers in the observations', async () => {
    const r = await startReceiver(() => 403);
    receivers.push(r);
    const kube = new MemoryKube();
    kube.apply('Secret', {
      metadata: { name: 'gate-token', namespace: 'shop' },
      data: { authorization: Buffer.from('Bearer s3cret\n').toString('base64') },
    });
    const spec = aSpec({
      webhooks: [
        {
          name: 'gate',
          type: 'confirm-promotion',
          url: `${r.url}?k=v`,
          headersFrom: { secretRef: { name: 'gate-token' } },
        },
        { name: 'done', type: 'post-rollout', url: r.url },
      ],
    });
    const s = seen();
    const registry = new Registry();
    await new HookRunner({ kube, logger: silentLogger(), metrics: new HookMetrics(registry) }).run(
      ref,
      spec,
      waiting,
      s,
      new Date(),
    );
    expect(await registry.metrics()).toContain(
      'canaria_webhook_calls_total{type="confirm-promotion",outcome="failed"} 1',
    );
    expect(r.received).toHaveLength(1);
    expect(r.received[0]?.headers.authorization).toBe('Bearer s3cret');
    expect(s.observations.hooks).toEqual([
      expect.objectContaining({
        name: 'gate',
        gate: 'confirm-promotion',
        ok: false,
        statusCode: 403,
        url: r.url,
      }),
    ]);
  });

  it('a missing Secret is an answer that names it, and nothing is sent', async () => {
    const r = await startReceiver(() => 200);
    receivers.push(r);
    const spec = aSpec({
      webhooks: [
        { name: 'gate', type: 'confirm-promotion', url: r.url, headersFrom: { secretRef: { name: 'nope' } } },
      ],
    });
    const s = seen();
    await new HookRunner({
      kube: new MemoryKube(),
      logger: silentLogger(),
      readSecret: () => Promise.resolve(undefined),
    }).run(ref, spec, waiting, s, new Date());
    expect(r.received).toHaveLength(0);
    expect(s.observations.hooks?.[0]?.error).toMatch(/Secret shop\/nope \(headersFrom\) does not exist/);
  });
});
