import { z } from 'zod';
import { duration, parseDuration } from './duration.js';
import { k8sName } from './meta.js';

/**
 * When canaria calls a hook. Gates (confirm-*, pre-rollout) hold the release until every hook of
 * their type answers 2xx; rollout hooks run with each analysis; post-rollout and rollback only tell.
 */
export const HOOK_TYPES = [
  'confirm-rollout',
  'pre-rollout',
  'confirm-traffic-increase',
  'rollout',
  'confirm-promotion',
  'post-rollout',
  'rollback',
] as const;
export type HookType = (typeof HOOK_TYPES)[number];
/** The types whose hooks hold the release until they answer 2xx (or `canaria approve` opens them). */
export const GATE_TYPES = [
  'confirm-rollout',
  'pre-rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
] as const;
export type GateType = (typeof GATE_TYPES)[number];
export const HOOK_FAILURE_ACTIONS = ['hold', 'rollback'] as const;

/** Bounds: a hook that may take minutes would keep a reconcile worker from other releases. */
export const HOOK_MAX_TIMEOUT_MS = 60_000;
export const HOOK_MAX_RETRIES = 5;

export const webhook = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'name must be a DNS label such as load-test' })
      .max(63, { error: 'name must be at most 63 characters' })
      .describe('A name for this hook, unique in the release; status and Events name it.'),
    type: z
      .enum(HOOK_TYPES, {
        error: (issue) =>
          `unknown hook type ${JSON.stringify(issue.input)}; use one of ${HOOK_TYPES.join(', ')}`,
      })
      .describe(`When the hook is called: ${HOOK_TYPES.join(', ')}.`),
    url: z
      .string()
      .max(2048, { error: 'url must be at most 2048 characters' })
      .refine(isHttpUrl, {
        error: 'url must be an http:// or https:// URL, e.g. http://flagger-loadtester.test/',
      })
      .describe('Where canaria POSTs the payload. Credentials go in headersFrom, never in the URL.'),
    timeout: duration
      .default('10s')
      .describe('How long one call may take before it counts as failed. Default 10s, at most 60s.'),
    retries: z
      .int({ error: 'retries must be a whole number, e.g. 2' })
      .min(0, { error: 'retries must be >= 0' })
      .max(HOOK_MAX_RETRIES, { error: `retries must be <= ${HOOK_MAX_RETRIES}` })
      .default(0)
      .describe(
        'Retries of a call that failed on a network error, a timeout or a 5xx, with backoff. Default 0.',
      ),
    headersFrom: z
      .strictObject({
        secretRef: z
          .strictObject({
            name: k8sName('headersFrom.secretRef.name').describe(
              "The Secret's name, in the release's namespace.",
            ),
          })
          .describe('A Secret whose keys are header names and whose values are their values.'),
      })
      .optional()
      .describe('Request headers (e.g. Authorization) read from a Secret in the release namespace.'),
    metadata: z
      .record(z.string().max(253), z.string().max(4096))
      .optional()
      .describe(
        "Strings sent as the payload's metadata, e.g. {type: cmd, cmd: 'hey -z 1m http://app-canary/'}.",
      ),
    onFailure: z
      .enum(HOOK_FAILURE_ACTIONS, { error: `onFailure must be one of ${HOOK_FAILURE_ACTIONS.join(', ')}` })
      .optional()
      .describe('pre-rollout only: hold (default: wait, calling again) or rollback when the hook fails.'),
  })
  .superRefine((hook, ctx) => {
    const timeout = parseDuration(hook.timeout);
    if (timeout !== undefined && timeout > HOOK_MAX_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeout'],
        message: `must be at most 60s, so a slow hook cannot hold up other releases; run long tests asynchronously and gate on them`,
      });
    }
    if (hook.onFailure !== undefined && hook.type !== 'pre-rollout') {
      ctx.addIssue({
        code: 'custom',
        path: ['onFailure'],
        message: `onFailure applies to pre-rollout hooks only; a ${hook.type} hook ${failureOf(hook.type)}`,
      });
    }
  });
export type Webhook = z.infer<typeof webhook>;
export type WebhookInput = z.input<typeof webhook>;

export const webhooks = z
  .array(webhook)
  .max(20, { error: 'at most 20 webhooks per release' })
  .superRefine((hooks, ctx) => {
    const seen = new Set<string>();
    hooks.forEach((hook, i) => {
      if (seen.has(hook.name)) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `webhook name ${JSON.stringify(hook.name)} is used twice; names must be unique`,
        });
      }
      seen.add(hook.name);
    });
  });

function failureOf(type: HookType): string {
  switch (type) {
    case 'rollout':
      return 'counts as a failed analysis';
    case 'post-rollout':
    case 'rollback':
      return 'only informs';
    case 'confirm-rollout':
    case 'pre-rollout':
    case 'confirm-traffic-increase':
    case 'confirm-promotion':
      return 'holds the release until it answers 2xx';
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === ''
    );
  } catch {
    return false;
  }
}

/** The URL as status and Events show it: no query string or fragment (tokens live there), no user info. */
export function displayUrl(text: string): string {
  try {
    const url = new URL(text);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return text.split(/[?#]/)[0] ?? '';
  }
}

// ---------------------------------------------------------------- status

/** One call of a hook and what came of it: the evidence a gate or an analysis decided on. */
export const hookCall = z.object({
  name: z.string().describe("The hook's name."),
  type: z.enum(HOOK_TYPES).describe("The hook's type."),
  url: z.string().describe('The URL called, without its query string.'),
  gate: z.string().describe('What the call was for: the gate it opens (e.g. confirm-promotion), or rollout.'),
  ok: z.boolean().describe('It answered 2xx.'),
  statusCode: z.int().optional().describe('The HTTP status code; absent when no answer came.'),
  durationMs: z.number().describe('How long the call took, retries included, in milliseconds.'),
  attempts: z.int().optional().describe('Calls made, retries included.'),
  body: z.string().optional().describe("On failure, the first bytes of the answer's body."),
  error: z.string().optional().describe('On failure without an answer: what went wrong (timeout, refused).'),
  time: z.string().describe('When the call ended (RFC 3339).'),
});
export type HookCall = z.infer<typeof hookCall>;

export const hooksStatus = z.object({
  calls: z.array(hookCall).optional().describe('The latest call of each hook in this rollout.'),
  waiting: z
    .object({
      type: z.enum(GATE_TYPES).describe('The gate type.'),
      key: z.string().describe('The gate, e.g. confirm-traffic-increase@2 for the one before step 3.'),
      since: z.string().describe('When the release began waiting at it (RFC 3339).'),
    })
    .optional()
    .describe('The gate the release waits at, until its hooks answer 2xx or canaria approve opens it.'),
  passed: z.array(z.string()).optional().describe('The gates of this rollout that opened.'),
  approved: z
    .array(z.string())
    .optional()
    .describe(
      'Of those, the gates a user opened with canaria approve; pause@N: the pause of the last step N (from 0), approved while confirm-promotion still asks.',
    ),
  informed: z.array(z.enum(HOOK_TYPES)).optional().describe('Informational hook types already called.'),
});
export type HooksStatus = z.infer<typeof hooksStatus>;
