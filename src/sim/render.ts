import { formatDuration } from '../api/duration.js';
import type { SimulationResult, Served, TimelineEntry } from './simulate.js';

export interface Style {
  color: boolean;
}

const CODES: Record<string, string> = {
  red: '31',
  green: '32',
  yellow: '33',
  cyan: '36',
  dim: '2',
  bold: '1',
};
export const paint = (style: Style, color: keyof typeof CODES, text: string): string =>
  style.color ? `\u001b[${CODES[color] ?? '0'}m${text}\u001b[0m` : text;

const clock = (ms: number): string => {
  const s = Math.round(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

const rate = (served: Served): string =>
  served.total ? `${((100 * served.errors) / served.total).toFixed(2)}%` : '-';

const ACTION_COLOR: Record<string, keyof typeof CODES> = {
  Rollback: 'red',
  Fail: 'red',
  Succeed: 'green',
  Promote: 'green',
  Advance: 'cyan',
  Hold: 'yellow',
  Pause: 'yellow',
};

/** One timeline line: time, action, step, weight, what each revision served, and why. */
export function renderEntry(
  entry: TimelineEntry,
  names: { stable: string; canary: string },
  style: Style,
): string {
  const d = entry.decision;
  const action = paint(style, ACTION_COLOR[d.action] ?? 'dim', d.action.padEnd(8));
  const step = `step ${Math.min(entry.step + 1, entry.stepCount)}/${entry.stepCount}`.padEnd(10);
  const weight = `${names.canary} ${String(entry.canaryWeight).padStart(5)}%`;
  const served =
    `${names.canary} ${String(entry.canary.total).padStart(6)} req ${rate(entry.canary).padStart(6)} err | ` +
    `${names.stable} ${String(entry.stable.total).padStart(6)} req ${rate(entry.stable).padStart(6)} err`;
  return `${clock(entry.atMs)}  ${action} ${step} ${weight}  ${paint(style, 'dim', served)}\n         ${d.message}`;
}

export function renderSummary(
  result: SimulationResult,
  names: { stable: string; canary: string },
  style: Style,
): string {
  const outcome = result.outcome ?? 'unknown';
  const color = outcome === 'Succeeded' ? 'green' : outcome === 'RolledBack' ? 'yellow' : 'red';
  return [
    `${paint(style, 'bold', 'outcome')}  ${paint(style, color, outcome)} after ${formatDuration(result.durationMs)} of simulated time`,
    `${paint(style, 'bold', 'canary')}   ${names.canary} served ${result.canary.total} requests, ${result.canary.errors} errors (${rate(result.canary)})`,
    `${paint(style, 'bold', 'stable')}   ${names.stable} served ${result.stable.total} requests, ${result.stable.errors} errors (${rate(result.stable)})`,
  ].join('\n');
}
