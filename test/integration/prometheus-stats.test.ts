/**
 * canaria's Prometheus adapter against a real Prometheus scraping a synthetic Istio mesh. Every test
 * uses a namespace of its own, so they share one Prometheus without seeing each other's traffic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analysisSpec } from '../../src/api/canary-release.js';
import { judgeMetric } from '../../src/analysis/judges.js';
import { resolveMetrics } from '../../src/analysis/resolve.js';
import type { Measurement, ResolvedMetric } from '../../src/analysis/types.js';
import { PrometheusClient, type PrometheusApi } from '../../src/metrics/prometheus-client.js';
import { PrometheusProvider } from '../../src/metrics/prometheus-provider.js';
import type { MeasurementRequest } from '../../src/metrics/provider.js';
import { startMeshEmitter, type MeshEmitter, type Workload } from '../harness/mesh-emitter.js';
import { counting, metric, release } from '../harness/metrics-fixtures.js';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus.js';
import { loadTemplates, templateCatalog } from '../harness/templates.js';

let mesh: MeshEmitter;
let prometheus: PrometheusServer;
const cleanups: (() => Promise<void>)[] = [];
let client: PrometheusClient;

beforeAll(async () => {
  mesh = await startMeshEmitter();
  cleanups.push(() => mesh.close());
  prometheus = await startPrometheus({ targets: [mesh.target] });
  cleanups.push(() => prometheus.stop());
  client = new PrometheusClient({ address: prometheus.url, timeoutMs: 5000 });
});
afterAll(async () => {
  // Only what started: a failed start must report its own error, not a crash here.
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// The tests' 1 s scrapes allow 1 s windows; production keeps the 1 m default.
const provider = (api: PrometheusApi = client) => new PrometheusProvider(api, { windowGranularityMs: 1000 });

/**
 * Declares the workloads' series at zero and waits until Prometheus holds a zero sample inside the
 * window, so `increase` sees every injected request. Returns the window's start.
 */
async function openWindow(workloads: Workload[]): Promise<Date> {
  const start = Date.now();
  for (const w of workloads) mesh.declare(w);
  await prometheus.waitForScrape(start + 1100);
  return new Date(start);
}

/** Waits for the scrape that holds what was injected; evaluating at its timestamp needs no extrapolation. */
async function scraped(): Promise<Date> {
  return new Date(await prometheus.waitForScrape(Date.now()));
}

const errorRatio = metric({ name: 'error-ratio', type: 'errorRatio' });

function measurementOf(
  measured: Map<string, Map<string, Measurement>>,
  key: string,
  name: string,
): Measurement {
  const m = measured.get(key)?.get(name);
  if (!m) throw new Error(`no measurement for ${key} ${name}`);
  return m;
}

describe('reporter auto on a real Prometheus', () => {
  it('counts a waypoint-only revision from the waypoint, and a sidecar behind a waypoint once', async () => {
    // v1 has a sidecar behind a waypoint: both report each request. v2 is ambient without a sidecar:
    // only its waypoint reports.
    const v1 = { namespace: 'ambient', service: 'reviews', version: 'v1', canonicalRevision: 'v1' };
    const v2 = { namespace: 'ambient', service: 'reviews', version: 'v2', canonicalRevision: 'v2' };
    const windowStart = await openWindow([
      v1,
      { ...v1, reporter: 'waypoint' },
      { ...v2, reporter: 'waypoint' },
    ]);
    mesh.inject({ ...v1, requests: 400, errors: 4 });
    mesh.inject({ ...v1, reporter: 'waypoint', requests: 400, errors: 4 });
    mesh.inject({ ...v2, reporter: 'waypoint', requests: 100, errors: 3 });
    const now = await scraped();
    const base = { namespace: 'ambient', name: 'reviews', windowStart, now, metrics: [errorRatio] };
    const measured = await provider().measure([
      release({ ...base, key: 'auto', reporter: 'auto' }),
      release({ ...base, key: 'destination', reporter: 'destination' }),
    ]);
    expect(measurementOf(measured, 'auto', 'error-ratio')).toMatchObject({
      kind: 'requests',
      canary: { total: 100, errors: 3 },
      stable: { total: 400, errors: 4 },
    });
    // the old default sees no canary at all in ambient mode
    expect(measurementOf(measured, 'destination', 'error-ratio')).toMatchObject({
      kind: 'requests',
      stable: { total: 400, errors: 4 },
      canary: { total: 0 },
    });
  });
});

