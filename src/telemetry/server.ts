import { once } from 'node:events';
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import type { ControllerMetrics } from './metrics.js';

export interface TelemetryServer {
  port: number;
  close(): Promise<void>;
}

/**
 * /metrics for Prometheus, /healthz for liveness (the process is serving), /readyz for readiness
 * (the caches have synced, so decisions read a complete picture).
 */
export async function startTelemetryServer(options: {
  port: number;
  host?: string;
  metrics: ControllerMetrics;
  ready: () => boolean;
  logger: Logger;
}): Promise<TelemetryServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      serveMetrics(options.metrics, res).catch((err: unknown) => {
        options.logger.error({ err }, 'could not render metrics');
        // once the first slice went out, the status is sent: cutting the body short fails the scrape
        if (res.headersSent) res.destroy();
        else res.writeHead(500).end();
      });
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const ready = options.ready();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ok\n' : 'caches not synced\n');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/**
 * Streams the exposition slice by slice as it is rendered (chunked), so that neither the render nor
 * the whole body holds the event loop or the heap; a slow reader slows the render down.
 */
async function serveMetrics(metrics: ControllerMetrics, res: ServerResponse): Promise<void> {
  for await (const slice of metrics.exposition()) {
    if (res.destroyed) return;
    if (!res.headersSent) res.writeHead(200, { 'content-type': metrics.registry.contentType });
    if (!res.write(slice)) await drained(res);
  }
  res.end();
}

/** Waits until `res` takes more, or is gone; the listener that did not fire goes with the other. */
async function drained(res: ServerResponse): Promise<void> {
  const done = new AbortController();
  try {
    await Promise.race([
      once(res, 'drain', { signal: done.signal }),
      once(res, 'close', { signal: done.signal }),
    ]);
  } finally {
    done.abort();
  }
}
