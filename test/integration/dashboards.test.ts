/**
 * The chart's Grafana dashboards on real data. Two rollouts run for real in wall-clock time — the
 * Controller and Reconciler on an in-memory cluster, measuring with the real Prometheus adapter —
 * while a synthetic mesh serves their traffic as the VirtualServices split it. A real Prometheus
 * scrapes the mesh and the controller's /metrics; then every variable, panel and annotation query
 * of both dashboards runs as Grafana would run it, and each must return the series it should.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canaryReleaseStatus,
  type CanaryReleaseSpecInput,
  type CanaryReleaseStatus,
} from '../../src/api/canary-release.js';
import { API_VERSION } from '../../src/api/meta.js';
import { Controller } from '../../src/controller/controller.js';
import { MeasureBatcher } from '../../src/controller/measure-batcher.js';
import { Reconciler } from '../../src/controller/reconciler.js';
import { readRouting } from '../../src/routers/istio/routes.js';
import { virtualService as virtualServiceSchema } from '../../src/routers/istio/types.js';
import { MemoryKube } from '../../src/kube/memory.js';
import type { Deployment } from '../../src/kube/resources.js';
import { PrometheusClient } from '../../src/metrics/prometheus-client.js';
import { PrometheusProvider } from '../../src/metrics/prometheus-provider.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { ControllerMetrics } from '../../src/telemetry/metrics.js';
import { startTelemetryServer, type TelemetryServer } from '../../src/telemetry/server.js';
import { destinationRule, route, to, virtualService } from '../fixtures/seeds/builders.js';
import { explainEmpty, runDashboard, type DashboardRun, type GrafanaSettings } from '../harness/grafana.js';
import { startMeshEmitter, type MeshEmitter, type Workload } from '../harness/mesh-emitter.js';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus.js';

const NAMESPACE = 'bookinfo';
const DASHBOARDS = new URL('../../charts/canaria/dashboards/', import.meta.url);
const dashboardJson = (file: string): unknown => JSON.parse(readFileSync(new URL(file, DASHBOARDS), 'utf8'));

/** One release of the test and the mesh behind it. */
interface Service {
  name: string;
  spec: CanaryReleaseSpecInput;
  reporter: 'destination' | 'source';
  /** Share of the canary's requests that fail (the stable's: 0.5 %). */
  canaryErrors: number;
  stableErrors: number;
}

const steps = [{ setWeight: 20 }, { analysis: {} }, { setWeight: 50 }, { analysis: {} }];
const istio = (name: string) => ({
  virtualService: { name },
  destinationRule: { name },
  stableSubset: 'v1',
  canarySubset: 'v2',
});

/** reviews: healthy, judged on two metrics, promoted. ratings: failing, by version from the calling side, rolled back. */
const SERVICES: Service[] = [
  {
    name: 'reviews',
    reporter: 'destination',
    canaryErrors: 0.005,
    stableErrors: 0.005,
    spec: {
      subsets: {},
      trafficRouting: { istio: istio('reviews') },
      strategy: { steps },
      analysis: {
        interval: '2s',
        minSamples: 20,
        failureLimit: 1,
        metrics: [
          { name: 'error-ratio', type: 'errorRatio', judge: { type: 'relative', tolerance: 1, slack: 0.02 } },
          {
            name: 'slow-ratio',
            type: 'slowRatio',
            latencyThresholdMs: 500,
            judge: { type: 'relative', tolerance: 1, slack: 0.05 },
          },
        ],
      },
    },
  },
  {
    name: 'ratings',
    reporter: 'source',
    canaryErrors: 0.3,
    // enough stable errors in the few seconds before the rollback for a rate ratio to exist
    stableErrors: 0.05,
    spec: {
      subsets: {},
      trafficRouting: { istio: istio('ratings') },
      strategy: { steps },
      analysis: {
        interval: '2s',
        minSamples: 20,
        failureLimit: 1,
        revisionLabel: 'destination_version',
        reporter: 'source',
        metrics: [
          // the sequential judge, so that its e-value and rate-ratio panels meet real series
          { name: 'error-ratio', type: 'errorRatio', judge: { type: 'sequential', tolerance: 0.5 } },
        ],
      },
    },
  },
];

function deployment(service: string, version: string): Deployment {
  const labels = { app: service, version };
  return {
    metadata: { name: `${service}-${version}`, namespace: NAMESPACE },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: service, image: `${service}:${version}` }] },
      },
    },
    status: {
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
    },
  };
}

