import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Controller } from '../../controller/controller.js';
import { MeasureBatcher } from '../../controller/measure-batcher.js';
import type { Timers } from '../../controller/queue.js';
import { Reconciler } from '../../controller/reconciler.js';
import type { KubePort } from '../../kube/port.js';
import type { MemoryKube } from '../../kube/memory.js';
import { refKey, type KubeObject } from '../../kube/resources.js';
import { PrometheusProvider } from '../../metrics/prometheus-provider.js';
import type { MetricsProvider } from '../../metrics/provider.js';
import { silentLogger } from '../../telemetry/logger.js';
import { ControllerMetrics } from '../../telemetry/metrics.js';
import { startTelemetryServer } from '../../telemetry/server.js';
import { instantPrometheus } from './instant-prometheus.js';
import { namespaceOf, scaleWorld, serviceOf, type ScaleWorldOptions } from './world.js';

/**
 * Timers on a virtual clock that also moves with real time: the benchmark jumps from one due timer
 * to the next instead of waiting out the minute, but the reconciles between two jumps take the time
 * they take, so each one sees its own `now` as it would with a real clock (which is what keeps
 * Prometheus queries of different reconciles apart).
 */
class BenchClock implements Timers {
  private base: number;
  private realAtBase = performance.now();
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  private nextId = 0;

