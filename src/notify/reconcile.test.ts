import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import { MeasureBatcher } from '../controller/measure-batcher.js';
import { Reconciler } from '../controller/reconciler.js';
import { silentLogger } from '../telemetry/logger.js';
import { ControllerMetrics } from '../telemetry/metrics.js';
import { baseSpecInput, counts, errorRatioAnalysis, requests } from '../../test/builders/release.js';
import { fakeMetrics, managedPrimary, NAMESPACE, reviewsCluster } from '../../test/builders/cluster.js';
import { NotificationMetrics } from './metrics.js';
import { parseNotificationsFile } from './registry.js';
import { Notifications } from './service.js';
import { startReceiver } from './receiver.test-support.js';

const KEY = `${NAMESPACE}/reviews`;
const failing = () => requests(counts(1000, 80), counts(9000, 20));
const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

function operatorSinks(urls: Record<'slack' | 'teams' | 'cloudevents', string>, severity = 'info') {
  const dir = mkdtempSync(join(tmpdir(), 'canaria-notify-'));
  const sinks = Object.entries(urls).map(([type, url]) => {
    writeFileSync(join(dir, type), url);
    return { name: `ops-${type}`, type, urlFile: join(dir, type), severity, attempts: 3 };
  });
  const problems: string[] = [];
  const parsed = parseNotificationsFile({ sinks }, 'notifications.yaml', problems);
  expect(problems).toEqual([]);
  return parsed;
}

/** The real reconciler on an in-memory cluster, with the notifier sending to real HTTP receivers. */
function harness(notifications: Notifications, spec = {}) {
  const kube = reviewsCluster({
    ...managedPrimary(baseSpecInput()),
    strategy: { steps: [{ setWeight: 10 }, { analysis: {} }, { setWeight: 50 }] },
    analysis: errorRatioAnalysis(),
    ...spec,
  });
  let now = new Date('2026-11-21T10:00:00Z');
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(fakeMetrics(failing), 0),
    clock: () => now,
    logger: silentLogger(),
    notifications,
  });
  const status = () =>
    kube.get('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' })?.status as
      CanaryReleaseStatus | undefined;
  return {
    kube,
    status,
    reconcile: () => reconciler.reconcile(KEY),
    /** Reconciles until rolled back; returns the longest single reconcile in ms. */
    async untilRolledBack(): Promise<number> {
      let longest = 0;
      for (let i = 0; i < 100 && status()?.phase !== 'RolledBack'; i++) {
        const started = performance.now();
        const next = await reconciler.reconcile(KEY);
        longest = Math.max(longest, performance.now() - started);
        now = new Date(now.getTime() + Math.max(next ?? 60_000, 1_000));
      }
      expect(status()?.phase).toBe('RolledBack');
      return longest;
    },
  };
}

describe('notifications from the real reconciler', () => {
  it('a rollback sends exactly one error notification to each sink, with the numbers', async () => {
    const [slack, teams, events] = await Promise.all([startReceiver(), startReceiver(), startReceiver()]);
    receivers.push(slack, teams, events);
    const metrics = new ControllerMetrics();
    const notifications = new Notifications({
      sinks: operatorSinks({ slack: slack.url, teams: teams.url, cloudevents: events.url }, 'error'),
      logger: silentLogger(),
      metrics: new NotificationMetrics(metrics.registry),
    });
    const h = harness(notifications);
    await h.untilRolledBack();
    await notifications.idle();
    for (const r of [slack, teams, events]) expect(r.received).toHaveLength(1);
    const numbers = /canary 0\.08 > stable 0\.002222 x \(1 \+ 0\.5\) \+ 0\.001/;
    expect(JSON.stringify(slack.received[0]?.body)).toMatch(/canary 0\.08 &gt; stable 0\.002222/);
    expect(JSON.stringify(slack.received[0]?.body)).toContain('80 errors / 1000 requests');
    expect(JSON.stringify(teams.received[0]?.body)).toMatch(numbers);
    expect(JSON.stringify(teams.received[0]?.body)).toContain('rolled back from 10% canary traffic');
    expect(events.received[0]?.headers['content-type']).toContain('application/cloudevents+json');
    expect(events.received[0]?.body).toMatchObject({
      type: 'dev.canaria.release.rolledback',
      subject: `${NAMESPACE}/reviews`,
      data: { severity: 'error', reason: 'AnalysisFailed', canaryWeight: 0, previousWeight: 10 },
    });
    expect(JSON.stringify(events.received[0]?.body)).toContain('kubectl canaria retry reviews -n default');
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/canaria_notifications_total\{sink="ops-slack",outcome="sent"\} 1/);
    expect(text).toMatch(/canaria_notifications_total\{sink="ops-slack",outcome="filtered"\} [1-9]/);
    await notifications.close();
  });

  it('a release sink reads its URL only from the Secret of its own namespace', async () => {
    const own = await startReceiver();
    receivers.push(own);
    const asked: string[] = [];
    const notifications = new Notifications({
      sinks: [],
      logger: silentLogger(),
      secrets: (namespace, name, key) => {
        asked.push(`${namespace}/${name}/${key}`);
        return Promise.resolve(namespace === NAMESPACE && name === 'team-hooks' ? own.url : undefined);
      },
    });
    const h = harness(notifications, {
      notifications: {
        sinks: [
          { name: 'team', type: 'slack', secretRef: { name: 'team-hooks', key: 'slack' }, severity: 'error' },
        ],
      },
    });
    await h.untilRolledBack();
    await notifications.idle();
    expect(asked).toEqual([`${NAMESPACE}/team-hooks/slack`]);
    expect(own.received).toHaveLength(1);
    // once the release is gone, so is its sink's queue
    expect(notifications.releaseSinkCount).toBe(1);
    h.kube.remove('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' });
    await h.reconcile();
    expect(notifications.releaseSinkCount).toBe(0);
    await notifications.close();
  });

  it('a receiver that hangs does not slow a reconcile: it returns before the receiver answered', async () => {
    const stuck = await startReceiver(() => 'hang');
    receivers.push(stuck);
    const notifications = new Notifications({
      sinks: operatorSinks({ slack: stuck.url, teams: stuck.url, cloudevents: stuck.url }).map((s) => ({
        ...s,
        timeoutSeconds: 30,
      })),
      logger: silentLogger(),
    });
    const h = harness(notifications);
    const longest = await h.untilRolledBack();
    // the reconciles are done while every request is still unanswered
    await stuck.until(1);
    expect(stuck.received.length).toBeGreaterThanOrEqual(1);
    expect(longest).toBeLessThan(1_000);
    await notifications.close();
  });
});
