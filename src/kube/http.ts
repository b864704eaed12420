import { createHash } from 'node:crypto';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { linkSignals, sharedAbortController } from '../lib/signals.js';
import { KubeError, kubeErrorFromStatus, type KubeErrorCode } from './errors.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** An API path such as `/apis/apps/v1/namespaces/shop/deployments/web`. */
  path: string;
  query?: Query;
  body?: unknown;
  /** Defaults to application/json; patches name their flavour here. */
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** One line of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

/** Told of every call but watches, once it has ended: `ok`, or the KubeError code it failed with. */
export type KubeCallObserver = (call: {
  method: KubeCall['method'];
  result: 'ok' | KubeErrorCode;
  seconds: number;
}) => void;

export interface WatchOptions {
  signal: AbortSignal;
  /** A stream that delivers nothing, not even a bookmark, for this long is given up. */
  stallMs: number;
}

/**
 * JSON over HTTPS to the API server, authenticated from a client-node KubeConfig (tokens, client
 * certificates, exec plugins, in-cluster token files). Plain objects in and out: client-node's typed
 * clients round-trip bodies through model classes and its Watch gives up on any stream quiet for 30 s,
 * shorter than the API server's one-minute bookmarks. Every call has a timeout; `stop()` cancels all.
 */
export class KubeHttp {
  private readonly stopping = sharedAbortController();
  /** The connection pool, and the TLS material it was made for. */
  private pool: { key: string; agent: HttpAgent } | undefined;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly defaultTimeoutMs: number,
    private readonly onCall?: KubeCallObserver,
  ) {}

  /** One call; a non-2xx answer or a failed connection becomes a KubeError. */
  async request<T>(call: KubeCall): Promise<T> {
    const started = performance.now();
    const observe = (result: 'ok' | KubeErrorCode) =>
      this.onCall?.({ method: call.method, result, seconds: (performance.now() - started) / 1000 });
    try {
      const value = await this.send<T>(call);
      observe('ok');
      return value;
    } catch (error) {
      observe(error instanceof KubeError ? error.code : 'Unavailable');
      throw error;
    }
  }

  private async send<T>(call: KubeCall): Promise<T> {
    const timeoutMs = Math.ceil(call.timeoutMs ?? this.defaultTimeoutMs);
    const deadline = linkSignals([this.stopping.signal, call.signal], timeoutMs);
    const signal = deadline.signal;
    const what = `${call.method} ${call.path}`;
    try {
      const response = await this.open(call, signal);
      const text = await readBody(response);
      const status = response.statusCode ?? 0;
      if (status < 200 || status > 299) throw errorFromResponse(what, status, text);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch (error) {
      if (error instanceof KubeError) throw error;
      if (deadline.timedOut)
        throw new KubeError('Timeout', `${what} timed out after ${timeoutMs} ms`, undefined, {
          cause: error,
        });
      // The caller's own deadline (a signal from AbortSignal.timeout) is a timeout too.
      if ((signal.reason as { name?: unknown } | undefined)?.name === 'TimeoutError')
        throw new KubeError('Timeout', `${what} ran out of time`, undefined, { cause: error });
      throw connectionError(what, error, signal);
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Streams a watch until the server ends it (resolves), or it fails, stalls or is aborted (rejects).
   * `onEvent` runs for every line, bookmarks included.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent) => void,
    options: WatchOptions,
  ): Promise<void> {
    const what = `watch ${path}`;
    const stalled = new AbortController();
    const linked = linkSignals([options.signal, stalled.signal, this.stopping.signal]);
    const signal = linked.signal;
    let timer: NodeJS.Timeout | undefined;
    let quietLimitMs = 0;
    const quietFor = (ms: number): void => {
      clearTimeout(timer);
      quietLimitMs = ms;
      timer = setTimeout(() => {
        stalled.abort();
      }, ms);
    };
    quietFor(Math.min(options.stallMs, this.defaultTimeoutMs));
    try {
      const response = await this.open({ method: 'GET', path, query: { ...query, watch: true } }, signal);
      const status = response.statusCode ?? 0;
      if (status !== 200) throw errorFromResponse(what, status, await readBody(response));
      quietFor(options.stallMs);
      await new Promise<void>((resolve, reject) => {
        let pending = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          quietFor(options.stallMs);
          pending += chunk;
          let newline = pending.indexOf('\n');
          try {
            while (newline >= 0) {
              const line = pending.slice(0, newline).trim();
              pending = pending.slice(newline + 1);
              if (line !== '') onEvent(JSON.parse(line) as WatchEvent);
              newline = pending.indexOf('\n');
            }
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
            response.destroy();
          }
        });
        response.on('end', resolve);
        response.on('error', reject);
        response.on('close', () => {
          if (!response.complete) reject(new Error('the connection closed in the middle of the stream'));
        });
      });
    } catch (error) {
      if (error instanceof KubeError) throw error;
      if (stalled.signal.aborted)
        throw new KubeError('Timeout', `${what} delivered nothing for ${quietLimitMs} ms`, undefined, {
          cause: error,
        });
      throw connectionError(what, error, signal);
    } finally {
      clearTimeout(timer);
      linked.dispose();
    }
  }

  /** Cancels every call in flight and every later one. */
  stop(): void {
    this.stopping.abort();
    this.pool?.agent.destroy();
  }

  /**
   * One keep-alive agent for every call, made again only when the TLS material changes (a rotated
   * client certificate or CA). client-node's applyToHTTPSOptions builds a new agent per call, and
   * so a TLS handshake per request: a quarter of the controller's CPU at 2,000 releases, and as much
   * again in the API server. A proxy's agent is client-node's own, as it built it.
   */
  private agentFor(options: RequestOptions, url: URL): HttpAgent | undefined {
    if (this.kubeConfig.getCurrentCluster()?.proxyUrl) return options.agent as HttpAgent | undefined;
    const hash = createHash('sha256').update(
      JSON.stringify([url.protocol, url.host, options.rejectUnauthorized, options.servername]),
    );
    for (const part of [options.ca, options.cert, options.key, options.pfx, options.passphrase]) {
      hash.update('\0');
      if (typeof part === 'string' || Buffer.isBuffer(part)) hash.update(part);
      else if (part !== undefined) hash.update(JSON.stringify(part));
    }
    const key = hash.digest('hex');
    if (this.pool?.key === key) return this.pool.agent;
    this.pool?.agent.destroy();
    const agent =
      url.protocol === 'http:'
        ? new HttpAgent({ keepAlive: true })
        : new HttpsAgent({
            keepAlive: true,
            ...(options.ca !== undefined ? { ca: options.ca } : {}),
            ...(options.cert !== undefined ? { cert: options.cert } : {}),
            ...(options.key !== undefined ? { key: options.key } : {}),
            ...(options.pfx !== undefined ? { pfx: options.pfx } : {}),
            ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
            ...(options.rejectUnauthorized !== undefined
              ? { rejectUnauthorized: options.rejectUnauthorized }
              : {}),
            ...(options.servername !== undefined ? { servername: options.servername } : {}),
          });
    this.pool = { key, agent };
    return agent;
  }

  private async open(call: KubeCall, signal: AbortSignal): Promise<IncomingMessage> {
    const server = this.kubeConfig.getCurrentCluster()?.server;
    if (server === undefined)
      throw new KubeError(
        'Invalid',
        'the kubeconfig has no current cluster: set current-context or pass --context',
      );
    // The server URL may carry a path prefix (API proxies such as Rancher's), so append rather than resolve.
    const url = new URL(server.replace(/\/+$/, '') + call.path);
    for (const [key, value] of Object.entries(call.query ?? {}))
      if (value !== undefined) url.searchParams.set(key, String(value));
    const options: RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(options);
    const agent = this.agentFor(options, url);
    const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
    const headers: OutgoingHttpHeaders = {
      ...(options.headers as OutgoingHttpHeaders | undefined),
      Accept: 'application/json',
      ...(payload === undefined
        ? {}
        : {
            'Content-Type': call.contentType ?? 'application/json',
            'Content-Length': Buffer.byteLength(payload),
          }),
    };
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { ...options, agent, method: call.method, headers, signal }, resolve);
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    response.on('error', reject);
  });
}

/** The API server answers errors with a Status object whose message says what went wrong. */
function errorFromResponse(what: string, status: number, text: string): KubeError {
  let message = text.trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON (a proxy's error page): the raw text is the best explanation there is
  }
  return kubeErrorFromStatus(status, `${what}: HTTP ${status}: ${message || '(no message)'}`, text);
}

function connectionError(what: string, error: unknown, signal: AbortSignal): KubeError {
  const reason = signal.aborted ? 'cancelled' : error instanceof Error ? error.message : String(error);
  return new KubeError('Unavailable', `${what} failed: ${reason}`, undefined, { cause: error });
}