describe('per-revision request stats on a real Prometheus', () => {
  it("match the emitter's injected counts for v1 and v2, by version or canonical revision", async () => {
    const v1 = { namespace: 'stats', service: 'reviews', version: 'v1', canonicalRevision: 'reviews-6f9c' };
    const v2 = { namespace: 'stats', service: 'reviews', version: 'v2', canonicalRevision: 'reviews-7d2a' };
    const windowStart = await openWindow([v1, v2, { ...v1, reporter: 'source' }]);
    mesh.inject({ ...v1, requests: 1000, errors: 5, latencyMs: (i) => (i < 100 ? 700 : 20) });
    mesh.inject({ ...v2, requests: 200, errors: 10, latencyMs: (i) => (i < 40 ? 700 : 20) });
    // Istio also reports at the calling side; the default reporter must not count these.
    mesh.inject({ ...v1, reporter: 'source', requests: 333 });
    const now = await scraped();

    const metrics = [
      errorRatio,
      metric({ name: 'slow-ratio', type: 'slowRatio', latencyThresholdMs: 500 }),
      metric({ name: 'p99', type: 'latencyQuantile', quantile: 0.99 }),
    ];
    const base = { namespace: 'stats', name: 'reviews', windowStart, now, metrics };
    const measured = await provider().measure([
      release({ ...base, key: 'by-version', revisionLabel: 'destination_version' }),
      release({
        ...base,
        key: 'by-canonical',
        revisionLabel: 'destination_canonical_revision',
        canaryRevision: 'reviews-7d2a',
        stableRevision: 'reviews-6f9c',
      }),
      release({
        ...base,
        key: 'source',
        revisionLabel: 'destination_version',
        reporter: 'source',
        metrics: [errorRatio],
      }),
    ]);

    for (const key of ['by-version', 'by-canonical']) {
      expect(measurementOf(measured, key, 'error-ratio')).toMatchObject({
        kind: 'requests',
        canary: { total: 200, errors: 10 },
        stable: { total: 1000, errors: 5 },
      });
      expect(measurementOf(measured, key, 'slow-ratio')).toMatchObject({
        kind: 'requests',
        canary: { total: 200, errors: 10, slow: 40 },
        stable: { total: 1000, errors: 5, slow: 100 },
      });
      // histogram_quantile interpolates inside the (500, 1000] bucket: 500 + 500 x 38/40 and x 90/100.
      const p99 = measurementOf(measured, key, 'p99');
      expect(p99.kind).toBe('scalar');
      if (p99.kind === 'scalar') {
        expect(p99.canary).toBeCloseTo(975, 6);
        expect(p99.stable).toBeCloseTo(950, 6);
      }
    }
    expect(measurementOf(measured, 'source', 'error-ratio')).toMatchObject({
      canary: { total: 0, errors: 0 },
      stable: { total: 333, errors: 0 },
    });
  });

  it('serve every release of a namespace from one query per metric kind, whatever their windows', async () => {
    const services = Array.from({ length: 12 }, (_, i) => `svc-${i}`);
    const workloads = services.flatMap((service) =>
      ['v1', 'v2'].map((version) => ({ namespace: 'batch', service, version })),
    );
    const windowStart = await openWindow(workloads);
    services.forEach((service, i) => {
      mesh.inject({ namespace: 'batch', service, version: 'v1', requests: 100 + i, errors: i });
      mesh.inject({ namespace: 'batch', service, version: 'v2', requests: 10 + i, errors: 1 });
    });
    const now = await scraped();
    const api = counting(client);
    const measured = await provider(api).measure(
      services.map((service, i) =>
        release({
          namespace: 'batch',
          name: service,
          now,
          // Three different window lengths: one query still serves them all.
          windowStart: new Date(windowStart.getTime() - 1000 * (i % 3)),
          metrics: [errorRatio, metric({ name: 'slow', type: 'slowRatio', latencyThresholdMs: 250 })],
        }),
      ),
    );
    expect(api.count).toBe(2);
    services.forEach((service, i) => {
      expect(measurementOf(measured, `batch/${service}`, 'error-ratio')).toMatchObject({
        canary: { total: 10 + i, errors: 1 },
        stable: { total: 100 + i, errors: i },
      });
      expect(measurementOf(measured, `batch/${service}`, 'slow')).toMatchObject({
        canary: { total: 10 + i, slow: 0 },
      });
    });
  });
});

