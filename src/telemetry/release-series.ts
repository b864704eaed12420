import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { VERDICTS, type MetricEvidence } from '../api/canary-release.js';

/**
 * The per-release series, kept out of prom-client. At 10,000 releases they are some 260,000 series:
 * prom-client keeps each one as a labelled object in a hash map (memory) and renders a registry in
 * one go (3 s without a turn of the event loop at 500,000 series). Here a release is one small
 * immutable record, rebuilt by each reconcile, and a scrape renders the records in slices with a
 * turn of the event loop between two slices, so reconciles and watch events go on during a scrape.
 * A scrape renders the records as they were when it started: each family shows the same releases.
 *
 * The families still register with the prom-client registry, as collectors, so that
 * `registry.metrics()` (tests), `getMetricsAsJSON()` (the dashboards check) and the help texts see
 * every metric; /metrics renders through `exposition()`, whose output is byte for byte what
 * `registry.metrics()` would give.
 */

export type Labels = Record<string, string>;

/** One side's numbers of a metric in the latest analysis; absent ones are no series. */
export interface SideNumbers {
  value?: number | null | undefined;
  total?: number | undefined;
  errors?: number | undefined;
  slow?: number | undefined;
}

/** What canaria exposes of one metric of a release's latest analysis (the evidence, without its prose). */
export interface MetricNumbers {
  metric: string;
  verdict: string;
  bound?: number | undefined;
  canary: SideNumbers;
  stable?: SideNumbers | undefined;
  sequential?:
    | {
        eValue?: number | null | undefined;
        threshold?: number | null | undefined;
        ratio?: number | null | undefined;
        ratioLow?: number | null | undefined;
        ratioHigh?: number | null | undefined;
      }
    | undefined;
}

/** A decision-time series: the latest decision of one action. */
export interface Decided {
  action: string;
  reason: string;
  seconds: number;
}

/** What one release exposes. Immutable: a scrape that holds a record renders one consistent view of it. */
export interface ReleaseRecord {
  readonly release: Readonly<{ namespace: string; name: string }>;
  /** `release` as exposition labels, formatted once. */
  readonly releaseLabels: string;
  /** The info series' labels besides namespace and name. */
  readonly info: Readonly<Labels>;
  readonly weight: number;
  readonly actualWeight: number | undefined;
  readonly phase: string | undefined;
  readonly decided: readonly Decided[];
  readonly metrics: readonly MetricNumbers[];
  /** Analyses counted since the process first saw the release, per verdict in the order of VERDICTS. */
  readonly analyses: readonly number[];
}

/** The numbers of a metric's evidence that have series: the rule and the query stay in the status. */
export function numbersOf(evidence: MetricEvidence): MetricNumbers {
  const side = (s: MetricEvidence['stable']): SideNumbers | undefined =>
    s && { value: s.value, total: s.total, errors: s.errors, slow: s.slow };
  const seq = evidence.sequential;
  return {
    metric: evidence.metric,
    verdict: evidence.verdict,
    bound: evidence.bound,
    canary: side(evidence.canary) ?? {},
    stable: side(evidence.stable),
    sequential: seq && {
      eValue: seq.eValue,
      threshold: seq.threshold,
      ratio: seq.ratio,
      ratioLow: seq.ratioLow,
      ratioHigh: seq.ratioHigh,
    },
  };
}

interface Sample {
  labels: Labels;
  value: number;
}
/** Emits one sample of a release: its labels besides namespace and name, and its value. */
type Emit = (labels: Labels | undefined, value: number) => void;

/** A release's namespace and name as exposition labels. */
export const formatRelease = (release: { namespace: string; name: string }): string =>
  formatLabels({ namespace: release.namespace, name: release.name });

const ROLES = ['canary', 'stable'] as const;

/** Emits a sample of a number the judge had; an unknown one is no series, not a zero that looks measured. */
function known(emit: Emit, labels: Labels | undefined, value: number | null | undefined): void {
  if (value !== undefined && value !== null && !Number.isNaN(value)) emit(labels, value);
}

