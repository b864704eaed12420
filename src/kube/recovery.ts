import { setTimeout as sleep } from 'node:timers/promises';
import { linkSignals } from '../lib/signals.js';

/** How often a client whose caches are backing off asks the API server whether it is back. */
export const PROBE_INTERVAL_MS = 1_000;

/**
 * Cuts the informers' backoff short once the API server answers again. After an outage (an API
 * server restart) every informer of a client has failed a few times in a row and sleeps up to 30 s;
 * meanwhile the server is back and writes succeed, so the controller would act on caches that stay
 * stale for the rest of the pause. While any informer waits, one cheap probe a second (GET /version,
 * which every authenticated client may read) asks for the whole client; the first call through the
 * client that succeeds, probe or not, wakes every waiting informer to list again.
 */
export class ServerRecovery {
  private waiters = new Set<() => void>();
  private probing = false;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly intervalMs = PROBE_INTERVAL_MS,
  ) {}

  /** Told that a call to the API server succeeded. */
  answered(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  /** Waits `ms`, or less once the API server answers; rejects when `signal` aborts. */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    const timer = new AbortController();
    const woken = new Promise<void>((resolve) => {
      const wake = () => {
        timer.abort();
        resolve();
      };
      this.waiters.add(wake);
      signal.addEventListener('abort', () => this.waiters.delete(wake), { once: true });
    });
    this.startProbing();
    const linked = linkSignals([signal, timer.signal]);
    try {
      await Promise.race([sleep(ms, undefined, { signal: linked.signal }), woken]);
    } catch (error) {
      if (signal.aborted) throw error;
      // the timer was cancelled by a wake-up
    } finally {
      timer.abort();
      linked.dispose();
    }
  }

  /** One loop for all waiters; it ends when nobody waits (a stopped informer stops waiting). */
  private startProbing(): void {
    if (this.probing) return;
    this.probing = true;
    void (async () => {
      try {
        while (this.waiters.size > 0) {
          await sleep(this.intervalMs);
          if (this.waiters.size === 0) break;
          // a failed probe says only what the informers know already; its success reaches answered()
          await this.probe().catch(() => undefined);
        }
      } finally {
        this.probing = false;
      }
    })();
  }
}