function cluster(): MemoryKube {
  const kube = new MemoryKube();
  for (const { name } of SERVICES) {
    kube.apply(
      'VirtualService',
      virtualService([route([to('v1', 100, name), to('v2', 0, name)], { name: 'primary' })], {
        name,
        namespace: NAMESPACE,
        hosts: [name],
      }),
    );
    kube.apply(
      'DestinationRule',
      destinationRule(
        { v1: { app: name, version: 'v1' }, v2: { app: name, version: 'v2' } },
        { name, namespace: NAMESPACE, host: name },
      ),
    );
    kube.apply('Deployment', deployment(name, 'v1'));
    kube.apply('Deployment', deployment(name, 'v2'));
  }
  return kube;
}

let mesh: MeshEmitter;
let telemetry: TelemetryServer;
let prometheus: PrometheusServer;
let controller: Controller;
let traffic: NodeJS.Timeout | undefined;
const cleanups: (() => Promise<void>)[] = [];
let settings: (picks?: Record<string, string>) => GrafanaSettings;
const finalStatus = new Map<string, CanaryReleaseStatus>();

const workload = (s: Service, version: string): Workload => ({
  namespace: NAMESPACE,
  service: s.name,
  version,
  reporter: s.reporter,
});

beforeAll(async () => {
  mesh = await startMeshEmitter();
  cleanups.push(() => mesh.close());
  const metrics = new ControllerMetrics({ defaultMetrics: true });
  telemetry = await startTelemetryServer({
    port: 0,
    host: '127.0.0.1',
    metrics,
    ready: () => true,
    logger: silentLogger(),
  });
  cleanups.push(() => telemetry.close());
  prometheus = await startPrometheus({ targets: [mesh.target, `127.0.0.1:${telemetry.port}`] });
  cleanups.push(() => prometheus.stop());
  const started = new Date();

  // the mesh's series exist at zero before any request, so that increase() counts every one
  for (const s of SERVICES) for (const version of ['v1', 'v2']) mesh.declare(workload(s, version));
  await prometheus.waitForScrape(Date.now() + 1100);

  const kube = cluster();
  // 200 requests per second to each service, split as its VirtualService says at that moment
  const carried = new Map<string, number>();
  traffic = setInterval(() => {
    for (const s of SERVICES) {
      const vs = virtualServiceSchema.parse(
        kube.get('VirtualService', { namespace: NAMESPACE, name: s.name }),
      );
      const reading = readRouting(vs, { ...istio(s.name), weightTotal: 100 });
      const canaryShare = reading.ok ? reading.value.canaryWeight / reading.value.total : 0;
      for (const [version, requests, errorRate] of [
        ['v1', Math.round(50 * (1 - canaryShare)), s.stableErrors],
        ['v2', Math.round(50 * canaryShare), s.canaryErrors],
      ] as const) {
        // errors first, and 2 % of the requests over the slow-ratio's 500 ms at the end, carried over
        // from tick to tick so that each side's shares hold however few requests a tick brings
        const owe = (what: string, share: number) => {
          const key = `${s.name}/${version}/${what}`;
          const owed = (carried.get(key) ?? 0) + requests * share;
          carried.set(key, owed - Math.floor(owed));
          return Math.floor(owed);
        };
        const errors = owe('errors', errorRate);
        const slow = owe('slow', 0.02);
        mesh.inject({
          ...workload(s, version),
          requests,
          errors,
          latencyMs: (i) => (i >= requests - slow ? 700 : 20),
        });
      }
    }
  }, 250);

  const client = new PrometheusClient({
    address: prometheus.url,
    timeoutMs: 5000,
    onQuery: (query) => {
      metrics.prometheusQuery(query);
    },
  });
  const reconciler = new Reconciler({
    kube,
    // the tests' 1 s scrapes allow 1 s windows; production keeps the 1 m default
    measurer: new MeasureBatcher(new PrometheusProvider(client, { windowGranularityMs: 1000 })),
    clock: () => new Date(),
    logger: silentLogger(),
    metrics,
  });
  controller = new Controller({ kube, reconciler, logger: silentLogger(), metrics, concurrency: 2 });
  cleanups.push(() => controller.stop());

  // the releases' ends, as the API server's watch delivers them
  const done = new Promise<void>((resolve) => {
    kube.watch((kind, object) => {
      if (kind !== 'CanaryRelease') return;
      const status = canaryReleaseStatus.parse(object.status ?? {});
      if (status.phase === 'Succeeded' || status.phase === 'RolledBack' || status.phase === 'Failed') {
        finalStatus.set(object.metadata.name, status);
        if (finalStatus.size === SERVICES.length) resolve();
      }
    });
  });
  controller.start();
  for (const s of SERVICES) {
    kube.apply('CanaryRelease', {
      apiVersion: API_VERSION,
      kind: 'CanaryRelease',
      metadata: { name: s.name, namespace: NAMESPACE },
      spec: s.spec,
    });
  }
  await done;
  // the final states in Prometheus, where the annotations' 10 s steps see them
  const lastDecision = Math.max(
    ...[...finalStatus.values()].flatMap((status) => (status.decisions ?? []).map((d) => Date.parse(d.time))),
  );
  await prometheus.waitForScrape(
    Math.max(Date.now() + 3000, Math.ceil((lastDecision + 1500) / 10_000) * 10_000),
  );
  clearInterval(traffic);
  traffic = undefined;
  const ended = new Date(await prometheus.waitForScrape(Date.now()));
  settings = (picks) => ({
    prometheusUrl: prometheus.url,
    from: started,
    to: ended,
    scrapeIntervalSeconds: 1,
    ...(picks ? { picks } : {}),
  });
}, 180_000);

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  for (const cleanup of cleanups.reverse()) await cleanup();
});