const perMetric =
  (pick: (m: MetricNumbers) => number | null | undefined) =>
  (r: ReleaseRecord, emit: Emit): void => {
    for (const m of r.metrics) known(emit, { metric: m.metric }, pick(m));
  };

const perSide =
  (pick: (side: SideNumbers) => number | null | undefined) =>
  (r: ReleaseRecord, emit: Emit): void => {
    for (const m of r.metrics)
      for (const role of ROLES) {
        const side = m[role];
        if (side) known(emit, { metric: m.metric, role }, pick(side));
      }
  };

/**
 * A metric family of per-release series. It has the shape prom-client's registry reads of a metric
 * (name, help, type, get), so it registers as one.
 */
export class ReleaseFamily {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'gauge' | 'counter',
    private readonly records: () => Iterable<ReleaseRecord>,
    private readonly samples: (record: ReleaseRecord, emit: Emit) => void,
  ) {}

  /** prom-client's view: every sample at once. */
  get(): Promise<{ name: string; help: string; type: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const r of this.records())
      this.samples(r, (labels, value) => values.push({ labels: { ...r.release, ...labels }, value }));
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
    });
  }

  /** Appends the exposition lines of one release's series to `out`. */
  lines(record: ReleaseRecord, out: string[]): void {
    const head = `${this.name}{${record.releaseLabels}`;
    this.samples(record, (labels, value) =>
      out.push(`${head}${labels ? `,${formatLabels(labels)}` : ''}} ${formatValue(value)}`),
    );
  }
}

/** The per-release families, in the order they register. */
export function releaseFamilies(records: () => Iterable<ReleaseRecord>): ReleaseFamily[] {
  const family = (
    name: string,
    help: string,
    samples: (r: ReleaseRecord, emit: Emit) => void,
    type: 'gauge' | 'counter' = 'gauge',
  ) => new ReleaseFamily(name, help, type, records, samples);
  return [
    family(
      'canaria_release_info',
      'A release and what it routes, always 1: the Service, the router, the revision label values Istio ' +
        'reports for the stable and the canary side (join them with istio_requests_total), the revision ' +
        'label and the reporter the analysis counts',
      (r, emit) => {
        emit(r.info, 1);
      },
    ),
    family('canaria_release_weight', 'Desired canary weight of a release, in percent', (r, emit) => {
      emit(undefined, r.weight);
    }),
    family(
      'canaria_release_actual_weight',
      'Canary weight read back from the VirtualService, in percent',
      (r, emit) => {
        known(emit, undefined, r.actualWeight);
      },
    ),
    family(
      'canaria_release_phase',
      'Phase of a release: one series, of value 1, labelled with its current phase',
      (r, emit) => {
        if (r.phase !== undefined) emit({ phase: r.phase }, 1);
      },
    ),
    family(
      'canaria_release_decision_timestamp_seconds',
      'When a release last took a decision of each action, in seconds since the epoch, with its reason',
      (r, emit) => {
        for (const d of r.decided) emit({ action: d.action, reason: d.reason }, d.seconds);
      },
    ),
    family(
      'canaria_analysis_metric_value',
      "A metric's value in the latest analysis, per side (role canary or stable), in the metric's own unit",
      perSide((s) => s.value),
    ),
    family(
      'canaria_analysis_metric_bound',
      'The bound the judge held the canary to in the latest analysis, in the unit of the value',
      perMetric((m) => m.bound),
    ),
    family(
      'canaria_analysis_metric_verdict',
      "A metric's verdict in the latest analysis: one series, of value 1, labelled with the verdict",
      (r, emit) => {
        for (const m of r.metrics) emit({ metric: m.metric, verdict: m.verdict }, 1);
      },
    ),
    family(
      'canaria_analysis_metric_requests',
      'Requests the judge counted in the window of the latest analysis, per side',
      perSide((s) => s.total),
    ),
    family(
      'canaria_analysis_metric_errors',
      'Failed requests the judge counted in the window of the latest analysis, per side',
      perSide((s) => s.errors),
    ),
    family(
      'canaria_analysis_metric_slow_requests',
      'Requests over the latency bound the judge counted in the window of the latest analysis, per side',
      perSide((s) => s.slow),
    ),
    family(
      'canaria_analysis_metric_e_value',
      'Sequential judge: evidence against "the canary is as good as stable"; it fails at the threshold',
      perMetric((m) => m.sequential?.eValue),
    ),
    family(
      'canaria_analysis_metric_e_value_threshold',
      'Sequential judge: the e-value at which the canary fails (1/alpha)',
      perMetric((m) => m.sequential?.threshold),
    ),
    family(
      'canaria_analysis_metric_rate_ratio',
      "Sequential judge: the canary's rate over the stable's",
      perMetric((m) => m.sequential?.ratio),
    ),
    family(
      'canaria_analysis_metric_rate_ratio_low',
      'Sequential judge: lower end of the always-valid confidence interval of the rate ratio',
      perMetric((m) => m.sequential?.ratioLow),
    ),
    family(
      'canaria_analysis_metric_rate_ratio_high',
      'Sequential judge: upper end of the always-valid confidence interval of the rate ratio',
      perMetric((m) => m.sequential?.ratioHigh),
    ),
    family(
      'canaria_analysis_total',
      'Analyses run per release, by verdict',
      (r, emit) => {
        VERDICTS.forEach((result, i) => {
          emit({ result }, r.analyses[i] ?? 0);
        });
      },
      'counter',
    ),
  ];
}

