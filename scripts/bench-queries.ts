/**
 * How many Prometheus queries one analysis tick costs, and how long it takes, for 1,000 releases
 * across 10 namespaces on a real Prometheus (Debian's `prometheus`, started like the integration
 * tests start it). Run: npm run bench:queries
 */
import { performance } from 'node:perf_hooks';
import { analysisSpec } from '../src/api/canary-release.js';
import { resolveMetrics } from '../src/analysis/resolve.js';
import type { ResolvedMetric } from '../src/analysis/types.js';
import { PrometheusClient } from '../src/metrics/prometheus-client.js';
import { PrometheusProvider } from '../src/metrics/prometheus-provider.js';
import type { MeasurementRequest } from '../src/metrics/provider.js';
import { counting } from '../test/harness/metrics-fixtures.js';
import { startMeshEmitter } from '../test/harness/mesh-emitter.js';
import { startPrometheus } from '../test/harness/prometheus.js';
import { templateCatalog } from '../test/harness/templates.js';

const RELEASES = 1000;
const NAMESPACES = 10;
const STEP_MINUTES = 10;

const mesh = await startMeshEmitter();
// About 90,000 series: a 5 s scrape interval keeps the emitter and Prometheus from saturating 2 cores.
const prometheus = await startPrometheus({ targets: [mesh.target], scrapeIntervalSeconds: 5 });
try {
  const releases = Array.from({ length: RELEASES }, (_, i) => ({
    namespace: `team-${i % NAMESPACES}`,
    service: `svc-${i}`,
  }));
  for (const r of releases) for (const version of ['v1', 'v2']) mesh.declare({ ...r, version });
  await prometheus.waitForScrape(Date.now(), 60_000);
  for (const r of releases) {
    mesh.inject({
      ...r,
      version: 'v1',
      requests: 100,
      errors: 1,
      latencyMs: (i) => (i % 10 === 0 ? 700 : 20),
    });
    mesh.inject({ ...r, version: 'v2', requests: 20, errors: 1, latencyMs: 30 });
  }
  const now = new Date(await prometheus.waitForScrape(Date.now(), 60_000));
  // The data is in. Rendering 90,000 series shares this process' event loop with the tick being
  // timed, so the emitter stops; evaluating at `now` keeps the staleness markers Prometheus then writes
  // out of every window.
  await mesh.close();

  const tick = async (label: string, templates: string[]) => {
    const analysis = analysisSpec.parse({
      templates: templates.map((name) => ({ name, kind: 'ClusterAnalysisTemplate' })),
    });
    const { metrics, issues } = resolveMetrics(analysis, templateCatalog());
    if (issues.length) throw new Error(JSON.stringify(issues));
    const requests = releases.map((r, i) => request(r, i, now, metrics));
    const api = counting(new PrometheusClient({ address: prometheus.url, timeoutMs: 30_000 }));
    const provider = new PrometheusProvider(api);
    for (let run = 1; run <= 2; run++) {
      api.count = 0;
      const started = performance.now();
      const measured = await provider.measure(requests);
      const duration = performance.now() - started;
      const errors = [...measured.values()].flatMap((m) => [...m.values()]).filter((m) => m.kind === 'error');
      console.log(
        `${label} (tick ${run}): ${RELEASES} releases in ${NAMESPACES} namespaces, ${metrics.length} metrics each -> ` +
          `${api.count} Prometheus queries, ${duration.toFixed(0)} ms, ${errors.length} error measurements`,
      );
      if (errors.length) console.log('first error:', JSON.stringify(errors[0]));
    }
  };

  await tick('built-in metrics (error-ratio, success-rate, latency-p99, slow-ratio)', [
    'error-ratio',
    'success-rate',
    'latency-p99',
    'slow-ratio',
  ]);
  await tick('plus one custom PromQL template (upstream-failures, 2 queries per release)', [
    'error-ratio',
    'success-rate',
    'latency-p99',
    'slow-ratio',
    'upstream-failures',
  ]);
} finally {
  await prometheus.stop();
  await mesh.close();
}

/** Each release is somewhere in a step of up to STEP_MINUTES minutes, so windows differ. */
function request(
  r: { namespace: string; service: string },
  i: number,
  now: Date,
  metrics: ResolvedMetric[],
): MeasurementRequest {
  const elapsedMs = 60_000 * (1 + (i % STEP_MINUTES)) + ((i * 7919) % 60_000);
  return {
    key: `${r.namespace}/${r.service}`,
    name: r.service,
    namespace: r.namespace,
    service: r.service,
    canaryRevision: 'v2',
    stableRevision: 'v1',
    windowStart: new Date(now.getTime() - elapsedMs),
    now,
    metrics,
    revisionLabel: 'destination_version',
    reporter: 'destination',
  };
}
