import { afterEach, describe, expect, it } from 'vitest';
import { webhook, type WebhookInput } from '../api/webhooks.js';
import { startReceiver } from '../notify/receiver.test-support.js';
import { callHook } from './client.js';
import { hookPayload } from './payload.js';

const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});
const receiver = async (answer: Parameters<typeof startReceiver>[0]) => {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
};
const aHook = (input: Partial<WebhookInput> & { url: string }) =>
  webhook.parse({ name: 'load-test', type: 'rollout', ...input });
const status = {
  phase: 'Progressing' as const,
  canaryWeight: 10,
  canaryRevision: 'rev-2',
  stableRevision: 'rev-1',
  currentStep: '2/4',
};
const release = { name: 'reviews', namespace: 'shop' };
const noWait = { sleep: () => Promise.resolve(), random: () => 0 };

describe('callHook on a real HTTP receiver', () => {
  it("POSTs Flagger's payload fields plus canaria's, with the Secret's headers, and reports a 2xx", async () => {
    const r = await receiver(() => 200);
    const hook = aHook({ url: `${r.url}?token=abc`, metadata: { type: 'cmd', cmd: 'hey -z 1m http://x/' } });
    const call = await callHook(hook, 'rollout', hookPayload(release, hook, 'rollout', status), {
      headers: { authorization: 'Bearer t0ken' },
    });
    expect(call).toMatchObject({ ok: true, statusCode: 200, attempts: 1, gate: 'rollout', url: r.url });
    expect(r.received[0]?.path).toBe('/hook?token=abc');
    expect(r.received[0]?.headers.authorization).toBe('Bearer t0ken');
    expect(r.received[0]?.body).toEqual({
      name: 'reviews',
      namespace: 'shop',
      phase: 'Progressing',
      checksum: 'rev-2',
      metadata: { type: 'cmd', cmd: 'hey -z 1m http://x/' },
      type: 'rollout',
      hook: 'load-test',
      gate: 'rollout',
      releasePhase: 'Progressing',
      revisions: { stable: 'rev-1', canary: 'rev-2' },
      weights: { stable: 90, canary: 10 },
      step: '2/4',
    });
  });

  it('retries a 5xx with backoff and succeeds; a 403 is not retried and keeps the body', async () => {
    const flaky = await receiver((n) => (n < 3 ? 503 : 200));
    const ok = await callHook(
      aHook({ url: flaky.url, retries: 3 }),
      'rollout',
      hookPayload(release, aHook({ url: flaky.url }), 'rollout', status),
      noWait,
    );
    expect(ok).toMatchObject({ ok: true, attempts: 3 });

    const closed = await receiver(() => 403);
    const hook = aHook({ url: closed.url, type: 'confirm-promotion', retries: 3 });
    const denied = await callHook(
      hook,
      'confirm-promotion',
      hookPayload(release, hook, 'confirm-promotion', status),
      noWait,
    );
    expect(denied).toMatchObject({ ok: false, statusCode: 403, attempts: 1, body: 'no_service' });
    expect(closed.received).toHaveLength(1);
  });

  it('a receiver that never answers fails within the timeout, as a retryable error', async () => {
    const stuck = await receiver(() => 'hang');
    const hook = aHook({ url: stuck.url, timeout: '300ms', retries: 1 });
    const started = Date.now();
    const call = await callHook(hook, 'rollout', hookPayload(release, hook, 'rollout', status), noWait);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(call).toMatchObject({ ok: false, attempts: 2, error: 'timed out after 0.3s' });
    expect(call.statusCode).toBeUndefined();
  });

  it('a refused connection says so; the time budget bounds every retry', async () => {
    const gone = await receiver(() => 200);
    const url = gone.url;
    await gone.close();
    receivers.pop();
    const hook = aHook({ url, retries: 5 });
    const call = await callHook(hook, 'rollout', hookPayload(release, hook, 'rollout', status), {
      ...noWait,
      budgetMs: 2_000,
    });
    expect(call.ok).toBe(false);
    expect(call.error).toMatch(/could not connect: ECONNREFUSED/);
  });
});

describe('webhook spec', () => {
  it('names the field and the allowed values for an unknown type, and refuses a non-http URL', () => {
    const bad = webhook.safeParse({ name: 'x', type: 'pre-promotion', url: 'ftp://x/' });
    expect(bad.success).toBe(false);
    const issues = bad.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues).toContain(
      'type: unknown hook type "pre-promotion"; use one of confirm-rollout, pre-rollout, confirm-traffic-increase, rollout, confirm-promotion, post-rollout, rollback',
    );
    expect(issues.some((i) => i.startsWith('url: url must be an http:// or https:// URL'))).toBe(true);
    expect(webhook.safeParse({ name: 'x', type: 'rollout', url: 'http://u:p@host/' }).success).toBe(false);
    const onFailure = webhook.safeParse({
      name: 'x',
      type: 'rollout',
      url: 'http://h/',
      onFailure: 'rollback',
    });
    expect(onFailure.error?.issues[0]?.message).toMatch(/onFailure applies to pre-rollout hooks only/);
    expect(webhook.parse({ name: 'x', type: 'rollout', url: 'http://h/' })).toMatchObject({
      timeout: '10s',
      retries: 0,
    });
  });
});
