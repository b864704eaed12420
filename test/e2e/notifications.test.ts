/**
 * Notifications end to end: the controller as its own process, with the chart's RBAC for release
 * sinks, an operator notifications file whose sinks (Slack, Teams, CloudEvents, and one whose
 * receiver is down) read their URL from files, and a release's own sink whose URL is in a Secret of
 * its namespace. Real HTTP receivers record what each sink sent when the canary is rolled back.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HTTP, type CloudEvent } from 'cloudevents';
import { CoreV1Api } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adaptiveCardProblems, slackProblems, type Block } from '../../src/notify/formats.test-support.js';
import { startReceiver, type Received } from '../../src/notify/receiver.test-support.js';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.js';
import { freePort } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { CONTROLLER_NAMESPACE, standUpService, startWorld, type World } from './support.js';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

let world: World;
let controller: ControllerProcess;
const receivers: Record<'slack' | 'teams' | 'cloudevents' | 'team' | 'slow', Receiver> = {} as never;
const scratch = mkdtempSync(join(tmpdir(), 'canaria-notify-'));
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  world = await startWorld({
    chartValues: { 'managedMode.enabled': false, 'notifications.releaseSinks': true },
  });
  cleanups.push(() => world.stop());
  for (const name of ['slack', 'teams', 'cloudevents', 'team', 'slow'] as const) {
    // the slow one never answers: each attempt waits for the sink's timeout
    const receiver = await startReceiver(name === 'slow' ? () => 'hang' : () => 200);
    receivers[name] = receiver;
    cleanups.push(() => receiver.close());
  }
  // nothing listens there: every attempt is refused
  const downUrl = `http://127.0.0.1:${await freePort()}/hook`;
  const urlFile = (name: string, url: string) => {
    const file = join(scratch, `${name}.url`);
    writeFileSync(file, `${url}\n`);
    return file;
  };
  const file = join(scratch, 'notifications.yaml');
  writeFileSync(
    file,
    stringify({
      sinks: [
        // error only: the rollback is all it gets
        {
          name: 'ops-slack',
          type: 'slack',
          urlFile: urlFile('slack', receivers.slack.url),
          severity: 'error',
        },
        {
          name: 'ops-teams',
          type: 'teams',
          urlFile: urlFile('teams', receivers.teams.url),
          severity: 'error',
        },
        // everything: the rollback is its one error among the info messages
        { name: 'ops-events', type: 'cloudevents', urlFile: urlFile('events', receivers.cloudevents.url) },
        {
          name: 'ops-down',
          type: 'cloudevents',
          urlFile: urlFile('down', downUrl),
          severity: 'error',
          attempts: 3,
        },
        {
          name: 'ops-slow',
          type: 'slack',
          urlFile: urlFile('slow', receivers.slow.url),
          severity: 'error',
          attempts: 2,
          timeoutSeconds: 8,
        },
      ],
    }),
  );
  controller = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity: 'canaria-0',
    extraArgs: ['--managed-mode=false', '--notifications-file', file],
  });
  cleanups.push(() => controller.kill('SIGTERM'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** The sum of the series of `name` on the controller's /metrics that have `labels`; 0 when absent. */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${controller.metricsUrl}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

const eventOf = (r: Received) =>
  HTTP.toEvent({
    headers: r.headers,
    body: JSON.stringify(r.body),
  }) as CloudEvent<{
    severity: string;
    rule?: string;
    canaryWeight: number;
    previousWeight?: number;
    metrics: { metric: string; canary?: { total?: number; errors?: number; value?: number } }[];
  }>;

