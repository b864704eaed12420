import { facts, formatSide, truncate } from './message.js';
import type { Notification, Notifier, Rendered } from './types.js';

/**
 * Microsoft Teams through a Workflows (Power Automate) webhook, "Post to a channel when a webhook
 * request is received": the body is a message whose attachment is an Adaptive Card. The Office 365
 * connectors' MessageCard format is retired and not sent. Teams renders cards up to schema 1.5.
 */
export const TEAMS_CARD_VERSION = '1.5';

/** Teams refuses a message over about 28 KB; texts are cut long before that. */
const MAX_TEXT = 2_000;

const COLOR = { info: 'Accent', warning: 'Warning', error: 'Attention' } as const;

export function adaptiveCard(n: Notification): Record<string, unknown> {
  const body: unknown[] = [
    {
      type: 'TextBlock',
      text: truncate(n.title, MAX_TEXT),
      size: 'Medium',
      weight: 'Bolder',
      color: COLOR[n.severity],
      wrap: true,
    },
    { type: 'TextBlock', text: truncate(n.message, MAX_TEXT), wrap: true },
    {
      type: 'FactSet',
      facts: facts(n).map((f) => ({ title: f.label, value: truncate(f.value, MAX_TEXT) })),
    },
  ];
  for (const m of n.metrics) {
    body.push({
      type: 'TextBlock',
      text: truncate(
        `${m.metric} ${m.verdict}: ${m.rule}; canary ${formatSide(m.canary)}` +
          (m.stable ? `, stable ${formatSide(m.stable)}` : ''),
        MAX_TEXT,
      ),
      wrap: true,
      isSubtle: true,
    });
  }
  body.push(
    { type: 'TextBlock', text: 'What you can do', weight: 'Bolder', wrap: true },
    ...n.commands.map((c) => ({ type: 'TextBlock', text: c, fontType: 'Monospace', wrap: true })),
  );
  return {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: TEAMS_CARD_VERSION,
    body,
  };
}

export const teamsNotifier: Notifier = {
  type: 'teams',
  render(n: Notification): Rendered {
    return {
      body: {
        type: 'message',
        attachments: [
          {
            contentType: 'application/vnd.microsoft.card.adaptive',
            contentUrl: null,
            content: adaptiveCard(n),
          },
        ],
      },
      headers: { 'content-type': 'application/json' },
    };
  },
};
