import { z } from 'zod';
import { LIMITS } from './limits.js';

/** Go-style durations as Kubernetes users write them: `500ms`, `30s`, `5m`, `1h30m`. */
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration string into milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * (UNIT_MS[unit ?? ''] ?? Number.NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Formats milliseconds the way the user would write them (`1h30m`, `45s`, `250ms`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let seconds = Math.round(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return `${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}${seconds ? `${seconds}s` : ''}`;
}

export const duration = z
  .string()
  .max(LIMITS.duration, { error: `must be at most ${LIMITS.duration} characters, e.g. 1h30m` })
  .regex(DURATION, {
    error: 'must be a duration such as 30s, 5m or 1h30m (units ms, s, m, h)',
  });
