import type { CloudEvent } from 'cloudevents';
import { HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { notificationFor, notificationsFor } from './message.js';
import { slackNotifier } from './slack.js';
import { adaptiveCardProblems, slackProblems, type Block } from './formats.test-support.js';
import { teamsNotifier } from './teams.js';
import { cloudEventsNotifier } from './cloudevents.js';
import { release, rollbackRecord, rolledBackStatus } from './fixtures.test-support.js';
import type { Notification } from './types.js';

const rollback = notificationFor(release, rollbackRecord, rolledBackStatus()) as Notification;

/** A notification with everything as long as it can get: 20 metrics, rules of 5000 characters. */
const huge: Notification = {
  ...rollback,
  title: 'x'.repeat(400),
  message: '<&>'.repeat(3000),
  rule: 'r'.repeat(5000),
  metrics: Array.from({ length: 20 }, (_, i) => ({
    metric: `m${i}`,
    verdict: 'Fail' as const,
    rule: `canary > stable ${'y'.repeat(500)}`,
    canary: { value: 0.5, total: 10, errors: 5 },
  })),
};

describe('notification messages', () => {
  it('says what happened with the numbers and how to act', () => {
    expect(rollback).toMatchObject({
      severity: 'error',
      kind: 'rolledback',
      title: 'shop/checkout rolled back at 20% canary traffic (AnalysisFailed)',
      rule: 'error-ratio: canary 0.0500 > stable 0.0050 x (1+0.5) + 0.001 = 0.0085',
      step: 2,
      canaryWeight: 20,
      phase: 'RolledBack',
      commands: ['kubectl canaria retry checkout -n shop', 'kubectl canaria status checkout -n shop'],
    });
  });

  it('maps decisions to severities: info for progress, warning for pauses, error for rollbacks', () => {
    const at = (action: string, reason: string, time: string) =>
      ({ ...rollbackRecord, action, reason, time, metrics: [] }) as typeof rollbackRecord;
    const status = rolledBackStatus([
      at('Start', 'NewRevision', '2026-12-02T10:00:01Z'),
      at('Hold', 'CollectingEvidence', '2026-12-02T10:00:02Z'),
      at('Advance', 'AnalysisPassed', '2026-12-02T10:00:03Z'),
      at('Pause', 'HoldDeadlineExceeded', '2026-12-02T10:00:04Z'),
      at('Pause', 'WaitingForPromote', '2026-12-02T10:00:05Z'),
      at('Succeed', 'Promoted', '2026-12-02T10:00:06Z'),
      at('Fail', 'ProgressDeadlineExceeded', '2026-12-02T10:00:07Z'),
    ]);
    const got = notificationsFor(release, undefined, status).map((n) => `${n.kind}:${n.severity}`);
    expect(got).toEqual([
      'started:info',
      'advanced:info',
      'paused:warning',
      'paused:warning',
      'succeeded:info',
      'failed:error',
    ]);
  });

  it('only the decisions a reconcile added are new', () => {
    const previous = rolledBackStatus([
      { ...rollbackRecord, action: 'Advance', time: '2026-12-02T09:59:00.000Z' },
    ]);
    const next = rolledBackStatus([...(previous.decisions ?? []), rollbackRecord]);
    expect(notificationsFor(release, previous, next).map((n) => n.kind)).toEqual(['rolledback']);
    expect(notificationsFor(release, next, next)).toEqual([]);
  });
});

describe('Slack sink', () => {
  it('renders Block Kit within its limits, escaping mrkdwn', () => {
    const body = slackNotifier.render(rollback).body as { text: string; blocks: Block[] };
    expect(slackProblems(body)).toEqual([]);
    const all = JSON.stringify(body);
    expect(all).toContain('canary 0.0500 &gt; stable 0.0050');
    expect(all).toContain('0.05 (50 errors / 1000 requests)');
    expect(all).toContain('`kubectl canaria retry checkout -n shop`');
  });

  it('stays within the limits however long the texts', () => {
    expect(slackProblems(slackNotifier.render(huge).body as { text: string; blocks: Block[] })).toEqual([]);
  });

  it('the checker catches a block over a limit', () => {
    const body = slackNotifier.render(rollback).body as { text: string; blocks: Block[] };
    (body.blocks[0] as Block).text = { type: 'plain_text', text: 'h'.repeat(151) };
    expect(slackProblems(body)).toEqual(['blocks[0].text: 151 > 150']);
  });
});

describe('Teams sink', () => {
  it('sends a Workflows message whose Adaptive Card parses without a warning', () => {
    const body = teamsNotifier.render(rollback).body as {
      type: string;
      attachments: { contentType: string; content: unknown }[];
    };
    expect(body.type).toBe('message');
    expect(body.attachments[0]?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(adaptiveCardProblems(body.attachments[0]?.content)).toEqual([]);
    expect(JSON.stringify(body)).toContain('"title":"Rule","value":"error-ratio: canary 0.0500 > stable');
    const huge_ = teamsNotifier.render(huge).body as typeof body;
    expect(adaptiveCardProblems(huge_.attachments[0]?.content)).toEqual([]);
  });

  it('the parser check catches a card Teams would not render', () => {
    expect(
      adaptiveCardProblems({
        type: 'AdaptiveCard',
        version: '1.5',
        body: [{ type: 'TextBlock', text: 'x', size: 'huge' }],
      }),
    ).toEqual(['Invalid value "huge" for property "size".']);
  });
});

describe('CloudEvents sink', () => {
  it('sends a structured CloudEvent the SDK reads and validates', () => {
    const rendered = cloudEventsNotifier.render(rollback);
    const event = HTTP.toEvent({
      headers: rendered.headers,
      body: JSON.stringify(rendered.body),
    }) as CloudEvent<{
      rule: string;
      severity: string;
    }>;
    expect(event.validate()).toBe(true);
    expect(event.type).toBe('dev.canaria.release.rolledback');
    expect(event.source).toBe('/apis/canaria.dev/namespaces/shop/canaryreleases/checkout');
    expect(event.subject).toBe('shop/checkout');
    expect(event.data?.severity).toBe('error');
    expect(event.data?.rule).toContain('canary 0.0500 > stable');
  });
});
