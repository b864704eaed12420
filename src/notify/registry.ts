import { z } from 'zod';
import { cloudEventsNotifier } from './cloudevents.js';
import { slackNotifier } from './slack.js';
import { teamsNotifier } from './teams.js';
import { severity, sinkType, type ReleaseSink, type SinkType } from '../api/notifications.js';
import type { Notifier, Severity } from './types.js';

/** Every sink type: adding one is a file beside these and one line here. */
export const NOTIFIERS = {
  slack: slackNotifier,
  teams: teamsNotifier,
  cloudevents: cloudEventsNotifier,
} as const satisfies Record<SinkType, Notifier>;
export type { ReleaseSink, SinkType };

export const notifier = (type: SinkType): Notifier => NOTIFIERS[type];

const name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'must be a DNS label such as team-slack' })
  .max(63);

/** Delivery settings every sink shares; the defaults suit a chat channel. */
const delivery = {
  /** The lowest severity this sink receives. */
  severity: severity.default('info'),
  /** Repeats of the same release, reason and message within this many seconds are sent once. */
  dedupSeconds: z.int().min(0).max(86_400).default(600),
  /** Token bucket: at most `burst` at once, refilled at `perMinute`. */
  rateLimit: z
    .strictObject({
      perMinute: z.number().positive().max(6000).default(20),
      burst: z.int().min(1).max(1000).default(10),
    })
    .default({ perMinute: 20, burst: 10 }),
  /** Notifications waiting for this sink; the oldest is dropped when full. */
  queueSize: z.int().min(1).max(10_000).default(100),
  /** Attempts per notification, the first included. */
  attempts: z.int().min(1).max(20).default(5),
  timeoutSeconds: z.number().positive().max(300).default(10),
};

/**
 * An operator-wide sink in the controller's notifications file. The URL is a credential (a Slack or
 * Teams webhook URL lets anyone post): it is read from a file, which the chart mounts from a Secret,
 * never written in the configuration itself.
 */
export const operatorSink = z.strictObject({
  name,
  type: sinkType,
  urlFile: z
    .string()
    .min(1, { error: 'must be the path of the file holding the URL (a mounted Secret key)' }),
  ...delivery,
});
export type OperatorSink = z.infer<typeof operatorSink>;

export const notificationsFile = z.strictObject({
  sinks: z.array(operatorSink).max(50).default([]),
});

export interface SinkSettings {
  severity: Severity;
  dedupSeconds: number;
  rateLimit: { perMinute: number; burst: number };
  queueSize: number;
  attempts: number;
  timeoutSeconds: number;
}

/** The delivery settings of a release's sinks: the defaults, as operators cannot vet them one by one. */
export const RELEASE_SINK_DEFAULTS: Omit<SinkSettings, 'severity'> = {
  dedupSeconds: 600,
  rateLimit: { perMinute: 20, burst: 10 },
  queueSize: 100,
  attempts: 5,
  timeoutSeconds: 10,
};

/**
 * Parses the notifications file; every problem names its field (`sinks[1].type: unknown sink type
 * "discord"; use one of slack, teams, cloudevents`) and goes into `problems`.
 */
export function parseNotificationsFile(content: unknown, file: string, problems: string[]): OperatorSink[] {
  const parsed = notificationsFile.safeParse(content ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path
        .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
        .join('');
      problems.push(`${file}: ${path || '(top)'}: ${issue.message}`);
    }
    return [];
  }
  const names = new Set<string>();
  parsed.data.sinks.forEach((sink, i) => {
    if (names.has(sink.name)) problems.push(`${file}: sinks[${i}].name: "${sink.name}" is used twice`);
    names.add(sink.name);
  });
  return parsed.data.sinks;
}
