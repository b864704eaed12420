import { formatDuration } from '../api/duration.js';
import type { DecisionRecord } from '../api/canary-release.js';
import type { Served } from './mesh.js';
import type { SimulatedHookCall, SimulatedNotification } from './hooks.js';
import type { Progress, SimulationResult, TimelineEntry } from './simulate.js';

export interface Style {
  color: boolean;
}

const CODES = {
  red: '31',
  green: '32',
  yellow: '33',
  cyan: '36',
  dim: '2',
  bold: '1',
} as const;
type Color = keyof typeof CODES;

export const paint = (style: Style, color: Color, text: string): string =>
  style.color ? `\u001b[${CODES[color]}m${text}\u001b[0m` : text;

/** Simulated time as mm:ss, or h:mm:ss past the hour. */
export function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

const rate = (served: Served | undefined): string =>
  served?.total ? `${((100 * served.errors) / served.total).toFixed(2)}%` : '-';

const ACTION_COLOR: Partial<Record<string, Color>> = {
  Rollback: 'red',
  Fail: 'red',
  Succeed: 'green',
  Promote: 'green',
  Advance: 'cyan',
  Start: 'cyan',
  Hold: 'yellow',
  Pause: 'yellow',
};

const OUTCOME_COLOR: Partial<Record<string, Color>> = {
  Succeeded: 'green',
  RolledBack: 'yellow',
  Failed: 'red',
};

export interface Names {
  stable: string;
  canary: string;
  /** What shows the actual weight: VirtualService (the default) or HTTPRoute. */
  shownBy?: string | undefined;
}

/** Canary and stable first, then any other revision that served requests. */
function servedColumns(served: Readonly<Record<string, Served>>, names: Names): string {
  const others = Object.keys(served)
    .filter((r) => r !== names.canary && r !== names.stable)
    .sort();
  return [names.canary, names.stable, ...others]
    .map((r) => `${r} ${String(served[r]?.total ?? 0).padStart(6)} req ${rate(served[r]).padStart(6)} err`)
    .join(' | ');
}

function weight(desired: number, actual: number, shownBy = 'VirtualService'): string {
  const text = `${String(desired).padStart(5)}%`;
  return desired === actual ? text : `${text} (${shownBy} ${actual}%)`;
}

/** A decision reason as words: CollectingEvidence -> collecting evidence. */
export const words = (reason: string): string => reason.replace(/(?<=[a-z])(?=[A-Z])/g, ' ').toLowerCase();

/** A wait as canaria estimates it: seconds under a minute and a half, whole minutes above. */
export function formatWait(seconds: number): string {
  return seconds < 90
    ? `${Math.max(1, Math.round(seconds))}s`
    : formatDuration(Math.round(seconds / 60) * 60_000);
}

/**
 * How long canaria expects the hold to last, from the sequential metrics' evidence: the metric that
 * needs the longest, with the canary requests it still needs. Undefined when no metric waits for
 * requests (a hold for another reason, or judges without a wait estimate).
 */
export function expectedWait(decision: DecisionRecord): string | undefined {
  const waiting = (decision.metrics ?? []).flatMap((m) => {
    const s = m.sequential;
    return s && s.progress < s.required && s.neededRequests !== 0 ? [{ metric: m.metric, s }] : [];
  });
  if (!waiting.length) return undefined;
  const longest = (x: (typeof waiting)[number]) =>
    x.s.expectedWaitSeconds ?? (x.s.neededRequests === null ? Infinity : Number.MAX_VALUE);
  const [first] = [...waiting].sort((a, b) => longest(b) - longest(a));
  if (!first) return undefined;
  const { metric, s } = first;
  if (s.neededRequests === null) {
    return `no estimate yet: ${metric} has no canary traffic to estimate the wait from`;
  }
  const requests = `about ${s.neededRequests} more canary requests (${metric}: ${Math.floor(100 * s.progress)}% of the evidence, this step needs ${Math.ceil(100 * s.required)}%)`;
  return s.expectedWaitSeconds === null
    ? `unknown, ${requests}`
    : `~${formatWait(s.expectedWaitSeconds)} for ${requests}`;
}

/**
 * The hook calls of a line, a run of the same hook answering the same way folded into one phrase:
 * `confirm-promotion hook release-manager: HTTP 403 x12 (02:00-04:45)`.
 */
export function describeHookCalls(calls: readonly SimulatedHookCall[]): string[] {
  const runs: { call: SimulatedHookCall; count: number; lastAtMs: number }[] = [];
  for (const call of calls) {
    const last = runs.findLast((r) => r.call.name === call.name && r.call.gate === call.gate);
    if (last?.call.statusCode === call.statusCode && runs.at(-1) === last) {
      last.count += 1;
      last.lastAtMs = call.atMs;
    } else runs.push({ call, count: 1, lastAtMs: call.atMs });
  }
  return runs.map(({ call, count, lastAtMs }) => {
    const gate = call.gate === call.type ? call.type : `${call.type} (${call.gate})`;
    const times =
      count > 1 ? ` x${count} (${clock(call.atMs)}-${clock(lastAtMs)})` : ` at ${clock(call.atMs)}`;
    return `hook ${call.name}, ${gate}: HTTP ${call.statusCode}${call.ok ? '' : ' (failed)'}${times}`;
  });
}

