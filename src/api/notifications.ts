import { z } from 'zod';
import { k8sName } from './meta.js';

/** The sink types a release may name; src/notify/registry.ts has one Notifier per entry. */
export const SINK_TYPES = ['slack', 'teams', 'cloudevents'] as const;
export type SinkType = (typeof SINK_TYPES)[number];
export const SEVERITIES = ['info', 'warning', 'error'] as const;

export const sinkType = z.enum(SINK_TYPES, {
  error: (issue) => `unknown sink type ${JSON.stringify(issue.input)}; use one of ${SINK_TYPES.join(', ')}`,
});
export const severity = z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` });

/**
 * A sink a release asks for: the URL is a key of a Secret in the release's own namespace, which the
 * controller reads when it sends. A release never writes an address inline, and never reaches an
 * operator's sink or another namespace's Secret.
 */
export const releaseSink = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'name must be a DNS label such as team-slack' })
    .max(63)
    .describe('A name for this sink, unique in the release; messages and metrics name it.'),
  type: sinkType.describe(
    'slack (incoming webhook), teams (Workflows webhook) or cloudevents (any HTTP receiver).',
  ),
  secretRef: z
    .strictObject({
      name: k8sName('secretRef.name').describe("The Secret's name, in the release's namespace."),
      key: z
        .string()
        .regex(/^[-._a-zA-Z0-9]+$/, { error: 'secretRef.key must be a key of the Secret, such as url' })
        .max(253)
        .describe('The key of the Secret that holds the URL, such as url.'),
    })
    .describe("The Secret key, in the release's own namespace, that holds the sink's URL."),
  severity: severity
    .default('info')
    .describe(
      'The lowest severity this sink receives: info (progress), warning (pauses), error (rollbacks). Default info.',
    ),
});
export type ReleaseSink = z.infer<typeof releaseSink>;

export const releaseNotifications = z.strictObject({
  sinks: z
    .array(releaseSink)
    .max(10, { error: 'at most 10 sinks per release' })
    .describe("Up to 10 receivers of this release's decisions."),
});