type Expected = Record<string, readonly string[]>;

/**
 * Problems of a run against what each query should return: the audit's problems, a query without
 * an expectation, an expectation without a query, and every query whose legends differ from the
 * expected ones (with why, when it found nothing).
 */
async function compare(run: DashboardRun, expected: Expected, grafana: GrafanaSettings): Promise<string[]> {
  const problems = [...run.problems];
  for (const query of run.queries) {
    const want = expected[query.where];
    if (!want) {
      problems.push(`${query.where} has no expectation; it returns ${JSON.stringify(legends(query.series))}`);
      continue;
    }
    const got = legends(query.series);
    if (JSON.stringify(got) !== JSON.stringify([...want].sort())) {
      const why = got.length ? '' : `: ${await explainEmpty(query.expr, grafana)}`;
      problems.push(
        `${query.where} returns ${JSON.stringify(got)}, not ${JSON.stringify([...want].sort())}${why}`,
      );
    }
  }
  for (const where of Object.keys(expected)) {
    if (!run.queries.some((q) => q.where === where))
      problems.push(`${where} is expected but not in the dashboard`);
  }
  return problems;
}

const legends = (series: { legend: string }[]): string[] => [...new Set(series.map((s) => s.legend))].sort();

/** The actions a release took, as its status records them; `rollbacks` picks Rollback and Fail or the others. */
function actionsOf(name: string, rollbacks: boolean): string[] {
  const actions = (finalStatus.get(name)?.decisions ?? []).map((d) => d.action);
  return [...new Set(actions.filter((a) => (a === 'Rollback' || a === 'Fail') === rollbacks))];
}

const RELEASES = 'canary-releases.json';

/** The latest decision of each action a release took, as the table's series name them. */
function latestDecisions(name: string): string[] {
  const latest = new Map((finalStatus.get(name)?.decisions ?? []).map((d) => [d.action, d.reason]));
  return [...latest].map(([action, reason]) => `{action="${action}", reason="${reason}"}`);
}