describe('judging real measurements with the shipped templates', () => {
  it('fails a canary at 5 % errors against a stable at 0.5 %, collects evidence on an equal one, holds one without traffic', async () => {
    const analysis = analysisSpec.parse({
      templates: [{ name: 'error-ratio', kind: 'ClusterAnalysisTemplate' }],
    });
    const { metrics, issues } = resolveMetrics(analysis, templateCatalog());
    expect(issues).toEqual([]);
    const [template] = metrics as [ResolvedMetric];
    expect(template.judge.type).toBe('sequential');

    const revisions = (service: string) =>
      ['v1', 'v2'].map((version) => ({ namespace: 'judge', service, version })) as [Workload, Workload];
    const [badStable, badCanary] = revisions('bad');
    const [goodStable, goodCanary] = revisions('good');
    const [idleStable, idleCanary] = revisions('idle');
    const windowStart = await openWindow([
      badStable,
      badCanary,
      goodStable,
      goodCanary,
      idleStable,
      idleCanary,
    ]);
    mesh.inject({ ...badStable, requests: 2000, errors: 10 });
    mesh.inject({ ...badCanary, requests: 400, errors: 20 });
    mesh.inject({ ...goodStable, requests: 2000, errors: 10 });
    mesh.inject({ ...goodCanary, requests: 400, errors: 2 });
    mesh.inject({ ...idleStable, requests: 2000, errors: 10 });
    const now = await scraped();

    const measured = await provider().measure(
      ['bad', 'good', 'idle'].map((name) => release({ namespace: 'judge', name, windowStart, now, metrics })),
    );
    const verdict = (name: string) =>
      judgeMetric(template, measurementOf(measured, `judge/${name}`, template.name));
    const bad = verdict('bad');
    expect(bad.verdict).toBe('Fail');
    expect(bad.evidence.canary).toMatchObject({ total: 400, errors: 20, value: 0.05 });
    expect(bad.evidence.stable).toMatchObject({ total: 2000, errors: 10, value: 0.005 });
    expect(bad.final).toBe(true);
    // one analysis of 400 canary requests is not enough to rule out a regression: it says how many more
    const good = verdict('good');
    expect(good.verdict).toBe('Inconclusive');
    expect(good.evidence.sequential?.neededRequests).toBeGreaterThan(0);
    expect(good.evidence.sequential?.eValue).toBeLessThan(1);
    const idle = verdict('idle');
    expect(idle.verdict).toBe('Inconclusive');
    expect(idle.noNewData).toBe(true);
    expect(idle.evidence.rule).toMatch(/canary no requests yet/);
  });

  it('runs every shipped template on real Prometheus without an error', async () => {
    const v1 = { namespace: 'templates', service: 'checkout', version: 'v1' };
    const v2 = { namespace: 'templates', service: 'checkout', version: 'v2' };
    // Failed requests with response flags are series of their own, which must exist before they count.
    mesh.declare(v1, [503], 'UF');
    mesh.declare(v2, [503], 'UF,URX');
    const windowStart = await openWindow([v1, v2]);
    mesh.inject({ ...v1, requests: 1000, errors: 10, errorFlags: 'UF' });
    mesh.inject({ ...v2, requests: 500, errors: 25, errorFlags: 'UF,URX', latencyMs: 120 });
    const now = await scraped();
    const analysis = analysisSpec.parse({
      templates: loadTemplates().map(({ template }) => ({
        name: template.metadata.name,
        kind: 'ClusterAnalysisTemplate',
      })),
    });
    const { metrics } = resolveMetrics(analysis, templateCatalog());
    const measured = await provider().measure([
      release({
        namespace: 'templates',
        name: 'checkout',
        windowStart,
        now,
        metrics,
        revisionLabel: 'destination_version',
      }),
    ]);
    const byMetric = measured.get('templates/checkout');
    expect(byMetric?.size).toBe(metrics.length);
    for (const [name, measurement] of byMetric ?? []) expect(measurement.kind, name).not.toBe('error');
    expect(byMetric?.get('upstream-failures')).toMatchObject({ kind: 'scalar', canary: 0.05, stable: 0.01 });
    expect(byMetric?.get('success-rate')).toMatchObject({ canary: { total: 500, errors: 25 } });
  });
});

