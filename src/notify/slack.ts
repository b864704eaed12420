import { facts, formatSide, truncate } from './message.js';
import type { Notification, Notifier, Rendered } from './types.js';

/**
 * Block Kit's documented limits (api.slack.com/reference/block-kit): a message carries at most 50
 * blocks; a header's plain text at most 150 characters; a section's text 3000 and each of its at
 * most 10 fields 2000; a context at most 10 elements. Slack rejects a message over any of them
 * (`invalid_blocks`), so every text is cut to fit here and a test checks the result.
 */
export const SLACK_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  contextElements: 10,
  contextText: 3000,
  /** The top-level `text`, shown in notifications where blocks are not. */
  fallbackText: 40_000,
} as const;

const EMOJI = { info: ':large_blue_circle:', warning: ':warning:', error: ':red_circle:' } as const;

/** Slack's mrkdwn treats `&`, `<` and `>` as markup; a rule such as `canary 0.05 > stable` must not. */
export const escapeMrkdwn = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const mrkdwn = (text: string, max: number) => ({ type: 'mrkdwn', text: truncate(escapeMrkdwn(text), max) });

/** Slack incoming webhook (api.slack.com/messaging/webhooks): a JSON body with `text` and `blocks`. */
export const slackNotifier: Notifier = {
  type: 'slack',
  render(n: Notification): Rendered {
    const blocks: unknown[] = [
      {
        type: 'header',
        text: { type: 'plain_text', text: truncate(n.title, SLACK_LIMITS.headerText), emoji: true },
      },
      { type: 'section', text: mrkdwn(`${EMOJI[n.severity]} ${n.message}`, SLACK_LIMITS.sectionText) },
      {
        type: 'section',
        fields: facts(n)
          .slice(0, SLACK_LIMITS.sectionFields)
          .map((f) => mrkdwn(`*${f.label}*\n${f.value}`, SLACK_LIMITS.fieldText)),
      },
    ];
    if (n.metrics.length) {
      const lines = n.metrics.map(
        (m) =>
          `• *${m.metric}* ${m.verdict}: ${m.rule} — canary ${formatSide(m.canary)}` +
          (m.stable ? `, stable ${formatSide(m.stable)}` : ''),
      );
      blocks.push({ type: 'section', text: mrkdwn(lines.join('\n'), SLACK_LIMITS.sectionText) });
    }
    blocks.push({
      type: 'context',
      elements: n.commands
        .slice(0, SLACK_LIMITS.contextElements)
        .map((c) => mrkdwn(`\`${c}\``, SLACK_LIMITS.contextText)),
    });
    return {
      body: {
        text: truncate(`${n.title}: ${n.message}`, SLACK_LIMITS.fallbackText),
        blocks: blocks.slice(0, SLACK_LIMITS.blocks),
      },
      headers: { 'content-type': 'application/json' },
    };
  },
};
