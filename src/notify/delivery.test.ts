import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../telemetry/logger.js';
import { backoffDelay, SinkDelivery, TokenBucket, type Outcome } from './delivery.js';
import { notificationFor } from './message.js';
import { parseNotificationsFile, notifier, type SinkSettings } from './registry.js';
import { release, rollbackRecord, rolledBackStatus } from './fixtures.test-support.js';
import { startReceiver } from './receiver.test-support.js';
import type { Notification, Notifier } from './types.js';

const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});
const receiver = async (answer?: (n: number) => number | 'hang') => {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
};

const settings = (over: Partial<SinkSettings> = {}): SinkSettings => ({
  severity: 'info',
  dedupSeconds: 600,
  rateLimit: { perMinute: 6000, burst: 100 },
  queueSize: 100,
  attempts: 3,
  timeoutSeconds: 5,
  ...over,
});

const notification = (i = 0): Notification =>
  notificationFor(
    release,
    { ...rollbackRecord, time: `2026-12-02T10:00:0${i}.000Z`, message: `rolled back #${i}` },
    rolledBackStatus(),
  ) as Notification;

function delivery(url: string | undefined, over: Partial<SinkSettings> = {}) {
  const outcomes: Outcome[] = [];
  let retries = 0;
  const d = new SinkDelivery(
    { sink: 'test', notifier: notifier('slack'), settings: settings(over), url: () => Promise.resolve(url) },
    {
      logger: silentLogger(),
      backoffMs: 100,
      maxBackoffMs: 400,
      random: () => 1,
      hooks: {
        outcome: (_, o) => outcomes.push(o),
        retry: () => (retries += 1),
      },
    },
  );
  return { d, outcomes, retries: () => retries };
}

describe('delivery to a real HTTP receiver', () => {
  it('retries a 5xx with backoff that grows, then succeeds', async () => {
    const r = await receiver((n) => (n < 3 ? 503 : 200));
    const { d, outcomes, retries } = delivery(r.url);
    d.offer(notification());
    await d.idle();
    expect(outcomes).toEqual(['sent']);
    expect(retries()).toBe(2);
    expect(r.received).toHaveLength(3);
    const gaps = r.received.slice(1).map((x, i) => x.at - (r.received[i]?.at ?? 0));
    // random() = 1: the full backoff, 100 ms then 200 ms
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
    expect(gaps[1]).toBeGreaterThanOrEqual(190);
  });

  it('gives up after its attempts on a receiver that hangs, each attempt cut by the timeout', async () => {
    const r = await receiver(() => 'hang');
    const { d, outcomes } = delivery(r.url, { timeoutSeconds: 0.2 });
    d.offer(notification());
    await d.idle();
    expect(outcomes).toEqual(['failed']);
    expect(r.received).toHaveLength(3);
  });

  it('retries a receiver that is down, and does not retry a 4xx', async () => {
    const down = await receiver();
    const url = down.url;
    await down.close();
    receivers.splice(0);
    const a = delivery(url);
    a.d.offer(notification());
    await a.d.idle();
    expect(a.outcomes).toEqual(['failed']);
    expect(a.retries()).toBe(2);

    const gone = await receiver(() => 404);
    const b = delivery(gone.url);
    b.d.offer(notification());
    await b.d.idle();
    expect(b.outcomes).toEqual(['rejected']);
    expect(gone.received).toHaveLength(1);
  });

  it('drops the oldest when the queue is full, and counts it', async () => {
    const r = await receiver(() => 'hang');
    const { d, outcomes } = delivery(r.url, { queueSize: 2, attempts: 1, timeoutSeconds: 0.3 });
    for (let i = 0; i < 5; i++) d.offer(notification(i));
    // the first is on the wire; of 1..4 only the newest two wait
    expect(d.depth).toBe(2);
    expect(outcomes).toEqual(['dropped', 'dropped']);
    await d.idle();
    const sent = r.received.map((x) => (x.body as { text: string }).text);
    expect(sent.map((t) => /#(\d)/.exec(t)?.[1])).toEqual(['0', '3', '4']);
  });

  it('sends a repeat once within the dedup window, and filters below its severity', async () => {
    const r = await receiver();
    const { d, outcomes } = delivery(r.url);
    d.offer(notification(1));
    d.offer({ ...notification(1), id: 'another reconcile' });
    d.offer({ ...notification(2), severity: 'info' });
    await d.idle();
    expect(outcomes).toEqual(['deduplicated', 'sent', 'sent']);
    const strict = delivery(r.url, { severity: 'error' });
    strict.d.offer({ ...notification(3), severity: 'warning' });
    expect(strict.outcomes).toEqual(['filtered']);
  });

  it('paces a burst with the token bucket', async () => {
    const r = await receiver();
    // when each send began: arrivals at the receiver also carry connection set-up, which varies
    const sent: number[] = [];
    const slack = notifier('slack');
    const timed: Notifier = {
      type: slack.type,
      render: (n) => {
        sent.push(performance.now());
        return slack.render(n);
      },
    };
    // 2 at once, then one per 100 ms
    const d = new SinkDelivery(
      {
        sink: 'test',
        notifier: timed,
        settings: settings({ rateLimit: { perMinute: 600, burst: 2 } }),
        url: () => Promise.resolve(r.url),
      },
      { logger: silentLogger() },
    );
    for (let i = 0; i < 4; i++) d.offer(notification(i));
    await d.idle();
    expect(r.received).toHaveLength(4);
    expect(sent).toHaveLength(4);
    expect((sent[3] ?? 0) - (sent[0] ?? 0)).toBeGreaterThanOrEqual(180);
  });

  it('fills the delivery defaults of an operator sink', async () => {
    const r = await receiver();
    const dir = mkdtempSync(join(tmpdir(), 'canaria-notify-'));
    writeFileSync(join(dir, 'url'), `${r.url}\n`);
    const problems: string[] = [];
    const [sink] = parseNotificationsFile(
      { sinks: [{ name: 'ops', type: 'teams', urlFile: join(dir, 'url') }] },
      'notifications.yaml',
      problems,
    );
    expect(problems).toEqual([]);
    expect(sink).toMatchObject({ severity: 'info', attempts: 5, queueSize: 100 });
  });
});

describe('delivery arithmetic', () => {
  it('backoff is full jitter below a doubling ceiling with a cap', () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, 1000, 5000, 0.999))).toEqual([
      999, 1998, 3996, 4995, 4995,
    ]);
    expect(backoffDelay(3, 1000, 5000, 0)).toBe(0);
  });

  it('the token bucket refills at its rate', () => {
    const b = new TokenBucket(60, 1, 0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBe(1000);
    expect(b.take(1000)).toBe(0);
  });
});

describe('the notifications file', () => {
  it('names the field of an unknown sink type and how to fix it', () => {
    const problems: string[] = [];
    parseNotificationsFile(
      {
        sinks: [
          { name: 'a', type: 'slack', urlFile: '/u' },
          { name: 'b', type: 'discord', urlFile: '/u' },
        ],
      },
      'notifications.yaml',
      problems,
    );
    expect(problems).toEqual([
      'notifications.yaml: sinks[1].type: unknown sink type "discord"; use one of slack, teams, cloudevents',
    ]);
  });
});
