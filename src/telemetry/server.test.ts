import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from './logger.js';
import { ControllerMetrics } from './metrics.js';
import { startTelemetryServer, type TelemetryServer } from './server.js';

let server: TelemetryServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('telemetry server', () => {
  it('serves /metrics, /healthz, and /readyz once ready', async () => {
    let ready = false;
    const metrics = new ControllerMetrics();
    metrics.releaseWeight.set({ namespace: 'default', name: 'reviews' }, 20);
    server = await startTelemetryServer({
      port: 0,
      host: '127.0.0.1',
      metrics,
      ready: () => ready,
      logger: silentLogger(),
    });
    const get = (path: string) => fetch(`http://127.0.0.1:${server?.port ?? 0}${path}`);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    const body = await (await get('/metrics')).text();
    expect(body).toContain('canaria_release_weight{namespace="default",name="reviews"} 20');
    expect(body).toContain('# TYPE canaria_reconcile_duration_seconds histogram');
    expect((await get('/nope')).status).toBe(404);
  });
});
