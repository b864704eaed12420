/** Checks of each sink's format, shared by the sinks' unit tests and the e2e suite. */
import { createRequire } from 'node:module';
import { SLACK_LIMITS } from './slack.js';

// the package's lib/ is ESM without file extensions, which Node cannot load; its dist/ bundle is CommonJS
const AC = createRequire(import.meta.url)('adaptivecards/dist/adaptivecards.js') as {
  AdaptiveCard: new () => {
    parse(json: unknown, context: unknown): void;
    validateProperties(): { validationEvents: { message: string }[] };
  };
  SerializationContext: new () => { eventCount: number; getEventAt(i: number): { message: string } };
};

/** Every problem the Adaptive Cards parser and validator report for `card`. */
export function adaptiveCardProblems(card: unknown): string[] {
  const parsed = new AC.AdaptiveCard();
  const context = new AC.SerializationContext();
  parsed.parse(card, context);
  const problems: string[] = [];
  for (let i = 0; i < context.eventCount; i++) problems.push(context.getEventAt(i).message);
  problems.push(...parsed.validateProperties().validationEvents.map((e) => e.message));
  return problems;
}

export interface Text {
  type: string;
  text: string;
}
export interface Block {
  type: string;
  text?: Text;
  fields?: Text[];
  elements?: Text[];
}

/** Block Kit's documented limits for the block types the Slack sink uses. */
export function slackProblems(body: { text?: string; blocks: Block[] }): string[] {
  const problems: string[] = [];
  const len = (t: Text | undefined, max: number, where: string) => {
    if (t && t.text.length > max) problems.push(`${where}: ${t.text.length} > ${max}`);
    if (t && !t.text.length) problems.push(`${where}: empty text`);
  };
  if (!body.text) problems.push('text: missing fallback');
  if (body.blocks.length > SLACK_LIMITS.blocks) problems.push(`blocks: ${body.blocks.length} > 50`);
  body.blocks.forEach((b, i) => {
    switch (b.type) {
      case 'header':
        if (b.text?.type !== 'plain_text') problems.push(`blocks[${i}]: header text must be plain_text`);
        len(b.text, 150, `blocks[${i}].text`);
        break;
      case 'section':
        if (!b.text && !b.fields?.length) problems.push(`blocks[${i}]: section needs text or fields`);
        len(b.text, 3000, `blocks[${i}].text`);
        if ((b.fields?.length ?? 0) > 10) problems.push(`blocks[${i}].fields: more than 10`);
        b.fields?.forEach((f, j) => {
          len(f, 2000, `blocks[${i}].fields[${j}]`);
        });
        break;
      case 'context':
        if (!b.elements?.length || b.elements.length > 10) problems.push(`blocks[${i}].elements: 1..10`);
        b.elements?.forEach((e, j) => {
          len(e, 3000, `blocks[${i}].elements[${j}]`);
        });
        break;
      default:
        problems.push(`blocks[${i}]: unexpected type ${b.type}`);
    }
  });
  return problems;
}