/** A notification as one phrase: its severity, what happened, and which sinks get it. */
export function describeNotification(n: SimulatedNotification): string {
  const skipped = n.skipped.map((s) => `${s.sink} (${s.why})`);
  const to = n.sentTo.length ? `to ${n.sentTo.join(', ')}` : 'to no sink';
  return `notify ${n.severity} ${n.kind} (${n.reason}) ${to}${skipped.length ? `; not to ${skipped.join(', ')}` : ''}`;
}

/**
 * One timeline line: time, action, step, weight, what each revision served since the last line, and
 * why. A run of holds is one line that says how many analyses it held, from when to when, and how
 * long canaria expects to wait.
 */
export function renderEntry(entry: TimelineEntry, names: Names, style: Style): string {
  const d = entry.decision;
  const action = paint(style, ACTION_COLOR[d.action] ?? 'dim', d.action.padEnd(8));
  const step = `step ${Math.min(entry.step + 1, entry.stepCount)}/${entry.stepCount}`.padEnd(10);
  const served = servedColumns(entry.served, names);
  const lines = [
    `${clock(entry.atMs).padStart(5)}  ${action} ${step} ${names.canary} ${weight(entry.desiredWeight, entry.actualWeight, names.shownBy)}  ` +
      paint(style, 'dim', served),
  ];
  if (entry.count > 1) {
    const reasons = Object.entries(entry.reasons ?? {})
      .map(([reason, n]) => `${n} ${words(reason)}`)
      .join(', ');
    lines.push(
      `held ${entry.count} times from ${clock(entry.atMs)} to ${clock(entry.lastAtMs)}${reasons ? ` (${reasons})` : ''}`,
    );
  }
  lines.push(d.message);
  const wait = d.action === 'Hold' ? expectedWait(d) : undefined;
  if (wait) lines.push(paint(style, 'yellow', `expected wait: ${wait}`));
  for (const call of describeHookCalls(entry.hooks ?? [])) lines.push(paint(style, 'cyan', call));
  // one that no sink takes (all filter it) stays in the JSON result only: it would be noise here
  for (const n of (entry.notifications ?? []).filter((x) => x.sentTo.length)) {
    lines.push(
      paint(
        style,
        n.severity === 'error' ? 'red' : n.severity === 'warning' ? 'yellow' : 'dim',
        describeNotification(n),
      ),
    );
  }
  return lines.join('\n         ');
}

/**
 * The live line of a running simulation: the steps as a bar, the weight, the phase, what the canary
 * served. Kept under 80 columns, since a line that wraps cannot be redrawn in place.
 */
export function renderProgress(progress: Progress, names: Names, style: Style): string {
  const width = 10;
  const done = progress.stepCount ? Math.min(1, progress.step / progress.stepCount) : 0;
  const filled = Math.round(done * width);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
  const phase = progress.phase ?? 'Initializing';
  const canary = progress.served[names.canary];
  const moving = progress.actualWeight === progress.desiredWeight ? '' : `${progress.actualWeight}%->`;
  return [
    clock(progress.atMs).padStart(5),
    paint(style, 'cyan', `[${bar}]`),
    `step ${Math.min(progress.step + 1, progress.stepCount)}/${progress.stepCount}`,
    `${names.canary} ${moving}${progress.desiredWeight}%`,
    paint(style, OUTCOME_COLOR[phase] ?? 'dim', phase),
    paint(style, 'dim', `${names.canary} ${canary?.total ?? 0} req ${rate(canary)} err`),
  ].join('  ');
}

export function renderSummary(result: SimulationResult, style: Style): string {
  const names = { stable: result.stable.revision, canary: result.canary.revision };
  const outcome = result.outcome ?? 'Initializing';
  const took = formatDuration(result.durationMs);
  const headline = result.finished
    ? `${paint(style, OUTCOME_COLOR[outcome] ?? 'dim', outcome)} after ${took} of simulated time`
    : `${paint(style, 'yellow', `still ${outcome}`)} when the simulation stopped at its limit of ${formatDuration(result.maxDurationMs)}`;
  const line = (label: string, text: string) => `${paint(style, 'bold', label.padEnd(8))} ${text}`;
  const servedBy = (revision: string) => {
    const s = result.served[revision] ?? { total: 0, errors: 0 };
    return `${revision} served ${s.total} requests, ${s.errors} errors (${rate(s)})`;
  };
  const others = Object.keys(result.served)
    .filter((r) => r !== names.canary && r !== names.stable)
    .sort();
  const dropped = Object.entries(result.dropped);
  return [
    line('outcome', headline),
    ...(result.message ? [line('', result.message)] : []),
    line('canary', servedBy(names.canary)),
    line('stable', servedBy(names.stable)),
    ...others.map((r) => line('other', servedBy(r))),
    ...dropped.map(([reason, n]) => line('dropped', `${n} requests: ${reason}`)),
  ].join('\n');
}
