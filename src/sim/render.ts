import { formatDuration } from '../api/duration.js';
import type { Served } from './mesh.js';
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

function weight(desired: number, actual: number): string {
  const text = `${String(desired).padStart(5)}%`;
  return desired === actual ? text : `${text} (VirtualService ${actual}%)`;
}

/** One timeline line: time, action, step, weight, what each revision served since the last line, and why. */
export function renderEntry(entry: TimelineEntry, names: Names, style: Style): string {
  const d = entry.decision;
  const action = paint(style, ACTION_COLOR[d.action] ?? 'dim', d.action.padEnd(8));
  const step = `step ${Math.min(entry.step + 1, entry.stepCount)}/${entry.stepCount}`.padEnd(10);
  const served = servedColumns(entry.served, names);
  return (
    `${clock(entry.atMs).padStart(5)}  ${action} ${step} ${names.canary} ${weight(entry.desiredWeight, entry.actualWeight)}  ` +
    `${paint(style, 'dim', served)}\n         ${d.message}`
  );
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