function releaseExpectations(release: 'reviews' | 'ratings'): Expected {
  const reviews = release === 'reviews';
  const metrics = reviews ? ['error-ratio', 'slow-ratio'] : ['error-ratio'];
  const sides = (suffix = '') => [`canary v2${suffix}`, `stable v1${suffix}`];
  const verdicts = reviews ? ['Pass'] : ['Fail'];
  const expected: Expected = {
    'variable "namespace"': [NAMESPACE],
    'variable "release"': ['ratings', 'reviews'],
    'variable "service"': [release],
    'variable "revision_label"': [reviews ? 'destination_canonical_revision' : 'destination_version'],
    'variable "reporter"': [reviews ? 'destination' : 'source'],
    'variable "metric"': metrics,
    'variable "sequential_metric"': reviews ? [] : ['error-ratio'],
    'annotation "Decisions"': actionsOf(release, false),
    'annotation "Rollbacks and failures"': actionsOf(release, true),
    // the overview lists every release, whichever is selected
    'panel "Releases" query A': [
      `{name="ratings", namespace="${NAMESPACE}", phase="RolledBack"}`,
      `{name="reviews", namespace="${NAMESPACE}", phase="Succeeded"}`,
    ],
    'panel "Releases" query B': [
      `{name="ratings", namespace="${NAMESPACE}"}`,
      `{name="reviews", namespace="${NAMESPACE}"}`,
    ],
    'panel "Releases" query C': [
      `{name="ratings", namespace="${NAMESPACE}"}`,
      `{name="reviews", namespace="${NAMESPACE}"}`,
    ],
    'panel "Releases" query D': [
      `{action="Rollback", name="ratings", namespace="${NAMESPACE}"}`,
      `{action="Succeed", name="reviews", namespace="${NAMESPACE}"}`,
    ],
    'panel "Phase" query A': ['phase'],
    'panel "Canary weight: desired, actual and measured" query A': ['desired'],
    'panel "Canary weight: desired, actual and measured" query B': ['actual'],
    'panel "Canary weight: desired, actual and measured" query C': ['measured share of requests'],
    'panel "Requests per second: canary and stable" query A': ['canary v2'],
    'panel "Requests per second: canary and stable" query B': ['stable v1'],
    'panel "5xx ratio: canary and stable" query A': ['canary v2'],
    'panel "5xx ratio: canary and stable" query B': ['stable v1'],
    'panel "Latency p50 and p99: canary and stable" query A': [sides(' p50')[0]!],
    'panel "Latency p50 and p99: canary and stable" query B': [sides(' p50')[1]!],
    'panel "Latency p50 and p99: canary and stable" query C': [sides(' p99')[0]!],
    'panel "Latency p50 and p99: canary and stable" query D': [sides(' p99')[1]!],
    'panel "Verdict per metric" query A': metrics,
    'panel "Requests the judge counted" query A': metrics.flatMap((m) => [
      `${m} canary requests`,
      `${m} stable requests`,
    ]),
    'panel "Requests the judge counted" query B': metrics.flatMap((m) => [
      `${m} canary errors`,
      `${m} stable errors`,
    ]),
    'panel "Requests the judge counted" query C': reviews
      ? ['slow-ratio canary slow', 'slow-ratio stable slow']
      : [],
    'panel "Latest decision of each action" query A': latestDecisions(release),
    'panel "Analysis verdicts" query A': verdicts,
  };
  for (const m of metrics) {
    expected[`panel "${m}: canary, stable and bound" query A`] = ['canary', 'stable'];
    // a sequential judge has no bound: its e-value and threshold have panels of their own
    expected[`panel "${m}: canary, stable and bound" query B`] = reviews ? ['bound'] : [];
  }
  if (!reviews) {
    expected['panel "error-ratio: e-value against threshold" query A'] = ['e-value'];
    expected['panel "error-ratio: e-value against threshold" query B'] = ['threshold'];
    for (const [refId, legend] of [
      ['A', 'ratio'],
      ['B', 'low'],
      ['C', 'high'],
    ]) {
      expected[`panel "error-ratio: canary/stable rate ratio and its always-valid interval" query ${refId}`] =
        [legend!];
    }
  }
  return expected;
}

describe('the Canary releases dashboard on a real rollout', () => {
  it('reached the ends the scenario is for: reviews promoted, ratings rolled back', () => {
    expect(finalStatus.get('reviews')?.phase).toBe('Succeeded');
    expect(finalStatus.get('ratings')?.phase).toBe('RolledBack');
  });

  it.each(['reviews', 'ratings'] as const)(
    'with %s picked, every variable, panel and annotation returns the series it should',
    async (release) => {
      const grafana = settings({ namespace: NAMESPACE, release });
      const run = await runDashboard(dashboardJson(RELEASES), grafana);
      expect(await compare(run, releaseExpectations(release), grafana)).toEqual([]);
    },
  );

  it('show the weights canaria set, read back and the traffic followed', async () => {
    const run = await runDashboard(
      dashboardJson(RELEASES),
      settings({ namespace: NAMESPACE, release: 'ratings' }),
    );
    const last = (where: string) => run.queries.find((q) => q.where === where)?.series[0]?.last;
    // rolled back: the desired and the actual weight are 0 again
    expect(last('panel "Canary weight: desired, actual and measured" query A')).toBe(0);
    expect(last('panel "Canary weight: desired, actual and measured" query B')).toBe(0);
    // the failing canary's 5xx ratio, as Istio reported it, is far above the stable's
    const ratio = (refId: string) =>
      Math.max(
        ...(run.queries
          .find((q) => q.where === `panel "error-ratio: canary, stable and bound" query ${refId}`)
          ?.series.map((s) => s.last ?? 0) ?? []),
      );
    expect(ratio('A')).toBeGreaterThan(0.1);
  });

  it('names the panel and the label when a panel queries a label the series lack', async () => {
    const json = dashboardJson(RELEASES) as {
      panels: { title: string; targets?: { refId: string; expr: string }[] }[];
    };
    const requests = json.panels.find((p) => p.title === 'Requests per second: canary and stable')!
      .targets![0]!;
    requests.expr = requests.expr.replace('destination_service_name=', 'destination_service=');
    const grafana = settings({ namespace: NAMESPACE, release: 'reviews' });
    const problems = await compare(
      await runDashboard(json, grafana),
      releaseExpectations('reviews'),
      grafana,
    );
    expect(problems).toEqual([
      'panel "Requests per second: canary and stable" query A queries the label destination_service, which no series of istio_requests_total carries',
      expect.stringMatching(
        /^panel "Requests per second: canary and stable" query A returns \[\], not \["canary v2"\]: istio_requests_total\{.*destination_service=~"reviews"\} finds no series; without destination_service=~"reviews" it would \(destination_service: no such label\)$/,
      ),
    ]);
  });
});

