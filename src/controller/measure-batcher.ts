import type { Measurement } from '../analysis/types.js';
import type { MeasurementRequest, MetricsProvider } from '../metrics/provider.js';
import { realTimers, type Nudge, type Timers } from './queue.js';

interface Pending {
  request: MeasurementRequest;
  resolve: (measurements: Map<string, Measurement>) => void;
}

export interface MeasureOptions {
  /** Sent at once, on its own: a user's action does not wait for a batch to fill. */
  alone?: boolean;
  /**
   * Until when (ms since the epoch, on the work queue's clock) a later reconcile may still ask for
   * this request's evaluation time: the end of its query granule. With it the request waits for the
   * work queue's nudges (`nudge`) and goes out once no run can start before then; without it, once
   * no request joined for the quiet period.
   */
  joinableUntil?: number;
}

/**
 * The most requests one call of the provider carries, so that one answer stays a few MB to parse;
 * the provider asks one query per namespace and metric type however large the batch is. (The work
 * queue bounds how many reconciles wait here: its `maxParked`.)
 */
export const MAX_BATCH = 2_000;

/**
 * The longest a request waits for runs that only a timer would start (the queue has nothing else to
 * start): a release that rechecks every few seconds (a closed gate, a canary not ready yet) would
 * otherwise hold every parked analysis of the granule until the granule ends.
 */
export const MAX_GATHER_MS = 10_000;

/**
 * Gathers the measurement requests of reconciles into one call of the provider, so that one
 * Prometheus query per metric type and namespace serves them all. The releases analysed within one
 * query granule ask for the same evaluation time, but come due at different moments of it; a
 * request that says until when others may join waits for them, for at most its granule: the work
 * queue says when no run can start before a time (`nudge`), and the requests that nobody can join
 * any more go out, as do those that waited MAX_GATHER_MS for runs only a timer would start. Requests without that (a reconcile run outside the queue) go out once no request
 * joined for `quietMs`. `maxBatch` requests go out at once.
 */
export class MeasureBatcher {
  /** Gathered requests, by until when others may join them (-Infinity: until the quiet timer). */
  private readonly pending = new Map<number, Pending[]>();
  /** The cap on the wait for timers (MAX_GATHER_MS), by the granule end it is for. */
  private readonly gatherTimers = new Map<number, unknown>();
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastJoin = 0;

  constructor(
    private readonly provider: MetricsProvider,
    private readonly quietMs = 25,
    private readonly maxBatch = MAX_BATCH,
    /** The work queue's clock, for the cap on gathering. */
    private readonly timers: Timers = realTimers,
  ) {}

  measure(request: MeasurementRequest, options: MeasureOptions = {}): Promise<Map<string, Measurement>> {
    return new Promise((resolve) => {
      if (options.alone) {
        void this.send([{ request, resolve }]);
        return;
      }
      const until = options.joinableUntil ?? -Infinity;
      const group = this.pending.get(until) ?? [];
      group.push({ request, resolve });
      this.pending.set(until, group);
      this.size++;
      if (this.size >= this.maxBatch) {
        this.flush(Infinity);
        return;
      }
      if (options.joinableUntil !== undefined) return;
      this.lastJoin = Date.now();
      this.timer ??= setTimeout(this.expire, this.quietMs);
    });
  }

  /** The work queue's nudge: sends what no run can join before `quietUntil`; true when nothing is left. */
  readonly nudge: Nudge = (quietUntil) => {
    this.flush(quietUntil);
    // what is left waits for timers only: for MAX_GATHER_MS at most
    for (const until of this.pending.keys()) {
      if (until === -Infinity || this.gatherTimers.has(until)) continue;
      this.gatherTimers.set(
        until,
        this.timers.setTimeout(() => {
          this.gatherTimers.delete(until);
          this.flush(until);
        }, MAX_GATHER_MS),
      );
    }
    return this.size === 0;
  };

  /** Sends, in one call, the requests nobody can join before `quietUntil`. */
  private flush(quietUntil: number): void {
    const batch: Pending[] = [];
    for (const [until, group] of this.pending) {
      if (until > quietUntil) continue;
      batch.push(...group);
      this.pending.delete(until);
      const gather = this.gatherTimers.get(until);
      if (gather !== undefined) {
        this.timers.clearTimeout(gather);
        this.gatherTimers.delete(until);
      }
    }
    if (!batch.length) return;
    this.size -= batch.length;
    if (!this.pending.has(-Infinity)) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    void this.send(batch);
  }

  /** The quiet timer: once nothing joined for `quietMs`, sends what waits for it, else waits out the rest. */
  private readonly expire = (): void => {
    this.timer = undefined;
    const quietFor = Date.now() - this.lastJoin;
    if (quietFor < this.quietMs) this.timer = setTimeout(this.expire, this.quietMs - quietFor);
    else this.flush(-Infinity);
  };

  private async send(batch: Pending[]): Promise<void> {
    let answers: Map<string, Map<string, Measurement>>;
    try {
      answers = await this.provider.measure(batch.map((p) => p.request));
    } catch (err) {
      // a provider must not throw; if one does, every metric of the batch is an Error, which holds
      const failed: Measurement = {
        kind: 'error',
        error: { code: 'Unreachable', message: (err as Error).message, retryable: true },
      };
      answers = new Map(
        batch.map((p) => [p.request.key, new Map(p.request.metrics.map((m) => [m.name, failed]))]),
      );
    }
    for (const { request, resolve } of batch)
      resolve(answers.get(request.key) ?? new Map<string, Measurement>());
  }
}
