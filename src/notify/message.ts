import type {
  CanaryReleaseStatus,
  DecisionAction,
  DecisionRecord,
  MetricEvidence,
} from '../api/canary-release.js';
import type { Notification, NotificationKind, NotificationMetric, Severity } from './types.js';

/**
 * Which decisions are worth a message, and how much. Holds are not: a release holds at every
 * analysis while it waits for evidence, and the status shows that; a hold that lasts too long
 * becomes a Pause (HoldDeadlineExceeded), which is. A wait at a webhook gate is the exception (see
 * kindOf). Initialize, Revert and Ignore are bookkeeping.
 */
const KINDS: Partial<Record<DecisionAction, { kind: NotificationKind; severity: Severity }>> = {
  Start: { kind: 'started', severity: 'info' },
  Restart: { kind: 'started', severity: 'info' },
  Advance: { kind: 'advanced', severity: 'info' },
  Promote: { kind: 'promoted', severity: 'info' },
  Succeed: { kind: 'succeeded', severity: 'info' },
  Resume: { kind: 'resumed', severity: 'info' },
  // held past a deadline, waiting at a gate for `promote`, or paused by someone
  Pause: { kind: 'paused', severity: 'warning' },
  Rollback: { kind: 'rolledback', severity: 'error' },
  Fail: { kind: 'failed', severity: 'error' },
};

/**
 * A wait at a webhook gate is a hold worth one warning: the engine keeps the whole wait in one
 * record, so later looks only update its streak and are not new decisions.
 */
function kindOf(record: DecisionRecord): { kind: NotificationKind; severity: Severity } | undefined {
  if (record.action === 'Hold' && record.reason === 'WaitingForHook')
    return { kind: 'waiting', severity: 'warning' };
  return KINDS[record.action];
}

const VERB: Record<NotificationKind, string> = {
  started: 'started a rollout',
  advanced: 'advanced',
  promoted: 'is promoting the canary',
  succeeded: 'promoted the canary',
  resumed: 'resumed',
  paused: 'is paused',
  waiting: 'is waiting at a gate',
  rolledback: 'rolled back',
  failed: 'failed',
};

export interface ReleaseIdentity {
  name: string;
  namespace: string;
  uid?: string;
}

/**
 * The decision records `next` added to `previous`: those after the last one `previous` had. A hold
 * that only updated its streak is not new. Pure: the reconciler's before and after.
 */
export function newDecisions(
  previous: CanaryReleaseStatus | undefined,
  next: CanaryReleaseStatus,
): DecisionRecord[] {
  const before = previous?.decisions ?? [];
  const last = before.at(-1);
  return (next.decisions ?? []).filter(
    (d) => !last || (d.time > last.time && !(d.count !== undefined && d.count > 1)),
  );
}

/** The metric that decided: the first failing one on a rollback, else the first with a verdict. */
function decidingMetric(record: DecisionRecord): MetricEvidence | undefined {
  const metrics = record.metrics ?? [];
  const wanted = record.verdict ?? (record.action === 'Rollback' ? 'Fail' : undefined);
  return metrics.find((m) => m.verdict === wanted) ?? metrics.find((m) => m.verdict === 'Fail');
}

const side = (s: MetricEvidence['canary'] | undefined): NotificationMetric['canary'] =>
  s ? { value: s.value, total: s.total, errors: s.errors } : undefined;

/** What a person can run next; `status` last, since it only looks. */
function commandsFor(kind: NotificationKind, name: string, namespace: string): string[] {
  const run = (verb: string) => `kubectl canaria ${verb} ${name} -n ${namespace}`;
  switch (kind) {
    case 'rolledback':
    case 'failed':
      return [run('retry'), run('status')];
    case 'paused':
      return [run('promote'), run('abort'), run('status')];
    case 'waiting':
      return [run('approve'), run('abort'), run('status')];
    case 'succeeded':
      return [run('status')];
    case 'started':
    case 'advanced':
    case 'promoted':
    case 'resumed':
      return [run('abort'), run('status')];
  }
}

