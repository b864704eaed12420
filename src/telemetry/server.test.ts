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
    metrics.observe('default', 'reviews', undefined, { phase: 'Progressing', canaryWeight: 20 });
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

  it('streams a large exposition while the event loop keeps turning, the body what prom-client renders', async () => {
    const metrics = new ControllerMetrics();
    for (let i = 0; i < 3000; i++)
      metrics.observe(`ns-${i % 30}`, `svc-${i}`, undefined, { phase: 'Progressing', canaryWeight: 10 });
    server = await startTelemetryServer({
      port: 0,
      host: '127.0.0.1',
      metrics,
      ready: () => true,
      logger: silentLogger(),
    });
    const url = `http://127.0.0.1:${server.port}/metrics`;
    await (await fetch(url)).text();
    let turns = 0;
    let scraping = true;
    const turn = () => {
      turns += 1;
      if (scraping) setImmediate(turn);
    };
    setImmediate(turn);
    const response = await fetch(url);
    const body = await response.text();
    scraping = false;
    expect(response.headers.get('content-type')).toBe(metrics.registry.contentType);
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    expect(body).toBe(await metrics.registry.metrics());
    // 3000 releases are some 24,000 lines, rendered 1000 at a time at most
    expect(turns).toBeGreaterThan(20);
  });
});
