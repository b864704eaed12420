import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { z } from 'zod';
import { LIMITS, truncate } from '../api/limits.js';
import { linkSignals } from '../lib/signals.js';
import { MetricsBackendError, type MetricsErrorCode } from './errors.js';

/** How to reach a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, Cortex). */
export interface PrometheusConnection {
  /** Base URL; a path prefix is kept, e.g. http://mimir/prometheus. */
  address: string;
  /** Budget of one call, retries included; the call fails with Timeout when it runs out. */
  timeoutMs?: number;
  /** Extra attempts after a network error or a 5xx answer; 4xx answers are never retried. */
  retries?: number;
  /** Wait before the first retry; doubles on each further one. */
  retryBackoffMs?: number;
  bearerToken?: string;
  /** Read on every call and re-read when the file changes, so a rotated token is picked up. */
  bearerTokenFile?: string;
  basicAuth?: { username: string; password: string };
  /** Sent with every request, e.g. `X-Scope-OrgID` for a Mimir, Cortex or Thanos tenant. */
  headers?: Record<string, string>;
  /** PEM file of the CA that signed the server's certificate. */
  caFile?: string;
  /** Told of every query once it has ended, retries included, for the controller's metrics. */
  onQuery?: PrometheusQueryObserver;
}

/** One query's endpoint (`query`, `query_range`), `ok` or the MetricsBackendError code, and its duration. */
export type PrometheusQueryObserver = (query: {
  endpoint: string;
  result: 'ok' | MetricsErrorCode;
  seconds: number;
}) => void;

export const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETRIES = 2;
const DEFAULT_BACKOFF_MS = 250;

export type Labels = Record<string, string>;
export interface InstantSample {
  labels: Labels;
  value: number;
}
export interface RangeSeries {
  labels: Labels;
  points: { time: number; value: number }[];
}

export type QueryResult =
  | { type: 'vector'; samples: InstantSample[] }
  | { type: 'scalar'; value: number }
  | { type: 'matrix'; series: RangeSeries[] }
  | { type: 'string'; value: string };

export interface QueryRange {
  start: Date;
  end: Date;
  stepSeconds: number;
}

/** The port the metrics code talks to; the adapter below speaks Prometheus' HTTP API. */
export interface PrometheusApi {
  query(expr: string, time: Date, signal?: AbortSignal): Promise<QueryResult>;
  queryRange(expr: string, range: QueryRange, signal?: AbortSignal): Promise<RangeSeries[]>;
}

const pair = z.tuple([z.number(), z.string()]);
const labels = z.record(z.string(), z.string());
const resultData = z.discriminatedUnion('resultType', [
  z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: labels, value: pair })) }),
  z.object({ resultType: z.literal('scalar'), result: pair }),
  z.object({ resultType: z.literal('string'), result: pair }),
  z.object({
    resultType: z.literal('matrix'),
    result: z.array(z.object({ metric: labels, values: z.array(pair) })),
  }),
]);
const successBody = z.object({ status: z.literal('success'), data: resultData });
const errorBody = z.object({
  status: z.literal('error'),
  errorType: z.string().optional(),
  error: z.string(),
});

/** Prometheus writes special floats as strings that `Number` does not read (`+Inf`). */
export function parseSampleValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

export class PrometheusClient implements PrometheusApi {
  private readonly http: AxiosInstance;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly tokenFile: TokenFile | undefined;

  constructor(private readonly connection: PrometheusConnection) {
    this.timeoutMs = connection.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retries = connection.retries ?? DEFAULT_RETRIES;
    this.backoffMs = connection.retryBackoffMs ?? DEFAULT_BACKOFF_MS;
    this.tokenFile = connection.bearerTokenFile ? new TokenFile(connection.bearerTokenFile) : undefined;
    this.http = axios.create({
      baseURL: connection.address.endsWith('/') ? connection.address : `${connection.address}/`,
      adapter: 'http',
      proxy: false,
      httpAgent: new http.Agent({ keepAlive: true }),
      httpsAgent: new https.Agent({
        keepAlive: true,
        ...(connection.caFile ? { ca: readFileSync(connection.caFile) } : {}),
      }),
      ...(connection.basicAuth ? { auth: connection.basicAuth } : {}),
      // Status codes and bodies are classified below, not by axios.
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
    });
  }

