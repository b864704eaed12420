/**
 * Which requests count as errors, on a real Prometheus scraping the synthetic mesh: gRPC failures (HTTP
 * 200 with Istio's grpc_response_status) under the controller's default rule, and a release's own rule
 * (429 counts) applied beside another release's default in one batched query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analysisSpec } from '../../src/api/canary-release.js';
import { judgeMetric } from '../../src/analysis/judges.js';
import { resolveMetrics } from '../../src/analysis/resolve.js';
import type { Measurement, ResolvedMetric } from '../../src/analysis/types.js';
import { PrometheusClient, type PrometheusApi } from '../../src/metrics/prometheus-client.js';
import { PrometheusProvider, type PrometheusProviderOptions } from '../../src/metrics/prometheus-provider.js';
import { startMeshEmitter, type MeshEmitter, type Workload } from '../harness/mesh-emitter.js';
import { counting, metric, release } from '../harness/metrics-fixtures.js';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus.js';
import { templateCatalog } from '../harness/templates.js';

let mesh: MeshEmitter;
let prometheus: PrometheusServer;
let client: PrometheusClient;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  mesh = await startMeshEmitter();
  cleanups.push(() => mesh.close());
  prometheus = await startPrometheus({ targets: [mesh.target] });
  cleanups.push(() => prometheus.stop());
  client = new PrometheusClient({ address: prometheus.url, timeoutMs: 5000 });
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const provider = (options: PrometheusProviderOptions = {}, api: PrometheusApi = client) =>
  new PrometheusProvider(api, { windowGranularityMs: 1000, ...options });

/** Waits until Prometheus holds the declared zero samples, so `increase` sees every injected request. */
async function openWindow(declare: () => void): Promise<Date> {
  const start = Date.now();
  declare();
  await prometheus.waitForScrape(start + 1100);
  return new Date(start);
}
const scraped = async (): Promise<Date> => new Date(await prometheus.waitForScrape(Date.now()));

function of(measured: Map<string, Map<string, Measurement>>, key: string, name: string): Measurement {
  const m = measured.get(key)?.get(name);
  if (!m) throw new Error(`no measurement for ${key} ${name}`);
  return m;
}

const UNAVAILABLE = 14;
const NOT_FOUND = 5;

describe('error rules on a real Prometheus', () => {
  it('counts failed gRPC calls (HTTP 200, grpc_response_status UNAVAILABLE) as errors, and NOT_FOUND not', async () => {
    const grpc = (version: string): Workload => ({
      namespace: 'grpc',
      service: 'payments',
      version,
      protocol: 'grpc',
    });
    const [v1, v2] = [grpc('v1'), grpc('v2')];
    const windowStart = await openWindow(() => {
      for (const w of [v1, v2]) mesh.declare(w, [200], '-', [UNAVAILABLE, NOT_FOUND]);
    });
    mesh.inject({ ...v1, requests: 1000, errors: 5, grpcStatus: UNAVAILABLE });
    mesh.inject({ ...v2, requests: 170, errors: 20, grpcStatus: UNAVAILABLE });
    mesh.inject({ ...v2, requests: 30, errors: 30, grpcStatus: NOT_FOUND });
    const now = await scraped();

    const { metrics } = resolveMetrics(
      analysisSpec.parse({ templates: [{ name: 'error-ratio', kind: 'ClusterAnalysisTemplate' }] }),
      templateCatalog(),
    );
    const [template] = metrics as [ResolvedMetric];
    const base = {
      namespace: 'grpc',
      name: 'payments',
      windowStart,
      now,
      revisionLabel: 'destination_version' as const,
    };
    const measured = await provider().measure([
      release({ ...base, metrics: [template, metric({ name: 'success', type: 'successRate' })] }),
      release({
        ...base,
        key: 'no-grpc-rule',
        metrics: [metric({ name: 'errors', type: 'errorRatio', errors: { grpcCodes: [] } })],
      }),
    ]);
    const counted = of(measured, 'grpc/payments', template.name);
    expect(counted).toMatchObject({
      kind: 'requests',
      canary: { total: 200, errors: 20 },
      stable: { total: 1000, errors: 5 },
    });
    expect(counted.query).toContain('grpc_response_status');
    expect(of(measured, 'grpc/payments', 'success')).toMatchObject({ canary: { total: 200, errors: 20 } });
    const verdict = judgeMetric(template, counted);
    expect(verdict.verdict).toBe('Fail');
    // with gRPC statuses off, every call is an HTTP 200: what canaria used to see
    expect(of(measured, 'no-grpc-rule', 'errors')).toMatchObject({
      canary: { total: 200, errors: 0 },
      stable: { total: 1000, errors: 0 },
    });
  });

  it("applies a release's own rule (5xx and 429) beside another release's default, from one query", async () => {
    const http = (service: string, version: string): Workload => ({ namespace: 'rules', service, version });
    const workloads = ['strict', 'lenient'].flatMap((s) => [http(s, 'v1'), http(s, 'v2')]);
    const windowStart = await openWindow(() => {
      for (const w of workloads) mesh.declare(w, [200, 429, 503]);
    });
    for (const service of ['strict', 'lenient']) {
      mesh.inject({ ...http(service, 'v1'), requests: 1000, errors: 2, errorCode: 429 });
      mesh.inject({ ...http(service, 'v2'), requests: 170, errors: 30, errorCode: 429 });
      mesh.inject({ ...http(service, 'v2'), requests: 30, errors: 3, errorCode: 503 });
    }
    const now = await scraped();

    const strict = resolveMetrics(
      analysisSpec.parse({
        errors: { httpCodes: ['5xx', '429'] },
        metrics: [{ name: 'errors', type: 'errorRatio', judge: { type: 'relative', tolerance: 0.5 } }],
      }),
      templateCatalog(),
    ).metrics;
    const lenient = [metric({ name: 'errors', type: 'errorRatio' })];
    const api = counting(client);
    const base = { namespace: 'rules', windowStart, now, revisionLabel: 'destination_version' as const };
    const measured = await provider({}, api).measure([
      release({ ...base, name: 'strict', metrics: strict }),
      release({ ...base, name: 'lenient', metrics: lenient }),
    ]);
    expect(api.count).toBe(1);
    expect(of(measured, 'rules/strict', 'errors')).toMatchObject({
      canary: { total: 200, errors: 33 },
      stable: { total: 1000, errors: 2 },
    });
    expect(of(measured, 'rules/strict', 'errors').query).toMatch(/# errors: response_code 5xx, 429;/);
    expect(of(measured, 'rules/lenient', 'errors')).toMatchObject({
      canary: { total: 200, errors: 3 },
      stable: { total: 1000, errors: 0 },
    });
  });

  it('takes the controller-wide rule as the default under both', async () => {
    const v1: Workload = { namespace: 'controller-rule', service: 'cart', version: 'v1' };
    const v2: Workload = { ...v1, version: 'v2' };
    const windowStart = await openWindow(() => {
      for (const w of [v1, v2]) mesh.declare(w, [200, 429]);
    });
    mesh.inject({ ...v2, requests: 100, errors: 7, errorCode: 429 });
    mesh.inject({ ...v1, requests: 100 });
    const now = await scraped();
    const measured = await provider({ errors: { httpCodes: ['5xx', '429'] } }).measure([
      release({
        namespace: 'controller-rule',
        name: 'cart',
        windowStart,
        now,
        revisionLabel: 'destination_version',
      }),
    ]);
    expect(of(measured, 'controller-rule/cart', 'error-ratio')).toMatchObject({
      canary: { total: 100, errors: 7 },
    });
  });
});
