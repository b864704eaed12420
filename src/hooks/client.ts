import { parseDuration } from '../api/duration.js';
import { displayUrl, type HookCall, type Webhook } from '../api/webhooks.js';
import type { HookPayload } from './payload.js';

/** What status keeps of a failed answer's body: enough for an error message, never a whole page. */
export const BODY_BYTES = 256;
/** All attempts of one hook together, whatever its timeout and retries: a reconcile waits for them. */
export const DEFAULT_BUDGET_MS = 30_000;

/** Why a call failed; `retryable` says whether another attempt may succeed. */
export class HookError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly details: { statusCode?: number; body?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HookError';
  }
}

export interface CallOptions {
  /** Headers from the hook's Secret. */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** The first retry waits up to this, doubled each retry up to 2 s (full jitter). */
  backoffMs?: number;
  budgetMs?: number;
}

const sleeper = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** Reads at most BODY_BYTES of a body and drops the rest, so a huge answer costs nothing. */
async function firstBytes(response: Response): Promise<string> {
  const reader = response.body?.getReader() as ReadableStreamDefaultReader<Uint8Array> | undefined;
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).subarray(0, BODY_BYTES).toString('utf8');
  return text.replace(/\s+/g, ' ').trim();
}

/** One POST; resolves with the status code on 2xx, throws a HookError otherwise. */
async function attempt(
  hook: Webhook,
  body: string,
  timeoutMs: number,
  options: CallOptions,
): Promise<number> {
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(hook.url, {
      method: 'POST',
      headers: { ...(options.headers ?? {}), 'content-type': 'application/json', 'user-agent': 'canaria' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
  } catch (err) {
    const name = (err as { name?: string }).name;
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = timedOut
      ? `timed out after ${Math.round(timeoutMs / 100) / 10}s`
      : `could not connect: ${cause?.code ?? cause?.message ?? (err as Error).message}`;
    throw new HookError(why, true, {}, { cause: err });
  }
  if (response.status >= 200 && response.status < 300) {
    await response.body?.cancel().catch(() => undefined);
    return response.status;
  }
  const text = await firstBytes(response);
  // a 4xx says the receiver refused (a closed gate answers 403): asking again at once changes nothing
  const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
  throw new HookError(`HTTP ${response.status}`, retryable, {
    statusCode: response.status,
    ...(text ? { body: text } : {}),
  });
}

/**
 * Calls a hook: POSTs the payload, retries a retryable failure `hook.retries` times with backoff,
 * and tells what came of it as status keeps it (the URL without its query string). Never throws.
 */
export async function callHook(
  hook: Webhook,
  gate: string,
  payload: HookPayload,
  options: CallOptions = {},
): Promise<HookCall> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? sleeper;
  const random = options.random ?? Math.random;
  const budget = options.budgetMs ?? DEFAULT_BUDGET_MS;
  const timeout = parseDuration(hook.timeout) ?? 10_000;
  const started = now();
  const body = JSON.stringify(payload);
  const base = { name: hook.name, type: hook.type, url: displayUrl(hook.url), gate };
  let attempts = 0;
  let last: HookError | undefined;
  for (let i = 0; i <= hook.retries; i++) {
    const left = budget - (now() - started);
    if (left <= 0) break;
    if (i > 0) {
      const backoff = Math.min(2_000, (options.backoffMs ?? 250) * 2 ** (i - 1)) * random();
      if (backoff >= left) break;
      await sleep(backoff);
    }
    attempts++;
    try {
      const statusCode = await attempt(hook, body, Math.min(timeout, budget - (now() - started)), options);
      return {
        ...base,
        ok: true,
        statusCode,
        durationMs: now() - started,
        attempts,
        time: new Date(now()).toISOString(),
      };
    } catch (err) {
      last =
        err instanceof HookError ? err : new HookError((err as Error).message, false, {}, { cause: err });
      if (!last.retryable) break;
    }
  }
  return {
    ...base,
    ok: false,
    ...(last?.details.statusCode !== undefined ? { statusCode: last.details.statusCode } : {}),
    ...(last?.details.body ? { body: last.details.body } : {}),
    ...(last && last.details.statusCode === undefined ? { error: last.message } : {}),
    ...(last ? {} : { error: 'no attempt fitted in the time budget' }),
    durationMs: now() - started,
    attempts,
    time: new Date(now()).toISOString(),
  };
}