/**
 * A slice ends at whichever comes first: a millisecond or two's worth of lines, or 5 ms (a slow or
 * busy machine), so that a scrape never holds the event loop for long.
 */
export const SLICE = { lines: 1000, ms: 5 };

/**
 * The exposition of `registry` in slices, with a turn of the event loop after each: its prom-client
 * metrics (small, process-wide) one metric a slice, its release families a `slice` at a time, all of
 * them from `records`. Joined, the slices are what `registry.metrics()` renders (the registry
 * has no default labels: they would be prom-client's alone).
 */
export async function* renderSliced(
  registry: Registry,
  records: readonly ReleaseRecord[],
  slice = SLICE,
): AsyncGenerator<string> {
  const metrics = registry.getMetricsAsArray() as unknown[];
  for (const [i, metric] of metrics.entries()) {
    const last = i === metrics.length - 1;
    const separator = last ? '\n' : '\n\n';
    if (!(metric instanceof ReleaseFamily)) {
      yield (await registry.getSingleMetricAsString((metric as { name: string }).name)) + separator;
      await nextTurn();
      continue;
    }
    const lines = [
      `# HELP ${metric.name} ${escapeHelp(metric.help)}`,
      `# TYPE ${metric.name} ${metric.type}`,
    ];
    let started = performance.now();
    for (const record of records) {
      metric.lines(record, lines);
      if (lines.length < slice.lines && performance.now() - started < slice.ms) continue;
      // a slice that took its time over releases without a series of this family has nothing to say
      if (lines.length) yield `${lines.join('\n')}\n`;
      lines.length = 0;
      await nextTurn();
      started = performance.now();
    }
    yield lines.length ? lines.join('\n') + separator : separator.slice(1);
    await nextTurn();
  }
}

// the text format's escaping, as prom-client does it
const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const SPECIAL = /[\\\n"]/;
const escapeLabel = (value: string): string =>
  SPECIAL.test(value) ? escapeHelp(value).replace(/"/g, '\\"') : value;

function formatLabels(labels: Labels): string {
  let out = '';
  for (const key in labels) out += `${out ? ',' : ''}${key}="${escapeLabel(labels[key] ?? '')}"`;
  return out;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return String(value);
}