/** A notification for one decision record, or undefined for decisions nobody is told about. */
export function notificationFor(
  release: ReleaseIdentity,
  record: DecisionRecord,
  status: CanaryReleaseStatus,
  previous?: CanaryReleaseStatus,
): Notification | undefined {
  const known = kindOf(record);
  if (!known) return undefined;
  const deciding = decidingMetric(record);
  const { name, namespace } = release;
  // a rollback records the weight it set (0); where the canary was when it failed is the news
  const was = previous?.canaryWeight;
  const from = record.canaryWeight === 0 && was ? was : undefined;
  const where =
    from !== undefined
      ? ` from ${formatNumber(from)}% canary traffic`
      : record.canaryWeight > 0
        ? ` at ${formatNumber(record.canaryWeight)}% canary traffic`
        : '';
  const n: Notification = {
    id: `${namespace}/${name}/${record.time}/${record.action}/${record.reason}`,
    time: record.time,
    severity: known.severity,
    kind: known.kind,
    release: { name, namespace, ...(release.uid ? { uid: release.uid } : {}) },
    action: record.action,
    reason: record.reason,
    title: `${namespace}/${name} ${VERB[known.kind]}${where} (${record.reason})`,
    message: record.message,
    step: record.step + 1,
    canaryWeight: record.canaryWeight,
    metrics: (record.metrics ?? []).map((m) => ({
      metric: m.metric,
      verdict: m.verdict,
      rule: m.rule,
      canary: side(m.canary),
      ...(m.stable ? { stable: side(m.stable) } : {}),
    })),
    commands: commandsFor(known.kind, name, namespace),
  };
  if (deciding) n.rule = `${deciding.metric}: ${deciding.rule}`;
  if (status.phase) n.phase = status.phase;
  if (status.canaryRevision) n.canaryRevision = status.canaryRevision;
  if (status.stableRevision) n.stableRevision = status.stableRevision;
  if (record.count !== undefined) n.count = record.count;
  if (from !== undefined) n.previousWeight = from;
  return n;
}

/** The notifications one reconcile's decision calls for, oldest first. */
export function notificationsFor(
  release: ReleaseIdentity,
  previous: CanaryReleaseStatus | undefined,
  next: CanaryReleaseStatus,
): Notification[] {
  return newDecisions(previous, next)
    .map((record) => notificationFor(release, record, next, previous))
    .filter((n): n is Notification => n !== undefined);
}

/** Numbers as people read them: no float noise, four significant digits for small rates. */
export function formatNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return 'n/a';
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) < 1 ? String(Number(n.toPrecision(3))) : String(Number(n.toFixed(2)));
}

/** One side's numbers: `0.05 (50 errors / 1000 requests)`. */
export function formatSide(s: NotificationMetric['canary']): string {
  if (!s) return 'n/a';
  const counts =
    s.total !== undefined
      ? ` (${s.errors !== undefined ? `${formatNumber(s.errors)} errors / ` : ''}${formatNumber(s.total)} requests)`
      : '';
  return `${formatNumber(s.value)}${counts}`;
}

/** The facts every sink shows, in order, as label and value. */
export function facts(n: Notification): { label: string; value: string }[] {
  const out = [
    { label: 'Release', value: `${n.release.namespace}/${n.release.name}` },
    { label: 'Decision', value: `${n.action} (${n.reason})` },
  ];
  if (n.phase) out.push({ label: 'Phase', value: n.phase });
  out.push(
    { label: 'Step', value: String(n.step) },
    {
      label: 'Canary weight',
      value:
        `${formatNumber(n.canaryWeight)}%` +
        (n.previousWeight !== undefined ? ` (was ${formatNumber(n.previousWeight)}%)` : ''),
    },
  );
  if (n.rule) out.push({ label: 'Rule', value: n.rule });
  const deciding = n.metrics.find((m) => n.rule?.startsWith(`${m.metric}:`)) ?? n.metrics[0];
  if (deciding) {
    out.push({ label: `Canary ${deciding.metric}`, value: formatSide(deciding.canary) });
    if (deciding.stable) out.push({ label: `Stable ${deciding.metric}`, value: formatSide(deciding.stable) });
  }
  if (n.count !== undefined && n.count > 1) out.push({ label: 'Analyses', value: String(n.count) });
  if (n.canaryRevision) out.push({ label: 'Canary revision', value: n.canaryRevision });
  if (n.stableRevision) out.push({ label: 'Stable revision', value: n.stableRevision });
  return out;
}

/** Cuts `text` to `max` characters, marking the cut, so a long rule never makes a payload invalid. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