describe('notifications of a rollback', () => {
  it('send one error message with the numbers to each sink; a dead sink and a hanging one slow no reconcile and are counted as failed', async () => {
    const service = await standUpService(world, {
      namespace: 'n1',
      name: 'reviews',
      behaviour: { v1: { errorRate: 0.02, latencyMs: 30 }, v2: { errorRate: 0.1, latencyMs: 30 } },
    });
    const core = world.admin.makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({
      namespace: 'n1',
      body: { metadata: { name: 'team-hook' }, stringData: { url: receivers.team.url } },
    });
    try {
      const created = Date.now();
      await service.createRelease({
        strategy: {
          steps: [
            { setWeight: 10 },
            { analysis: { duration: '6s' } },
            { setWeight: 50 },
            { analysis: { duration: '6s' } },
          ],
        },
        analysis: {
          interval: '3s',
          metrics: [
            { name: 'error-ratio', type: 'errorRatio', judge: { type: 'sequential', tolerance: 0.25 } },
          ],
        },
        notifications: {
          sinks: [
            {
              name: 'team',
              type: 'cloudevents',
              secretRef: { name: 'team-hook', key: 'url' },
              severity: 'error',
            },
          ],
        },
      });
      // as fast as without notifications (S7 of rollout.test.ts has the same bound)
      const status = await service.waitForPhase('RolledBack', 120_000);
      const rolledBackIn = Date.now() - created;
      const rollback = status.decisions?.at(-1);
      expect(rollback).toMatchObject({ action: 'Rollback', reason: 'AnalysisFailed' });
      const decidedAt = Date.parse(rollback?.time ?? '');

      for (const name of ['slack', 'teams', 'team'] as const) await receivers[name].until(1, 20_000);
      await waitUntil(
        'the CloudEvents sink to receive the rollback',
        async () =>
          Promise.resolve(receivers.cloudevents.received.some((r) => eventOf(r).data?.severity === 'error')),
        { deadline: Date.now() + 20_000, intervalMs: 200 },
      );
      // the dead sink gave up after its 3 attempts, counted
      await waitUntil(
        'canaria_notifications_total{sink="ops-down",outcome="failed"} to be 1',
        async () =>
          (await metric('canaria_notifications_total', { sink: 'ops-down', outcome: 'failed' })) === 1,
        { deadline: Date.now() + 30_000, intervalMs: 500 },
      );
      expect(await metric('canaria_notification_retries_total', { sink: 'ops-down' })).toBe(2);
      // the slow sink: two attempts of 8 s each, then given up; meanwhile no reconcile waited for it
      await receivers.slow.until(1, 20_000);
      await waitUntil(
        'canaria_notifications_total{sink="ops-slow",outcome="failed"} to be 1',
        async () =>
          (await metric('canaria_notifications_total', { sink: 'ops-slow', outcome: 'failed' })) === 1,
        { deadline: Date.now() + 60_000, intervalMs: 500 },
      );
      expect(receivers.slow.received).toHaveLength(2);
      const reconciles = await metric('canaria_reconcile_duration_seconds_count', {});
      expect(reconciles).toBeGreaterThan(5);
      // every reconcile took under 5 s; one that waited for a slow sink would have taken over 8
      expect(await metric('canaria_reconcile_duration_seconds_bucket', { le: '5' })).toBe(reconciles);
      // a few more reconciles (resyncs, status writes) must not send the rollback again
      await new Promise((resolve) => setTimeout(resolve, 4_000));

      // each sink: exactly one error message, sent right away although ops-down kept failing
      const errors = {
        slack: receivers.slack.received,
        teams: receivers.teams.received,
        team: receivers.team.received,
        cloudevents: receivers.cloudevents.received.filter((r) => eventOf(r).data?.severity === 'error'),
      };
      for (const [name, got] of Object.entries(errors)) {
        expect(got, name).toHaveLength(1);
        expect(got[0]!.at - decidedAt, `${name} was told late`).toBeLessThan(10_000);
      }
      expect(
        receivers.cloudevents.received.filter((r) => eventOf(r).data?.severity !== 'error').length,
      ).toBeGreaterThan(0);
      expect(await metric('canaria_notifications_total', { sink: 'ops-slack', outcome: 'sent' })).toBe(1);
      expect(await metric('canaria_notifications_total', { sink: 'n1/reviews/team', outcome: 'sent' })).toBe(
        1,
      );

      const numbers =
        /rolled back from (10|50)% canary traffic \(AnalysisFailed\)[\s\S]*error-ratio[\s\S]*canary [\d.]+% of \d+, stable [\d.]+% of \d+/;
      // Slack: Block Kit within its limits, with the rule, rates, counts and weight
      const slack = errors.slack[0]!.body as { text: string; blocks: Block[] };
      expect(slackProblems(slack)).toEqual([]);
      expect(JSON.stringify(slack)).toMatch(/errors \/ \d+ requests/);
      expect(slack.text + JSON.stringify(slack.blocks)).toMatch(/rolled back from (10|50)% canary traffic/);
      expect(JSON.stringify(slack)).toContain('kubectl canaria retry reviews -n n1');
      // Teams: a Workflows message whose Adaptive Card parses without a warning
      const teams = errors.teams[0]!.body as {
        type: string;
        attachments: { contentType: string; content: unknown }[];
      };
      expect(teams.type).toBe('message');
      expect(teams.attachments[0]?.contentType).toBe('application/vnd.microsoft.card.adaptive');
      expect(adaptiveCardProblems(teams.attachments[0]?.content)).toEqual([]);
      expect(JSON.stringify(teams)).toMatch(/error-ratio/);
      // CloudEvents, the operator's and the release's own: valid, typed, with the numbers
      for (const received of [errors.cloudevents[0]!, errors.team[0]!]) {
        const event = eventOf(received);
        expect(event.validate()).toBe(true);
        expect(event.type).toBe('dev.canaria.release.rolledback');
        expect(event.subject).toBe('n1/reviews');
        expect(event.data?.canaryWeight).toBe(0);
        expect([10, 50]).toContain(event.data?.previousWeight);
        expect(event.data?.rule).toMatch(/^error-ratio: /);
        const ratio = event.data?.metrics.find((m) => m.metric === 'error-ratio');
        expect(ratio?.canary?.total).toBeGreaterThan(0);
        expect(ratio?.canary?.errors).toBeGreaterThan(0);
      }
      expect(JSON.stringify(errors.cloudevents[0]!.body)).toMatch(numbers);
      controller.records(); // keeps the logs parseable: a non-JSON line would throw here
      expect(rolledBackIn).toBeLessThan(120_000);
    } finally {
      await service.stop();
    }
  });
});