describe('the canaria controller dashboard on the same rollout', () => {
  it('returns the series of every panel: reconciles, queue, API and Prometheus calls, process', async () => {
    const grafana = settings();
    const run = await runDashboard(dashboardJson('canaria-controller.json'), grafana);
    const instance = `127.0.0.1:${telemetry.port}`;
    const kubeMethods = ['DELETE', 'GET', 'PATCH', 'POST', 'PUT'];
    const expected: Expected = {
      'variable "instance"': [instance],
      'panel "Reconciles per second" query A': ['reconciles'],
      'panel "Failed reconciles" query A': ['failed'],
      'panel "Queue depth" query A': ['queued'],
      'panel "Releases by phase" query A': [
        'Failed',
        'Initializing',
        'Paused',
        'Progressing',
        'Promoting',
        'RolledBack',
        'Succeeded',
      ],
      'panel "Reconciles per second by result" query A': ['error', 'ok'],
      'panel "Reconcile latency" query A': ['p50'],
      'panel "Reconcile latency" query B': ['p90'],
      'panel "Reconcile latency" query C': ['p99'],
      'panel "Reconcile latency" query D': ['mean'],
      'panel "Queue depth per replica" query A': [instance],
      'panel "Errors" query A': ['failed reconciles'],
      'panel "Errors" query B': ['analyses without an answer from the metrics backend'],
      // the in-memory cluster makes no API calls: the series are there, at 0
      'panel "API server calls per second" query A': kubeMethods,
      'panel "API server errors per second" query A': [
        'Conflict',
        'Forbidden',
        'Invalid',
        'NotFound',
        'Timeout',
        'Unavailable',
      ],
      'panel "API server call latency" query A': kubeMethods.map((m) => `${m} p50`),
      'panel "API server call latency" query B': kubeMethods.map((m) => `${m} p99`),
      'panel "Prometheus queries per second" query A': ['query', 'query_range'],
      'panel "Prometheus errors per second" query A': [
        'Ambiguous',
        'BadQuery',
        'Malformed',
        'Timeout',
        'Unreachable',
      ],
      'panel "Prometheus query latency" query A': ['query p50', 'query_range p50'],
      'panel "Prometheus query latency" query B': ['query p99', 'query_range p99'],
      'panel "Analysis results" query A': ['Error', 'Fail', 'Inconclusive', 'Pass'],
      'panel "Decisions" query A': [
        'Advance',
        'Fail',
        'Hold',
        'Ignore',
        'Initialize',
        'Pause',
        'Promote',
        'Restart',
        'Resume',
        'Revert',
        'Rollback',
        'Start',
        'Succeed',
      ],
      'panel "CPU" query A': [instance],
      'panel "Memory" query A': [`${instance} resident`],
      'panel "Memory" query B': [`${instance} heap used`],
      'panel "Event loop lag p99" query A': [instance],
    };
    expect(await compare(run, expected, grafana)).toEqual([]);
    // the analyses really asked Prometheus
    const queries = run.queries.find((q) => q.where === 'panel "Prometheus queries per second" query A');
    expect(queries?.series.find((s) => s.legend === 'query')?.max).toBeGreaterThan(0);
  });
});