  async query(expr: string, time: Date, signal?: AbortSignal): Promise<QueryResult> {
    const data = await this.call('api/v1/query', { query: expr, time: seconds(time) }, signal);
    switch (data.resultType) {
      case 'vector':
        return {
          type: 'vector',
          samples: data.result.map((s) => ({ labels: s.metric, value: parseSampleValue(s.value[1]) })),
        };
      case 'scalar':
        return { type: 'scalar', value: parseSampleValue(data.result[1]) };
      case 'string':
        return { type: 'string', value: data.result[1] };
      case 'matrix':
        return { type: 'matrix', series: toSeries(data.result) };
    }
  }

  async queryRange(expr: string, range: QueryRange, signal?: AbortSignal): Promise<RangeSeries[]> {
    const data = await this.call(
      'api/v1/query_range',
      { query: expr, start: seconds(range.start), end: seconds(range.end), step: String(range.stepSeconds) },
      signal,
    );
    if (data.resultType !== 'matrix') {
      throw new MetricsBackendError(
        'Malformed',
        `a range query answered a ${data.resultType}, not a matrix`,
        {
          retryable: false,
        },
      );
    }
    return toSeries(data.result);
  }

  private async call(
    path: string,
    params: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<z.infer<typeof resultData>> {
    const started = performance.now();
    const observe = (result: 'ok' | MetricsErrorCode) =>
      this.connection.onQuery?.({
        endpoint: path.slice(path.lastIndexOf('/') + 1),
        result,
        seconds: (performance.now() - started) / 1000,
      });
    try {
      const data = await this.attempts(path, params, signal);
      observe('ok');
      return data;
    } catch (err) {
      observe(err instanceof MetricsBackendError ? err.code : 'Unreachable');
      throw err;
    }
  }

  private async attempts(
    path: string,
    params: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<z.infer<typeof resultData>> {
    const deadline = Date.now() + this.timeoutMs;
    const url = new URL(path, this.http.defaults.baseURL).toString();
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw timedOut(url, this.timeoutMs);
      const attemptDeadline = linkSignals([signal], remaining);
      const attemptSignal = attemptDeadline.signal;
      // Prometheus stops evaluating when our budget is spent instead of finishing for nobody.
      const body = new URLSearchParams({
        ...params,
        timeout: `${Math.max(1, Math.floor(remaining / 1000))}s`,
      });
      let outcome: Classified;
      try {
        const response = await this.http.post<string>(path, body, {
          signal: attemptSignal,
          headers: await this.authHeaders(),
        });
        outcome = classifyResponse(response, url);
      } catch (err) {
        if (err instanceof MetricsBackendError) throw err;
        if (signal?.aborted) {
          throw new MetricsBackendError('Timeout', `query to ${url} was cancelled by the caller`, {
            retryable: true,
            cause: err,
          });
        }
        if (attemptSignal.aborted) throw timedOut(url, this.timeoutMs, err);
        outcome = classifyNetworkError(err, url);
      } finally {
        attemptDeadline.dispose();
      }
      if (outcome.ok) return outcome.data;
      const wait = this.backoffMs * 2 ** attempt;
      // Without time for another attempt, the failure itself says more than "timed out".
      if (!outcome.retry || attempt >= this.retries || Date.now() + wait >= deadline) throw outcome.error;
      await sleep(wait, signal);
    }
  }

  private async authHeaders(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { ...this.connection.headers };
    const token = this.tokenFile ? await this.tokenFile.read() : this.connection.bearerToken;
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }
}

type Classified =
  { ok: true; data: z.infer<typeof resultData> } | { ok: false; retry: boolean; error: MetricsBackendError };

function classifyResponse(response: AxiosResponse<string>, url: string): Classified {
  const { status } = response;
  const parsed = parseJson(response.data);
  const promError = errorBody.safeParse(parsed);
  // Prometheus may quote the query back: the message goes into a status, so it stays short
  const detail = promError.success
    ? truncate(
        `${promError.data.errorType ? `${promError.data.errorType}: ` : ''}${promError.data.error}`,
        LIMITS.issue,
      )
    : snippet(response.data);
  if (status >= 200 && status < 300) {
    const body = successBody.safeParse(parsed);
    if (body.success) return { ok: true, data: body.data.data };
    return {
      ok: false,
      retry: false,
      error: new MetricsBackendError(
        'Malformed',
        `${url} answered HTTP ${status} with a body that is not a Prometheus query result (${snippet(response.data)}); is the address a Prometheus API?`,
        { retryable: false, status },
      ),
    };
  }
  if (status === 400 || status === 422) {
    return {
      ok: false,
      retry: false,
      error: new MetricsBackendError('BadQuery', `Prometheus rejected the query: ${detail}`, {
        retryable: false,
        status,
      }),
    };
  }
  if (status === 401 || status === 403) {
    return {
      ok: false,
      retry: false,
      error: new MetricsBackendError(
        'Unreachable',
        `${url} refused the credentials (HTTP ${status}: ${detail}); check the bearer token, basic auth or tenant header`,
        { retryable: true, status },
      ),
    };
  }
  if (status === 404) {
    return {
      ok: false,
      retry: false,
      error: new MetricsBackendError(
        'Unreachable',
        `${url} was not found (HTTP 404); check the address, including any path prefix such as /prometheus`,
        { retryable: false, status },
      ),
    };
  }
  if (status < 500) {
    return {
      ok: false,
      retry: false,
      error: new MetricsBackendError('Unreachable', `${url} answered HTTP ${status}: ${detail}`, {
        retryable: true,
        status,
      }),
    };
  }
  const timeout = promError.success && promError.data.errorType === 'timeout';
  return {
    ok: false,
    retry: true,
    error: new MetricsBackendError(
      timeout ? 'Timeout' : 'Unreachable',
      `${url} answered HTTP ${status}: ${detail}`,
      {
        retryable: true,
        status,
      },
    ),
  };
}

const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/;

function classifyNetworkError(err: unknown, url: string): Classified {
  const code = axios.isAxiosError(err) ? err.code : undefined;
  const reason = err instanceof Error ? err.message : String(err);
  if (code && TLS_ERROR.test(code)) {
    return {
      ok: false,
      retry: false,
      error: new MetricsBackendError(
        'Unreachable',
        `TLS to ${url} failed (${code}: ${reason}); set caFile to the CA that signed Prometheus' certificate`,
        { retryable: false, cause: err },
      ),
    };
  }
  return {
    ok: false,
    retry: true,
    error: new MetricsBackendError('Unreachable', `cannot reach ${url}: ${code ? `${code} ` : ''}${reason}`, {
      retryable: true,
      cause: err,
    }),
  };
}

function timedOut(url: string, timeoutMs: number, cause?: unknown): MetricsBackendError {
  return new MetricsBackendError('Timeout', `no answer from ${url} within ${timeoutMs} ms`, {
    retryable: true,
    cause,
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}...` : flat || '(empty)';
}

function seconds(time: Date): string {
  return (time.getTime() / 1000).toFixed(3);
}

function toSeries(result: { metric: Labels; values: [number, string][] }[]): RangeSeries[] {
  return result.map((s) => ({
    labels: s.metric,
    points: s.values.map(([time, value]) => ({ time: time * 1000, value: parseSampleValue(value) })),
  }));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** A token file that Kubernetes rotates by swapping a symlink: re-read when inode, size or mtime move. */
class TokenFile {
  private cached: { version: string; token: string } | undefined;

  constructor(private readonly path: string) {}

  async read(): Promise<string> {
    try {
      const info = await stat(this.path);
      const version = `${info.ino}:${info.size}:${info.mtimeMs}`;
      if (this.cached?.version !== version) {
        this.cached = { version, token: (await readFile(this.path, 'utf8')).trim() };
      }
      return this.cached.token;
    } catch (err) {
      throw new MetricsBackendError(
        'Unreachable',
        `cannot read the bearer token file ${this.path}: ${(err as Error).message}`,
        { retryable: true, cause: err },
      );
    }
  }
}
