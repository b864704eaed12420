import type { DecisionAction, Phase, VerdictKind } from '../api/canary-release.js';

/** How much a notification matters; a sink receives those at or above its own threshold. */
export const SEVERITIES = ['info', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** What happened to a release, in the words a notification uses (and the CloudEvent type's last part). */
export const NOTIFICATION_KINDS = [
  'started',
  'advanced',
  'promoted',
  'succeeded',
  'resumed',
  'paused',
  'waiting',
  'rolledback',
  'failed',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export interface SideNumbers {
  value?: number | null | undefined;
  total?: number | undefined;
  errors?: number | undefined;
}

/** One metric's evidence as a notification shows it. */
export interface NotificationMetric {
  metric: string;
  verdict: VerdictKind;
  /** The rule with its numbers, as the judge wrote it. */
  rule: string;
  canary?: SideNumbers | undefined;
  stable?: SideNumbers | undefined;
}

/**
 * A notification, independent of any sink: built from one decision record by a pure function, then
 * rendered by each sink into its own format. Everything a person needs to understand the decision
 * and act on it is here, so a sink only lays it out.
 */
export interface Notification {
  /** Unique per decision: the same decision seen twice (a retried reconcile) has the same id. */
  id: string;
  time: string;
  severity: Severity;
  kind: NotificationKind;
  release: { name: string; namespace: string; uid?: string };
  action: DecisionAction;
  reason: string;
  /** One line: `shop/checkout rolled back at 20%`. */
  title: string;
  /** The engine's own message for the decision. */
  message: string;
  /** The rule that decided, with its numbers, when a metric decided. */
  rule?: string;
  phase?: Phase;
  /** 1-based step. */
  step: number;
  canaryWeight: number;
  /** The weight before this decision, when it took the canary's traffic away (a rollback). */
  previousWeight?: number;
  canaryRevision?: string;
  stableRevision?: string;
  /** How many analyses this decision stands for (collapsed holds). */
  count?: number;
  metrics: NotificationMetric[];
  /** What a person can run next, most likely first. */
  commands: string[];
}

/** A request a sink wants sent: the receiver's body and headers. The URL comes from the sink's Secret. */
export interface Rendered {
  body: unknown;
  headers: Record<string, string>;
}

/**
 * The Notifier port: turns a notification into the request its receiver understands. Pure, so that
 * each format is tested without a network; delivery (queue, retries, rate limit) is shared.
 */
export interface Notifier {
  readonly type: string;
  render(notification: Notification): Rendered;
}
