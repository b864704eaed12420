import type { MetricEvidence, SequentialEvidence } from '../api/canary-release.js';
import { formatDuration } from '../api/duration.js';
import {
  actionColor,
  CHART_CSS,
  decades,
  escape,
  niceCeiling,
  renderChart,
  type Chart,
  type Point,
  type Series,
  type Shade,
} from './chart.js';
import { clock, describeHookCalls, describeNotification, expectedWait, words } from './render.js';
import type { AnalysisPoint, MetricInfo, SimulationResult, TimelineEntry } from './simulate.js';

/*
 * The HTML report of `canaria simulate --report`: one self-contained page (inline CSS and SVG, no
 * script, nothing fetched). It shows the traffic the canary got (the weights canaria set and the
 * share of requests the canary actually answered, with A/B stages and faults shaded and every
 * decision marked), each revision's error rate and latency, the requests behind the verdicts
 * against what the judges need, and each metric's evidence over time: for sequential judges the
 * e-value against its threshold, the pass evidence against what each step required and the rate
 * ratio with its always-valid interval; for relative and threshold judges the measured value beside
 * the judge's bound. Then the decisions with their reasons, and the summary.
 */

const PALETTE = ['#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const STABLE_COLOR = '#1f77b4';
const CANARY_COLOR = '#ff7f0e';
const SHARE_COLOR = '#6a3d9a';
const BOUND_COLOR = '#d62728';
const PASS_COLOR = '#2ca02c';
const REQUIRED_COLOR = '#555';

/** Stable blue, canary orange, anything else from the palette, the same in every chart. */
function revisionColors(result: SimulationResult): Map<string, string> {
  const colors = new Map([
    [result.stable.revision, STABLE_COLOR],
    [result.canary.revision, CANARY_COLOR],
  ]);
  let next = 0;
  for (const revision of Object.keys(result.series)) {
    if (!colors.has(revision)) colors.set(revision, PALETTE[next++ % PALETTE.length] ?? '#7f7f7f');
  }
  return colors;
}

function roleOf(result: SimulationResult, revision: string): string {
  if (revision === result.canary.revision) return `${revision} (canary)`;
  if (revision === result.stable.revision) return `${revision} (stable)`;
  const subset = result.subsets[revision];
  return subset
    ? `${revision} (${result.routedBy === 'HTTPRoute' ? 'Service' : 'subset'} ${subset})`
    : revision;
}

const rate = (errors: number, total: number): string =>
  total ? `${((100 * errors) / total).toFixed(2)}%` : '-';

/** A metric name as part of an element id. */
const slug = (name: string): string => name.toLowerCase().replace(/[^a-z0-9-]+/g, '-');

const evidenceOf = (a: AnalysisPoint, metric: string): MetricEvidence | undefined =>
  a.metrics.find((m) => m.metric === metric);

const seriesOf = (
  name: string,
  color: string,
  points: Point[],
  style: { dashed?: boolean; steps?: boolean } = {},
): Series => ({ name, color, points, ...style });

/** Stretches of time to shade: A/B stages, mirroring, faults. */
function shadesOf(result: SimulationResult): Shade[] {
  return [
    ...result.stages.map((s) => ({ kind: s.kind, fromX: s.fromMs, toX: s.toMs, label: s.label })),
    ...result.faults.map((f) => ({
      kind: 'fault' as const,
      fromX: f.fromMs,
      toX: f.toMs ?? result.durationMs,
      label: f.label,
    })),
  ];
}

function entryLabel(e: TimelineEntry): string {
  const held = e.count > 1 ? ` x${e.count} until ${clock(e.lastAtMs)}` : '';
  return `${clock(e.atMs)} ${e.decision.action}${held}: ${e.decision.message}`;
}

function trafficChart(result: SimulationResult, shades: Shade[]): Chart {
  return {
    id: 'chart-weights',
    title: `Traffic to ${result.canary.revision} (canary)`,
    note: `The weights canaria set and read back, and the share of requests the canary actually answered each minute${
      result.stages.some((s) => s.kind === 'match')
        ? ': during an A/B stage the weights stay at 0% while the test group reaches the canary'
        : ''
    }${result.stages.some((s) => s.kind === 'mirror') ? '; mirrored copies are not answers and do not count' : ''}.`,
    yTitle: '% of requests',
    unit: '%',
    scale: 'linear',
    xMax: result.durationMs,
    yMax: 100,
    shades,
    series: [
      seriesOf(
        'desired weight (release status)',
        '#555',
        result.weights.map((w) => ({ x: w.atMs, y: w.desired })),
        { dashed: true, steps: true },
      ),
      seriesOf(
        `actual weight (${result.routedBy})`,
        CANARY_COLOR,
        result.weights.map((w) => ({ x: w.atMs, y: w.actual })),
        { steps: true },
      ),
      seriesOf(
        'share the canary answered (per minute)',
        SHARE_COLOR,
        result.shares.map((s) => ({ x: s.atMs, y: s.total ? (100 * s.canary) / s.total : null })),
      ),
    ],
    markers: result.timeline.map((e) => ({
      x: e.atMs,
      y: e.actualWeight,
      action: e.decision.action,
      label: entryLabel(e),
    })),
  };
}

function revisionCharts(result: SimulationResult, shades: Shade[]): Chart[] {
  const colors = revisionColors(result);
  const revisions = Object.keys(result.series);
  const points = revisions.flatMap((r) => result.series[r] ?? []);
  const maxErrorRate = Math.max(0, ...points.map((p) => (p.errorRate ?? 0) * 100));
  const maxLatency = Math.max(0, ...points.map((p) => p.p99 ?? 0));
  return [
    {
      id: 'chart-errors',
      title: 'Error rate per revision (per minute)',
      yTitle: 'errors, % of requests',
      unit: '%',
      scale: 'linear',
      xMax: result.durationMs,
      yMax: niceCeiling(Math.max(maxErrorRate, 0.5) * 1.05),
      shades,
      series: revisions.map((r) =>
        seriesOf(
          `${roleOf(result, r)} error rate`,
          colors.get(r) ?? '#7f7f7f',
          (result.series[r] ?? []).map((p) => ({
            x: p.atMs,
            y: p.errorRate === null ? null : p.errorRate * 100,
          })),
        ),
      ),
    },
    {
      id: 'chart-latency',
      title: 'Latency per revision (histogram_quantile over Istio buckets, per minute)',
      yTitle: 'latency, ms',
      unit: ' ms',
      scale: 'linear',
      xMax: result.durationMs,
      yMax: niceCeiling(Math.max(maxLatency, 10) * 1.05),
      shades,
      series: revisions.flatMap((r) => [
        seriesOf(
          `${roleOf(result, r)} p99`,
          colors.get(r) ?? '#7f7f7f',
          (result.series[r] ?? []).map((p) => ({ x: p.atMs, y: p.p99 })),
        ),
        seriesOf(
          `${roleOf(result, r)} p50`,
          colors.get(r) ?? '#7f7f7f',
          (result.series[r] ?? []).map((p) => ({ x: p.atMs, y: p.p50 })),
          { dashed: true },
        ),
      ]),
    },
  ];
}

const REQUEST_TYPES = ['errorRatio', 'successRate', 'slowRatio'];

/**
 * The requests behind the verdicts: what each side served in the analysed window, against the
 * minSamples a judge over the step's window needs; and for sequential judges the canary's requests
 * this rollout against what the step needs before it may advance. Low traffic shows here first.
 */
function requestsChart(result: SimulationResult, shades: Shade[]): Chart | undefined {
  if (!result.analyses.length) return undefined;
  const x = (a: AnalysisPoint) => a.atMs;
  const minSamples = Math.max(
    0,
    ...result.metrics
      .filter((m) => m.window === 'step' && REQUEST_TYPES.includes(m.type))
      .map((m) => m.minSamples),
  );
  const sequential = result.metrics.find((m) => m.judge === 'sequential');
  const seq = (a: AnalysisPoint): SequentialEvidence | undefined =>
    sequential && evidenceOf(a, sequential.name)?.sequential;
  const series: Series[] = [
    seriesOf(
      'canary requests in the analysed window',
      CANARY_COLOR,
      result.analyses.map((a) => ({ x: x(a), y: a.requests.canary })),
    ),
    seriesOf(
      'stable requests in the analysed window',
      STABLE_COLOR,
      result.analyses.map((a) => ({ x: x(a), y: a.requests.stable })),
    ),
  ];
  if (minSamples > 0) {
    series.push(
      seriesOf(
        `minSamples ${minSamples} (fewer in the window: Inconclusive)`,
        BOUND_COLOR,
        result.analyses.map((a) => ({ x: x(a), y: minSamples })),
        { dashed: true },
      ),
    );
  }
  if (sequential) {
    series.push(
      seriesOf(
        `canary requests this rollout (${sequential.name})`,
        SHARE_COLOR,
        result.analyses.map((a) => ({ x: x(a), y: seq(a)?.canary.total ?? null })),
      ),
      seriesOf(
        'canary requests the step needs before it may advance',
        REQUIRED_COLOR,
        result.analyses.map((a) => {
          const s = seq(a);
          return { x: x(a), y: s && s.neededRequests !== null ? s.canary.total + s.neededRequests : null };
        }),
        { dashed: true, steps: true },
      ),
    );
  }
  const values = series.flatMap((s) => s.points.flatMap((p) => (p.y !== null && p.y > 0 ? [p.y] : [])));
  const { yMax } = decades(1, Math.max(10, ...values));
  return {
    id: 'chart-requests',
    title: 'Requests behind each analysis',
    note:
      minSamples > 0
        ? 'A judge over the step window needs minSamples requests from each side; below that the analysis is Inconclusive and the release holds.'
        : 'Sequential judges need no minimum per window: they add up the rollout, and hold each step until the canary has served enough requests to catch the stated regression.',
    yTitle: 'requests',
    unit: '',
    scale: 'log',
    yMin: 1,
    yMax,
    xMax: result.durationMs,
    shades,
    series,
  };
}

/** A sequential metric: the fail test's e-value, the pass evidence, the rate ratio. */
function sequentialCharts(result: SimulationResult, metric: MetricInfo, shades: Shade[]): Chart[] {
  const points = result.analyses.flatMap((a) => {
    const s = evidenceOf(a, metric.name)?.sequential;
    return s ? [{ x: a.atMs, s }] : [];
  });
  if (!points.length) return [];
  const id = `chart-${slug(metric.name)}`;
  const last = points.at(-1)?.s;
  const threshold = last?.threshold ?? 100;
  const eValues = points.map((p) => p.s.eValue).filter((v) => v > 0);
  const e = decades(
    Math.max(1e-6, Math.min(0.1, ...eValues)),
    Math.min(1e12, Math.max(threshold * 10, ...eValues)),
  );
  const ratios = points
    .flatMap((p) => [p.s.ratio, p.s.ratioLow, p.s.ratioHigh])
    .filter((v): v is number => v !== null && v > 0);
  const regression = last?.regression.ratio ?? 4;
  const margin = 1 + (last?.tolerance ?? 0);
  const r = decades(
    Math.max(1e-3, Math.min(0.1, ...ratios)),
    Math.min(1e4, Math.max(regression * 2.5, ...ratios)),
  );
  const base = { xMax: result.durationMs, shades };
  return [
    {
      ...base,
      id: `${id}-evalue`,
      title: `${metric.name}: evidence that the canary is worse than stable (e-value)`,
      note: `Rolls back when the e-value reaches ${threshold} (1/alpha, alpha ${last?.alpha ?? ''}); however often it is looked at, a canary no worse than stable x ${margin} gets there with probability at most alpha.`,
      yTitle: 'e-value',
      unit: '',
      scale: 'log',
      ...e,
      series: [
        seriesOf(
          'e-value (fail test)',
          CANARY_COLOR,
          points.map((p) => ({ x: p.x, y: p.s.eValue })),
        ),
        seriesOf(
          `threshold ${threshold}: roll back`,
          BOUND_COLOR,
          points.map((p) => ({ x: p.x, y: p.s.threshold })),
          { dashed: true },
        ),
      ],
    },
    {
      ...base,
      id: `${id}-progress`,
      title: `${metric.name}: evidence to rule out the regression, against what each step required`,
      note: `Pass evidence against "${regression}x worse (at least ${(last?.regression.floor ?? 0) * 100}% bad) with ${(last?.regression.power ?? 0) * 100}% power"; a step advances once it has its share.`,
      yTitle: '% of the pass evidence',
      unit: '%',
      scale: 'linear',
      yMax: 100,
      series: [
        seriesOf(
          'pass evidence so far',
          PASS_COLOR,
          points.map((p) => ({ x: p.x, y: 100 * p.s.progress })),
        ),
        seriesOf(
          'required by the step',
          REQUIRED_COLOR,
          points.map((p) => ({ x: p.x, y: 100 * p.s.required })),
          { dashed: true, steps: true },
        ),
      ],
    },
    {
      ...base,
      id: `${id}-ratio`,
      title: `${metric.name}: canary bad rate over stable's, with its always-valid interval`,
      yTitle: 'rate ratio canary / stable',
      unit: '',
      scale: 'log',
      ...r,
      bands: [
        {
          name: `${Math.round((1 - (last?.alpha ?? 0.01)) * 1000) / 10}% interval`,
          color: CANARY_COLOR,
          points: points.map((p) => ({ x: p.x, low: p.s.ratioLow, high: p.s.ratioHigh })),
        },
      ],
      series: [
        seriesOf(
          'ratio',
          CANARY_COLOR,
          points.map((p) => ({ x: p.x, y: p.s.ratio })),
        ),
        seriesOf(
          `tolerance: ${margin}x`,
          BOUND_COLOR,
          points.map((p) => ({ x: p.x, y: margin })),
          {
            dashed: true,
          },
        ),
        seriesOf(
          `regression to catch: ${regression}x`,
          '#7f7f7f',
          points.map((p) => ({ x: p.x, y: regression })),
          {
            dashed: true,
          },
        ),
      ],
    },
  ];
}

const RATIO_TYPES = ['errorRatio', 'successRate', 'slowRatio'];

/** A relative or threshold metric: the measured values beside the judge's bound. */
function boundChart(result: SimulationResult, metric: MetricInfo, shades: Shade[]): Chart[] {
  const percent = RATIO_TYPES.includes(metric.type);
  const scaled = (v: number | null | undefined) =>
    v === null || v === undefined ? null : percent ? v * 100 : v;
  const points = result.analyses.flatMap((a) => {
    const e = evidenceOf(a, metric.name);
    return e ? [{ x: a.atMs, e }] : [];
  });
  if (!points.length) return [];
  const series: Series[] = [
    seriesOf(
      'canary',
      CANARY_COLOR,
      points.map((p) => ({ x: p.x, y: scaled(p.e.canary.value) })),
    ),
  ];
  if (metric.judge === 'relative') {
    series.push(
      seriesOf(
        'stable',
        STABLE_COLOR,
        points.map((p) => ({ x: p.x, y: scaled(p.e.stable?.value) })),
      ),
      seriesOf(
        `bound: stable ${metric.higherIsBetter ? 'x (1 - tolerance) - slack' : 'x (1 + tolerance) + slack'}`,
        BOUND_COLOR,
        points.map((p) => ({ x: p.x, y: scaled(p.e.bound) })),
        { dashed: true },
      ),
    );
  }
  for (const [which, value] of [
    ['min', metric.min],
    ['max', metric.max],
  ] as const) {
    if (value === undefined) continue;
    series.push(
      seriesOf(
        `${which} ${percent ? `${value * 100}%` : value}`,
        BOUND_COLOR,
        points.map((p) => ({ x: p.x, y: scaled(value) })),
        {
          dashed: true,
        },
      ),
    );
  }
  const values = series.flatMap((s) => s.points.flatMap((p) => (p.y === null ? [] : [p.y])));
  const fails =
    metric.judge === 'relative' ? (metric.higherIsBetter ? 'below' : 'above') : 'outside the range';
  return [
    {
      id: `chart-${slug(metric.name)}-value`,
      title: `${metric.name}: canary against the ${metric.judge} judge's bound`,
      note: `An analysis fails when the canary is ${fails} the bound${metric.window === 'step' && RATIO_TYPES.includes(metric.type) ? `; with fewer than ${metric.minSamples} requests per side it is Inconclusive` : ''}.`,
      yTitle: percent ? '% of requests' : metric.type === 'latencyQuantile' ? 'latency, ms' : 'value',
      unit: percent ? '%' : metric.type === 'latencyQuantile' ? ' ms' : '',
      scale: 'linear',
      xMax: result.durationMs,
      yMax: niceCeiling(Math.max(percent ? 0.5 : 1, ...values) * 1.05),
      shades,
      series,
    },
  ];
}

function metricSection(result: SimulationResult, metric: MetricInfo, shades: Shade[]): string {
  const charts =
    metric.judge === 'sequential'
      ? sequentialCharts(result, metric, shades)
      : boundChart(result, metric, shades);
  const last = [...result.analyses]
    .reverse()
    .map((a) => evidenceOf(a, metric.name))
    .find(Boolean);
  const summary = last
    ? `<p class="muted">last verdict <b>${escape(last.verdict)}</b>: ${escape(last.rule)}</p>`
    : '<p class="muted">not analysed during the simulation</p>';
  return `<section class="metric" id="metric-${slug(metric.name)}">
<h2>${escape(metric.name)} <span class="muted">(${escape(metric.type)}, ${escape(metric.judge)} judge)</span></h2>
${summary}
${charts.map(renderChart).join('\n')}
</section>`;
}

function decisionRow(e: TimelineEntry): string {
  const d = e.decision;
  const time = e.count > 1 ? `${clock(e.atMs)}&ndash;${clock(e.lastAtMs)}` : clock(e.atMs);
  const action = e.count > 1 ? `${escape(d.action)} &times;${e.count}` : escape(d.action);
  const reasons =
    e.count > 1 && e.reasons
      ? `<br><span class="muted">${Object.entries(e.reasons)
          .map(([reason, n]) => `${n} ${escape(words(reason))}`)
          .join(', ')}</span>`
      : '';
  const wait = d.action === 'Hold' ? expectedWait(d) : undefined;
  const waitLine = wait ? `<br><span class="wait">expected wait: ${escape(wait)}</span>` : '';
  const told = [
    ...describeHookCalls(e.hooks ?? []),
    ...(e.notifications ?? []).filter((n) => n.sentTo.length).map(describeNotification),
  ]
    .map((line) => `<br><span class="muted">${escape(line)}</span>`)
    .join('');
  return `<tr class="decision ${escape(d.action.toLowerCase())}"><td>${time}</td><td><span class="dot" style="background:${actionColor(d.action)}"></span>${action}</td><td>${Math.min(e.step + 1, e.stepCount)}/${e.stepCount}</td><td>${e.actualWeight}%</td><td>${escape(d.message)}${reasons}${waitLine}${told}</td></tr>`;
}

/** The whole page as one string. */
export function renderReport(result: SimulationResult): string {
  const shades = shadesOf(result);
  const outcome = result.outcome ?? 'Initializing';
  const headline = result.finished
    ? `after ${formatDuration(result.durationMs)} of simulated time`
    : `still, when the simulation stopped at its limit of ${formatDuration(result.maxDurationMs)}`;
  const servedRows = Object.entries(result.served)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([r, s]) =>
        `<tr><td>${escape(roleOf(result, r))}</td><td>${s.total}</td><td>${s.errors}</td><td>${rate(s.errors, s.total)}</td></tr>`,
    )
    .join('');
  const droppedRows = Object.entries(result.dropped)
    .map(([reason, n]) => `<tr><td>dropped: ${escape(reason)}</td><td>${n}</td><td></td><td></td></tr>`)
    .join('');
  const requests = requestsChart(result, shades);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>canaria simulate: ${escape(result.release)} ${escape(outcome)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; padding: 0 12px; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 6px; }
h3 { font-size: 14px; margin: 16px 0 2px; }
.outcome { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff; background: #7f7f7f; }
.outcome.succeeded { background: #2ca02c; } .outcome.rolledback { background: #d62728; } .outcome.failed { background: #8b0000; }
.muted { color: #666; }
.wait { color: #8a6d00; }
${CHART_CSS}
table { border-collapse: collapse; width: 100%; font-size: 13px; }
td, th { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
tr.rollback td, tr.fail td { background: #fdecea; }
tr.succeed td { background: #eaf7ea; }
#decisions td:nth-child(-n+4) { white-space: nowrap; }
</style>
</head>
<body>
<h1>canaria simulate: ${escape(result.release)}, ${escape(result.stable.revision)} &rarr; ${escape(result.canary.revision)}</h1>
<p><span class="outcome ${escape(outcome.toLowerCase())}" id="outcome">${escape(outcome)}</span> ${escape(headline)}<br>
<span class="muted">seed ${result.seed}; ${result.mode} mode; ${result.stepCount} steps; ${escape(result.message ?? '')}</span></p>
<section id="summary">
<h2>Requests served</h2>
<table><thead><tr><th>revision</th><th>requests</th><th>errors</th><th>error rate</th></tr></thead>
<tbody>${servedRows}${droppedRows}</tbody></table>
</section>
<h2>Traffic</h2>
${renderChart(trafficChart(result, shades))}
<h2>Revisions</h2>
${revisionCharts(result, shades).map(renderChart).join('\n')}
<h2>Evidence</h2>
${requests ? renderChart(requests) : '<p class="muted">no analysis ran during the simulation</p>'}
${result.metrics.map((m) => metricSection(result, m, shades)).join('\n')}
<section id="decisions">
<h2>Decisions</h2>
<table><thead><tr><th>time</th><th>action</th><th>step</th><th>weight</th><th>why</th></tr></thead>
<tbody>
${result.timeline.map(decisionRow).join('\n')}
</tbody></table>
</section>
</body>
</html>
`;
}
