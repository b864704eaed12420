import type { Phase } from '../../api/canary-release.js';
import { paint, type Style } from '../../sim/render.js';

export type { Style };

const PHASE_COLOR: Record<Phase, Parameters<typeof paint>[1]> = {
  Initializing: 'dim',
  Progressing: 'cyan',
  Paused: 'yellow',
  Promoting: 'cyan',
  Succeeded: 'green',
  RolledBack: 'red',
  Failed: 'red',
};

export const paintPhase = (style: Style, phase: Phase | undefined, text: string = phase ?? '-'): string =>
  phase === undefined ? text : paint(style, PHASE_COLOR[phase], text);

/** A table cell and, when colored, how: the color goes on after padding so columns stay aligned. */
export interface Cell {
  text: string;
  paint?: (padded: string) => string;
}

const GAP = '   ';

/**
 * Columns as wide as their widest cell, three spaces apart, the last one unpadded: the same input
 * always gives the same text, whatever the terminal.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.text.length ?? 0)));
  const line = (cells: readonly Cell[]) =>
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? cell.text : cell.text.padEnd(widths[i] ?? 0);
        return cell.paint ? cell.paint(padded) : padded;
      })
      .join(GAP)
      .trimEnd();
  return [line(header.map((text) => ({ text }))), ...rows.map(line)];
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** How long ago, as kubectl's AGE column says it: precise when recent, coarse when old. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  const two = (whole: number, unit: string, rest: number, restUnit: string) =>
    rest ? `${whole}${unit}${rest}${restUnit}` : `${whole}${unit}`;
  if (s < 120) return `${s}s`;
  if (m < 10) return two(m, 'm', s % 60, 's');
  if (h < 3) return `${m}m`;
  if (h < 8) return two(h, 'h', m % 60, 'm');
  if (d < 2) return `${h}h`;
  if (d < 8) return two(d, 'd', h % 24, 'h');
  return `${d}d`;
}

/** Status times without their milliseconds, which the engine always writes as .000. */
export const timeOf = (iso: string): string => iso.replace(/\.\d{3}Z$/, 'Z');
