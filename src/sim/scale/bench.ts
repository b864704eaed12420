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
  now(): number {
    return this.base + (performance.now() - this.realAtBase);
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
  scrapeMs: number;
  scrapeSeries: number;
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
    measurer: new MeasureBatcher(provider),
    clock: () => new Date(clock.now()),
    logger,
    metrics,
  });
  let reconciles = 0;
  const reconcile = reconciler.reconcile.bind(reconciler);
  reconciler.reconcile = (key) => {
    reconciles++;
    return reconcile(key);
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
  const start = clock.now();
  for (let interval = 1; interval <= count; interval++) {
    const end = start + interval * INTERVAL_MS;
    let first = true;
    for (let next = clock.nextDue(); next !== undefined && next <= end; next = clock.nextDue()) {
      clock.advanceTo(next);
      if (interval === count && first) {
        // behind the analyses that just came due: the case where a user most needs a fast abort
        abortQueuedBehind = controller.queue.depth;
        await askAborts(kube, options.aborts ?? 20, options.releases, perNamespace, aborted);
      }
      first = false;
      await controller.queue.idle();
    }
    clock.advanceTo(end);
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

  const scrapeStart = performance.now();
  const exposition = await metrics.registry.metrics();
  const scrapeMs = performance.now() - scrapeStart;
  await controller.stop();
  return {
    releases: options.releases,
    namespaces,
    setup,
    intervals,
    abortMs,
    abortQueuedBehind,
    scrapeMs,
    scrapeSeries: exposition.split('\n').filter((line) => line && !line.startsWith('#')).length,
  };
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