describe('custom PromQL on a real Prometheus', () => {
  const requestsOf = (extra = '') =>
    `sum(increase(istio_requests_total{destination_service_namespace="{{ namespace }}",destination_service_name="{{ service }}",{{ revisionLabel }}="{{ revision }}"${extra}}[{{ window }}]))`;
  let request: (over: Partial<MeasurementRequest>) => MeasurementRequest;

  beforeAll(async () => {
    const v1 = { namespace: 'custom', service: 'ratings', version: 'v1' };
    const v2 = { namespace: 'custom', service: 'ratings', version: 'v2' };
    const windowStart = await openWindow([v1, v2]);
    mesh.inject({ ...v1, requests: 300, errors: 3 });
    const now = await scraped();
    request = (over) =>
      release({
        namespace: 'custom',
        name: 'ratings',
        windowStart,
        now,
        revisionLabel: 'destination_version',
        ...over,
      });
  });

  it('substitutes the revision once per side, and reads an idle revision as zero, not as missing', async () => {
    const measured = await provider().measure([
      request({ metrics: [metric({ name: 'requests', type: 'promql', query: requestsOf() })] }),
    ]);
    expect(measurementOf(measured, 'custom/ratings', 'requests')).toMatchObject({
      kind: 'scalar',
      canary: 0,
      stable: 300,
    });
  });

  it('reads an empty result and NaN as no data, never as a value', async () => {
    const ratio = `${requestsOf(',response_code=~"5.."')} / ${requestsOf()}`;
    const measured = await provider().measure([
      request({
        metrics: [
          metric({
            name: 'empty',
            type: 'promql',
            query: requestsOf().replace('istio_requests_total', 'no_such_metric'),
          }),
          metric({ name: 'ratio', type: 'promql', query: ratio }),
        ],
      }),
    ]);
    expect(measurementOf(measured, 'custom/ratings', 'empty')).toMatchObject({
      kind: 'scalar',
      canary: null,
      stable: null,
    });
    // The canary served nothing: 0 / 0 is NaN.
    expect(measurementOf(measured, 'custom/ratings', 'ratio')).toMatchObject({
      kind: 'scalar',
      canary: null,
      stable: 0.01,
    });
  });

  it('calls several series where one was expected an error', async () => {
    const measured = await provider().measure([
      request({
        metrics: [
          metric({
            name: 'unaggregated',
            type: 'promql',
            query:
              'increase(istio_requests_total{destination_service_namespace="{{ namespace }}"}[{{ window }}])',
          }),
        ],
      }),
    ]);
    const unaggregated = measurementOf(measured, 'custom/ratings', 'unaggregated');
    expect(unaggregated).toMatchObject({ kind: 'error', error: { code: 'Ambiguous', retryable: false } });
    expect(unaggregated.kind === 'error' && unaggregated.error.message).toMatch(
      /series .* where one was expected/,
    );
  });

  it("surfaces Prometheus' own error text for a bad query", async () => {
    const measured = await provider().measure([
      request({
        metrics: [metric({ name: 'broken', type: 'promql', query: 'sum(rate(istio_requests_total[1m])' })],
      }),
    ]);
    const broken = measurementOf(measured, 'custom/ratings', 'broken');
    expect(broken).toMatchObject({ kind: 'error', error: { code: 'BadQuery', retryable: false } });
    if (broken.kind === 'error')
      expect(broken.error.message).toMatch(
        /^Prometheus rejected the query: bad_data: .*unclosed left parenthesis/,
      );
  });

  it('answers a range query', async () => {
    const now = new Date(await prometheus.waitForScrape(Date.now()));
    const series = await client.queryRange(
      'sum(istio_requests_total{destination_service_namespace="custom",destination_version="v1"})',
      { start: new Date(now.getTime() - 3000), end: now, stepSeconds: 1 },
    );
    expect(series).toHaveLength(1);
    // one point per step on the grid; the first ones may predate the series under a slow scrape
    const points = series[0]?.points ?? [];
    expect(points.length).toBeGreaterThanOrEqual(1);
    expect(points.length).toBeLessThanOrEqual(4);
    for (const p of points) expect((now.getTime() - p.time) % 1000).toBe(0);
    expect(points.at(-1)).toEqual({ time: now.getTime(), value: 300 });
  });
});

describe('a hostile release name', () => {
  it('cannot change the query: Prometheus answers for the literal name', async () => {
    const hostile = 'a"} or vector(1) #';
    const canary = { namespace: 'inject', service: hostile, version: 'v2' };
    const stable = { namespace: 'inject', service: hostile, version: 'v1' };
    const bystander = { namespace: 'inject', service: 'bystander', version: 'v1' };
    const windowStart = await openWindow([canary, stable, bystander]);
    mesh.inject({ ...canary, requests: 42, errors: 2 });
    mesh.inject({ ...stable, requests: 58 });
    mesh.inject({ ...bystander, requests: 1000, errors: 1000 });
    const now = await scraped();
    const measured = await provider().measure([
      release({
        namespace: 'inject',
        name: hostile,
        service: hostile,
        windowStart,
        now,
        metrics: [
          errorRatio,
          metric({
            name: 'custom',
            type: 'promql',
            query:
              'sum(increase(istio_requests_total{destination_service_name="{{ service }}",destination_canonical_revision="{{ revision }}"}[{{ window }}]))',
          }),
        ],
      }),
    ]);
    const key = `inject/${hostile}`;
    expect(measurementOf(measured, key, 'error-ratio')).toMatchObject({
      kind: 'requests',
      canary: { total: 42, errors: 2 },
      stable: { total: 58, errors: 0 },
    });
    expect(measurementOf(measured, key, 'custom')).toMatchObject({ kind: 'scalar', canary: 42, stable: 58 });
  });
});
