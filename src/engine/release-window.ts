import { cronMatches, parseCron } from '../api/cron.js';
import { parseDuration } from '../api/duration.js';
import type { ReleaseWindow } from '../api/canary-release.js';

const MINUTE = 60_000;

/**
 * Whether `now` lies inside one of the windows: some minute in the last `duration` matched the
 * window's schedule. No windows means always open. Windows were validated with the spec, so a
 * window that still fails to parse is treated as closed rather than thrown.
 */
export function releaseWindowOpen(windows: readonly ReleaseWindow[] | undefined, now: Date): boolean {
  if (!windows?.length) return true;
  return windows.some((window) => {
    const length = parseDuration(window.duration) ?? 0;
    let schedule;
    try {
      schedule = parseCron(window.schedule);
    } catch {
      return false;
    }
    const latestStart = Math.floor(now.getTime() / MINUTE) * MINUTE;
    for (let start = latestStart; start > now.getTime() - length; start -= MINUTE) {
      if (cronMatches(schedule, new Date(start), window.timeZone)) return true;
    }
    return false;
  });
}
