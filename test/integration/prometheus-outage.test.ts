/**
 * A metrics backend that stops answering is an Error within the configured timeout, never a Fail:
 * the engine holds on Error, so an outage cannot roll back a good canary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeMetric } from '../../src/analysis/judges.js';
import { PrometheusClient } from '../../src/metrics/prometheus-client.js';
import { PrometheusProvider } from '../../src/metrics/prometheus-provider.js';
import type { MeasurementRequest } from '../../src/metrics/provider.js';
import { startMeshEmitter, type MeshEmitter } from '../harness/mesh-emitter.js';
import { metric, release } from '../harness/metrics-fixtures.js';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus.js';
import { aSpec, errorRatioAnalysis } from '../builders/release.js';
import { World } from '../builders/world.js';

const TIMEOUT_MS = 2000;
// Scheduling slack on a busy 2-core machine, on top of the configured budget.
const SLACK_MS = 500;

let mesh: MeshEmitter;
let prometheus: PrometheusServer;
const cleanups: (() => Promise<void>)[] = [];
let provider: PrometheusProvider;
let request: () => MeasurementRequest;
const errorRatio = metric({ name: 'error-ratio', type: 'errorRatio', minSamples: 10 });
const custom = metric({ name: 'custom', type: 'promql', query: 'sum(up)' });

beforeAll(async () => {
  mesh = await startMeshEmitter();
  cleanups.push(() => mesh.close());
  prometheus = await startPrometheus({ targets: [mesh.target] });
  cleanups.push(() => prometheus.stop());
  provider = new PrometheusProvider(
    new PrometheusClient({ address: prometheus.url, timeoutMs: TIMEOUT_MS }),
    {
      windowGranularityMs: 1000,
    },
  );
  const workloads = ['v1', 'v2'].map((version) => ({ namespace: 'outage', service: 'cart', version }));
  const windowStart = new Date();
  for (const w of workloads) mesh.declare(w);
  await prometheus.waitForScrape(windowStart.getTime() + 1100);
  for (const w of workloads) mesh.inject({ ...w, requests: 100 });
  await prometheus.waitForScrape();
  request = () =>
    release({
      namespace: 'outage',
      name: 'cart',
      windowStart,
      now: new Date(),
      metrics: [errorRatio, custom],
    });
});
afterAll(async () => {
  // Only what started: a failed start must report its own error, not a crash here.
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function timed(): Promise<{
  elapsed: number;
  measured: Awaited<ReturnType<PrometheusProvider['measure']>>;
}> {
  const started = Date.now();
  const measured = await provider.measure([request()]);
  return { elapsed: Date.now() - started, measured };
}

describe('Prometheus outage', () => {
  it('measures normally while Prometheus is up', async () => {
    const { measured } = await timed();
    const m = measured.get('outage/cart')?.get('error-ratio');
    // Evaluated between scrapes, increase() extrapolates a little past the 100 injected requests.
    expect(m).toMatchObject({ kind: 'requests', canary: { errors: 0 }, stable: { errors: 0 } });
    expect(judgeMetric(errorRatio, m!).verdict).toBe('Pass');
  });

  it('gives Error (Timeout) within the configured timeout when Prometheus hangs', async () => {
    prometheus.pause();
    try {
      const { elapsed, measured } = await timed();
      for (const [name, m] of measured.get('outage/cart') ?? []) {
        expect(m, name).toMatchObject({ kind: 'error', error: { code: 'Timeout', retryable: true } });
      }
      const m = measured.get('outage/cart')?.get('error-ratio');
      expect(judgeMetric(errorRatio, m!).verdict).toBe('Error');
      expect(elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    } finally {
      prometheus.resume();
    }
  });

  it('gives Error (Unreachable) within the configured timeout when Prometheus is stopped mid-test', async () => {
    await prometheus.stop();
    const { elapsed, measured } = await timed();
    const m = measured.get('outage/cart')?.get('error-ratio');
    expect(m).toMatchObject({ kind: 'error', error: { code: 'Unreachable', retryable: true } });
    expect(m?.kind === 'error' && m.error.message).toMatch(/ECONNREFUSED/);
    const verdict = judgeMetric(errorRatio, m!);
    expect(verdict.verdict).toBe('Error');
    expect(verdict.evidence.rule).toMatch(/^Unreachable: /);
    expect(measured.get('outage/cart')?.get('custom')).toMatchObject({ kind: 'error' });
    expect(elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);

    // and the engine holds on it: a canary at 20 % stays at 20 %, with the reason in its status
    const spec = aSpec({
      strategy: { steps: [{ setWeight: 20 }, { analysis: {} }, { setWeight: 60 }] },
      analysis: errorRatioAnalysis(),
    });
    const world = new World(spec, () => new Map([['error-ratio', m!]]));
    const minutes = (n: number) => {
      for (let i = 0; i < n; i++) {
        world.step();
        world.now = new Date(world.now.getTime() + 60_000);
      }
    };
    minutes(20);
    expect(world.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 1, canaryWeight: 20 });
    expect(world.actual.canaryWeight).toBe(20);
    expect(world.status?.decisions?.at(-1)).toMatchObject({ action: 'Hold', reason: 'MetricsUnavailable' });
    expect(world.status?.message).toMatch(/the metrics backend could not answer.*Unreachable/);
    // past the hold deadline (30m by default) it pauses and says so, still at 20 %, never rolled back
    minutes(20);
    expect(world.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, canaryWeight: 20 });
    expect(world.status?.message).toMatch(/the metrics backend has not answered for 3\dm/);
    expect(world.status?.decisions?.some((d) => d.action === 'Rollback')).toBe(false);
  });
});