  constructor(start: number) {
    this.base = start;
  }
  /** Whole milliseconds, as Date.now() gives them. */
  now(): number {
    return this.base + Math.floor(performance.now() - this.realAtBase);
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.nextId;
    this.pending.set(id, { at: this.now() + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  nextDue(): number | undefined {
    let next: number | undefined;
    for (const { at } of this.pending.values()) if (next === undefined || at < next) next = at;
    return next;
  }
  /** Jumps to `time` (never back) and fires, in time order, every timer due by then. */
  advanceTo(time: number): void {
    const now = this.now();
    if (time > now) {
      this.base = time;
      this.realAtBase = performance.now();
    }
    const due = [...this.pending.entries()]
      .filter(([, t]) => t.at <= this.now())
      .sort(([, a], [, b]) => a.at - b.at);
    for (const [id, { fn }] of due) {
      this.pending.delete(id);
      fn();
    }
  }
}

/** Counts reads of the cache: a reconcile that reads less does less. */
function countingReads(kube: MemoryKube): {
  port: KubePort;
  reads: { get: number; list: number; listed: number };
} {
  const reads = { get: 0, list: 0, listed: 0 };
  const port: KubePort = {
    get: (kind, ref) => {
      reads.get++;
      return kube.get(kind, ref);
    },
    list: (kind, namespace) => {
      reads.list++;
      const out = kube.list(kind, namespace);
      reads.listed += out.length;
      return out;
    },
    patch: (kind, ref, ops) => kube.patch(kind, ref, ops),
    create: (kind, object) => kube.create(kind, object),
    delete: (kind, ref) => kube.delete(kind, ref),
    writeReleaseStatus: (ref, status) => kube.writeReleaseStatus(ref, status),
    recordEvent: (release, event) => kube.recordEvent(release, event),
    watch: (handler) => kube.watch(handler),
    synced: () => kube.synced(),
  };
  return { port, reads };
}

export interface IntervalFigures {
  interval: number;
  cpuSeconds: number;
  wallSeconds: number;
  reconciles: number;
  kubeReadsPerReconcile: number;
  objectsListedPerReconcile: number;
  statusWritesPerRelease: number;
  patchesPerRelease: number;
  eventsPerRelease: number;
  prometheusQueries: number;
  /** Queries per namespace and metric type: the target is 1. */
  queriesPerNamespaceAndType: number;
  meanBatchSize: number;
  maxBatchSize: number;
  heapMiB: number;
  rssMiB: number;
}

export interface ScaleFigures {
  releases: number;
  namespaces: number;
  setup: IntervalFigures;
  intervals: IntervalFigures[];
  /** Real milliseconds from an abort request to weight 0 in the VirtualService, for each abort. */
  abortMs: number[];
  /** Queue depth when the aborts were asked for. */
  abortQueuedBehind: number;
  scrape: ScrapeFigures;
}

export interface ScrapeFigures {
  /** From the request to the last byte of the body (the scraper's start included, some 50 ms). */
  ms: number;
  series: number;
  /** Series that carry a release's namespace and name, per release. */
  seriesPerRelease: number;
  /** The longest the event loop went without a turn while the scrape ran, in wall time. */
  longestBlockMs: number;
  /** The CPU time the event loop's thread used over its longest stretch without a turn. */
  longestBlockCpuMs: number;
  bytes: number;
}

export interface ScaleBenchOptions extends Partial<ScaleWorldOptions> {
  releases: number;
  intervals?: number;
  concurrency?: number;
  aborts?: number;
}

const INTERVAL_MS = 60_000;
/** Metric types the S1 policy measures: request counts (error-ratio) and a quantile (latency-p99). */
const METRIC_TYPES = 2;

/** Runs the real controller path over `intervals` analysis intervals and reports what each one cost. */
export async function runScaleBench(options: ScaleBenchOptions): Promise<ScaleFigures> {
  const perNamespace = options.perNamespace ?? 100;
  const kube = scaleWorld({
    releases: options.releases,
    perNamespace,
    realisticObjects: options.realisticObjects ?? true,
  });
  const namespaces = Math.ceil(options.releases / perNamespace);
  const clock = new BenchClock(Date.parse('2026-12-01T10:00:00Z'));
  kube.clock = () => new Date(clock.now());
  const { port, reads } = countingReads(kube);
  const prometheus = instantPrometheus();
  const batches: number[] = [];
  const real = new PrometheusProvider(prometheus);
  const provider: MetricsProvider = {
    measure: (requests, signal) => {
      batches.push(requests.length);
      return real.measure(requests, signal);
    },
  };
  const metrics = new ControllerMetrics();
  const logger = silentLogger();
  const reconciler = new Reconciler({
    kube: port,
    measurer: new MeasureBatcher(provider, undefined, undefined, clock),
    clock: () => new Date(clock.now()),
    logger,
    metrics,
    // as run.ts sets it for the default 1-minute Prometheus window granularity
    queryGranuleMs: 60_000,
  });
  let reconciles = 0;
  const reconcile = reconciler.reconcile.bind(reconciler);
  reconciler.reconcile = (key, run) => {
    reconciles++;
    return reconcile(key, run);
  };
  const controller = new Controller({
    kube: port,
    reconciler,
    logger,
    metrics,
    concurrency: options.concurrency ?? 8,
    timers: clock,
  });

  let mark = {
    cpu: process.cpuUsage(),
    wall: performance.now(),
    reconciles: 0,
    reads: { ...reads },
    calls: { ...kube.calls },
  };
  const figures = (interval: number): IntervalFigures => {
    const cpu = process.cpuUsage(mark.cpu);
    const n = reconciles - mark.reconciles || 1;
    const memory = process.memoryUsage();
    const perRelease = (verb: keyof MemoryKube['calls']) =>
      (kube.calls[verb] - mark.calls[verb]) / options.releases;
    const out: IntervalFigures = {
      interval,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      wallSeconds: (performance.now() - mark.wall) / 1000,
      reconciles: reconciles - mark.reconciles,
      kubeReadsPerReconcile: (reads.get + reads.list - mark.reads.get - mark.reads.list) / n,
      objectsListedPerReconcile: (reads.listed - mark.reads.listed) / n,
      statusWritesPerRelease: perRelease('status'),
      patchesPerRelease: perRelease('patch'),
      eventsPerRelease: perRelease('event'),
      prometheusQueries: prometheus.log.queries,
      queriesPerNamespaceAndType: prometheus.log.queries / (namespaces * METRIC_TYPES),
      meanBatchSize: batches.length ? batches.reduce((a, b) => a + b, 0) / batches.length : 0,
      maxBatchSize: batches.length ? Math.max(...batches) : 0,
      heapMiB: memory.heapUsed / 2 ** 20,
      rssMiB: memory.rss / 2 ** 20,
    };
    prometheus.reset();
    batches.length = 0;
    mark = {
      cpu: process.cpuUsage(),
      wall: performance.now(),
      reconciles,
      reads: { ...reads },
      calls: { ...kube.calls },
    };
    return out;
  };

  controller.start();
  await controller.queue.idle();
  const setup = figures(0);

  const aborted = new Map<string, number>();
  const abortMs: number[] = [];
  const stopWatching = kube.watch((kind, object) => {
    if (kind !== 'VirtualService') return;
    const key = refKey({ namespace: object.metadata.namespace ?? '', name: object.metadata.name });
    const askedAt = aborted.get(key);
    if (askedAt !== undefined && canaryWeightOf(object) === 0) {
      abortMs.push(performance.now() - askedAt);
      aborted.delete(key);
    }
  });
  let abortQueuedBehind = 0;
  const intervals: IntervalFigures[] = [];
  const count = options.intervals ?? 3;
  // intervals from the middle of one minute to the middle of the next: each holds one burst of
  // analyses, due on the minute, with half a minute to finish what that set going (the first is longer)
  const start = Math.ceil((clock.now() - INTERVAL_MS / 2) / INTERVAL_MS) * INTERVAL_MS + INTERVAL_MS / 2;
  for (let interval = 1; interval <= count; interval++) {
    const end = start + interval * INTERVAL_MS;
    let asked = false;
    for (let next = clock.nextDue(); next !== undefined && next <= end; next = clock.nextDue()) {
      clock.advanceTo(next);
      if (interval === count && !asked && controller.queue.depth >= options.releases / 2) {
        // behind the analyses that just came due: the case where a user most needs a fast abort
        asked = true;
        abortQueuedBehind = controller.queue.depth;
        await askAborts(kube, options.aborts ?? 20, options.releases, perNamespace, aborted);
      }
      await controller.queue.idle();
    }
    if (interval === count && !asked)
      throw new Error(`the analyses of interval ${interval} never came due together: no abort was asked`);
    clock.advanceTo(end);
    // what that set going finishes in this interval, not in the next one's figures (or in none)
    await controller.queue.idle();
    intervals.push(figures(interval));
  }
  stopWatching();
  // a benchmark of releases that stopped rolling out would flatter the controller
  const stuck = kube
    .list('CanaryRelease')
    .filter(
      (r) =>
        !['Progressing', 'RolledBack'].includes((r.status as { phase?: string } | undefined)?.phase ?? ''),
    );
  if (stuck.length) {
    const [first] = stuck;
    throw new Error(
      `${stuck.length} releases are not rolling out, e.g. ${first?.metadata.name}: ${JSON.stringify((first?.status as { message?: string } | undefined)?.message)}`,
    );
  }

  const scrape = await scrapeOnce(metrics, options.releases);
  await controller.stop();
  return {
    releases: options.releases,
    namespaces,
    setup,
    intervals,
    abortMs,
    abortQueuedBehind,
    scrape,
  };
}

/**
 * What Prometheus does with the body, in a process of its own so that reading it does not count as
 * the controller's: counts the series, and those that carry a release's namespace and name.
 */
const SCRAPER = `
const [url] = process.argv.slice(1);
require('node:http').get(url, (res) => {
  res.setEncoding('utf8');
  const counted = { series: 0, ofReleases: 0, bytes: 0 };
  let partial = '';
  res.on('data', (chunk) => {
    counted.bytes += chunk.length;
    const lines = (partial + chunk).split('\\n');
    partial = lines.pop();
    for (const line of lines) {
      if (!line || line.startsWith('#')) continue;
      counted.series++;
      if (line.includes('{namespace="')) counted.ofReleases++;
    }
  });
  res.on('end', () => process.stdout.write(JSON.stringify(counted)));
}).on('error', (err) => { console.error(err); process.exit(1); });
`;

const SCHEDSTAT = '/proc/thread-self/schedstat';
const hasSchedstat = existsSync(SCHEDSTAT);

/**
 * CPU time of the thread that runs the event loop, in ms: on Linux its own (the first field of
 * schedstat, in ns), which leaves out the garbage collector's helper threads; elsewhere the process'.
 */
function mainThreadCpuMs(): number {
  if (hasSchedstat) return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6;
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * One GET /metrics through the telemetry server, from another process as Prometheus would make it,
 * while a setImmediate loop notes the longest stretch between two turns of the event loop: how long
 * the scrape kept reconciles and watch events waiting. In wall time, and in the CPU time the event
 * loop's thread used over that stretch, which on a busy machine leaves out the time it waited for a
 * core.
 */
async function scrapeOnce(metrics: ControllerMetrics, releases: number): Promise<ScrapeFigures> {
  const server = await startTelemetryServer({
    port: 0,
    host: '127.0.0.1',
    metrics,
    ready: () => true,
    logger: silentLogger(),
  });
  const longest = { wallMs: 0, cpuMs: 0 };
  let scraping = true;
  let last = { wall: performance.now(), cpu: mainThreadCpuMs() };
  const tick = () => {
    const now = { wall: performance.now(), cpu: mainThreadCpuMs() };
    longest.wallMs = Math.max(longest.wallMs, now.wall - last.wall);
    longest.cpuMs = Math.max(longest.cpuMs, now.cpu - last.cpu);
    last = now;
    if (scraping) setImmediate(tick);
  };
  try {
    const start = performance.now();
    const scraper = spawn(process.execPath, ['-e', SCRAPER, `http://127.0.0.1:${server.port}/metrics`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // from here on: forking the scraper is the benchmark's doing, not the scrape's
    last = { wall: performance.now(), cpu: mainThreadCpuMs() };
    setImmediate(tick);
    let out = '';
    scraper.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const [code] = (await once(scraper, 'exit')) as [number | null];
    const ms = performance.now() - start;
    scraping = false;
    if (code !== 0) throw new Error(`the scrape failed (exit ${String(code)})`);
    const counted = JSON.parse(out) as { series: number; ofReleases: number; bytes: number };
    return {
      ms,
      series: counted.series,
      seriesPerRelease: counted.ofReleases / releases,
      longestBlockMs: longest.wallMs,
      longestBlockCpuMs: longest.cpuMs,
      bytes: counted.bytes,
    };
  } finally {
    scraping = false;
    await server.close();
  }
}

function canaryWeightOf(vs: KubeObject): number | undefined {
  const http = (vs.spec as { http?: { route?: { destination?: { subset?: string }; weight?: number }[] }[] })
    .http;
  return http?.[0]?.route?.find((r) => r.destination?.subset === 'v2')?.weight;
}

/** Aborts releases spread over the namespaces, as users would, and notes when each was asked. */
async function askAborts(
  kube: MemoryKube,
  aborts: number,
  releases: number,
  perNamespace: number,
  asked: Map<string, number>,
): Promise<void> {
  for (let a = 0; a < aborts; a++) {
    const i = Math.floor((a * releases) / aborts);
    const ref = { namespace: namespaceOf(i, perNamespace), name: serviceOf(i) };
    asked.set(refKey(ref), performance.now());
    await kube.patch('CanaryRelease', ref, [
      { op: 'add', path: '/spec/request', value: { action: 'Abort', id: `bench-${a}` } },
    ]);
  }
}
