import { linkSignals } from '../lib/signals.js';
import type { Logger } from '../telemetry/logger.js';
import type { SinkSettings } from './registry.js';
import { severityRank, type Notification, type Notifier } from './types.js';

/** What became of one notification at one sink; the `outcome` label of canaria_notifications_total. */
export const OUTCOMES = [
  'sent',
  /** Every attempt failed (network, timeout, 5xx, 429). */
  'failed',
  /** The receiver answered 4xx other than 408/429: retrying would not help (a revoked webhook). */
  'rejected',
  /** The queue was full: the oldest waiting notification made room for the new one. */
  'dropped',
  /** The same release, reason and message within the sink's dedup window. */
  'deduplicated',
  /** Below the sink's severity. */
  'filtered',
  /** The sink's URL could not be read (file or Secret missing, empty). */
  'unconfigured',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface DeliveryHooks {
  outcome(sink: string, outcome: Outcome): void;
  retry(sink: string): void;
  queueDepth(sink: string, depth: number): void;
  /** Seconds of one attempt, answered or not. */
  attempt(sink: string, seconds: number): void;
}

export interface DeliveryTarget {
  /** The sink's name in logs and metrics. */
  sink: string;
  notifier: Notifier;
  settings: SinkSettings;
  /** Read at every attempt, so a rotated Secret takes effect without a restart. */
  url: (signal: AbortSignal) => Promise<string | undefined>;
}

export interface DeliveryOptions {
  logger: Logger;
  hooks?: Partial<DeliveryHooks>;
  /** First retry's backoff ceiling, doubled each attempt up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** [0, 1); full jitter spreads the retries of many sinks that failed together. */
  random?: () => number;
  now?: () => number;
}

/** Thrown by an attempt; `retryable` says whether another attempt may succeed. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeliveryError';
  }
}

/** A token bucket: `burst` tokens, refilled at `perMinute`; `wait` says how long until one is free. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Takes a token and returns 0, or returns the milliseconds until one is available. */
  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perMinute) / 60_000);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute);
  }
}

/** Full jitter backoff: a random delay below min(cap, base x 2^retry). */
export const backoffDelay = (retry: number, baseMs: number, capMs: number, random: number): number =>
  Math.floor(random * Math.min(capMs, baseMs * 2 ** retry));

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * One sink's delivery: a bounded queue drained by one loop that sends one notification at a time,
 * rate limited, retried with jittered exponential backoff. `offer` only enqueues and returns at once,
 * so a slow or dead receiver costs the reconciler nothing; when the queue is full the oldest
 * notification is dropped (and counted), since the newest says where the release is now.
 */
export class SinkDelivery {
  private readonly queue: Notification[] = [];
  private readonly seen = new Map<string, number>();
  private readonly bucket: TokenBucket;
  private readonly stopper = new AbortController();
  private running: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(
    readonly target: DeliveryTarget,
    private readonly options: DeliveryOptions,
  ) {
    this.now = options.now ?? Date.now;
    const { perMinute, burst } = target.settings.rateLimit;
    this.bucket = new TokenBucket(perMinute, burst, this.now());
  }

  get depth(): number {
    return this.queue.length;
  }

  /** Enqueues `n` unless this sink filters or already sent it; never blocks, never throws. */
  offer(n: Notification): void {
    const { sink, settings } = this.target;
    if (this.stopper.signal.aborted) return;
    if (severityRank(n.severity) < severityRank(settings.severity)) {
      this.count('filtered');
      return;
    }
    const key = `${n.release.namespace}/${n.release.name}\n${n.reason}\n${n.message}`;
    const now = this.now();
    const last = this.seen.get(key);
    if (last !== undefined && now - last < settings.dedupSeconds * 1000) {
      this.count('deduplicated');
      return;
    }
    this.seen.set(key, now);
    this.forget(now);
    if (this.queue.length >= settings.queueSize) {
      this.queue.shift();
      this.count('dropped');
    }
    this.queue.push(n);
    this.options.hooks?.queueDepth?.(sink, this.queue.length);
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  /** Stops at once: the attempt under way is aborted, what waits is dropped. */
  async close(): Promise<void> {
    this.stopper.abort();
    await this.running;
  }

  /** Resolves when the queue is empty (tests, shutdown with a budget). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private count(outcome: Outcome): void {
    this.options.hooks?.outcome?.(this.target.sink, outcome);
  }

  /** Dedup memory is bounded by the window: older keys cannot match again. */
  private forget(now: number): void {
    if (this.seen.size < 1000) return;
    for (const [key, at] of this.seen) {
      if (now - at >= this.target.settings.dedupSeconds * 1000) this.seen.delete(key);
    }
  }

  private async drain(): Promise<void> {
    const signal = this.stopper.signal;
    while (this.queue.length && !signal.aborted) {
      const wait = this.bucket.take(this.now());
      if (wait > 0) {
        await sleep(wait, signal);
        continue;
      }
      const n = this.queue.shift() as Notification;
      this.options.hooks?.queueDepth?.(this.target.sink, this.queue.length);
      this.count(await this.deliver(n, signal));
    }
  }

  private async deliver(n: Notification, signal: AbortSignal): Promise<Outcome> {
    const { sink, notifier, settings } = this.target;
    const log = this.options.logger.child({ sink, notification: n.id });
    const base = this.options.backoffMs ?? 1_000;
    const cap = this.options.maxBackoffMs ?? 60_000;
    const random = this.options.random ?? Math.random;
    let url: string | undefined;
    try {
      url = await this.target.url(signal);
    } catch (err) {
      log.warn({ err }, 'cannot read the sink URL');
    }
    if (!url) return 'unconfigured';
    const request = notifier.render(n);
    const body = JSON.stringify(request.body);
    for (let attempt = 0; attempt < settings.attempts; attempt++) {
      if (signal.aborted) return 'failed';
      if (attempt > 0) {
        this.options.hooks?.retry?.(sink);
        await sleep(backoffDelay(attempt - 1, base, cap, random()), signal);
      }
      const started = this.now();
      const deadline = linkSignals([signal], settings.timeoutSeconds * 1000);
      try {
        await post(url, body, request.headers, deadline.signal);
        this.options.hooks?.attempt?.(sink, (this.now() - started) / 1000);
        log.debug({ attempt: attempt + 1 }, 'sent the notification');
        return 'sent';
      } catch (err) {
        this.options.hooks?.attempt?.(sink, (this.now() - started) / 1000);
        const retryable = !(err instanceof DeliveryError) || err.retryable;
        log.warn(
          { attempt: attempt + 1, attempts: settings.attempts, err: (err as Error).message },
          retryable
            ? 'the sink did not take the notification; retrying'
            : 'the sink refused the notification',
        );
        if (!retryable) return 'rejected';
      } finally {
        deadline.dispose();
      }
    }
    log.error({ attempts: settings.attempts }, 'gave up on the notification');
    return 'failed';
  }
}

/**
 * POSTs one notification. Redirects are refused: a sink's URL is a credential the operator or the
 * release's namespace chose, and a redirect would carry the message to an address nobody vetted.
 */
async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', body, headers, signal, redirect: 'error' });
  } catch (err) {
    throw new DeliveryError(`cannot reach the sink: ${(err as Error).message}`, true, { cause: err });
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return;
  const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
  // the body's first bytes say why (Slack: invalid_blocks, no_service); the URL stays out of logs
  throw new DeliveryError(`HTTP ${response.status}: ${text.slice(0, 200)}`, retryable);
}
