import { formatDuration } from '../api/duration.js';
import { clock } from './render.js';
import type { SimulationResult } from './simulate.js';

/*
 * The HTML report of `canaria simulate --report`: one self-contained page (inline CSS and SVG, no
 * script, nothing fetched) with the canary's weight, each revision's error rate and latency over
 * simulated time, the decisions with their reasons, and the summary. Chart elements carry stable ids
 * and classes (`#chart-weights path.series`, `circle.marker`) for tests and for anyone who scrapes it.
 */

interface Point {
  x: number;
  y: number | null;
}

interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  /** Drawn as steps: the value holds until the next point. */
  steps?: boolean;
  points: Point[];
}

interface Marker {
  x: number;
  y: number;
  color: string;
  label: string;
}

interface Chart {
  id: string;
  title: string;
  unit: string;
  series: Series[];
  markers?: Marker[];
  xMax: number;
  yMax: number;
}

const WIDTH = 960;
const HEIGHT = 260;
const PAD = { left: 64, right: 16, top: 12, bottom: 34 };
const PALETTE = ['#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const STABLE_COLOR = '#1f77b4';
const CANARY_COLOR = '#ff7f0e';
const ACTION_COLORS: Partial<Record<string, string>> = {
  Rollback: '#d62728',
  Fail: '#d62728',
  Hold: '#bcbd22',
  Pause: '#bcbd22',
  Succeed: '#2ca02c',
  Promote: '#2ca02c',
};

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const fixed = (n: number): string => String(Math.round(n * 10) / 10);

/** A round step that cuts `range` into about `count` parts: 1, 2 or 5 times a power of ten. */
function niceStep(range: number, count: number): number {
  const raw = range / count;
  if (!(raw > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
}

/** The smallest round number (1, 2 or 5 times a power of ten) at or above `value`: a chart's top. */
function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].find((m) => m * magnitude >= value) ?? 10) * magnitude;
}

function pathOf(series: Series, sx: (x: number) => number, sy: (y: number) => number): string {
  const parts: string[] = [];
  let drawing = false;
  for (const p of series.points) {
    if (p.y === null) {
      drawing = false;
      continue;
    }
    const x = fixed(sx(p.x));
    const y = fixed(sy(p.y));
    if (!drawing) parts.push(`M${x} ${y}`);
    else if (series.steps) parts.push(`H${x} V${y}`);
    else parts.push(`L${x} ${y}`);
    drawing = true;
  }
  return parts.join(' ');
}

function renderChart(chart: Chart): string {
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const xMax = Math.max(chart.xMax, 1);
  const yMax = chart.yMax > 0 ? chart.yMax : 1;
  const sx = (x: number) => PAD.left + (x / xMax) * innerW;
  const sy = (y: number) => PAD.top + innerH - (Math.min(y, yMax) / yMax) * innerH;
  const grid: string[] = [];
  const yStep = niceStep(yMax, 4);
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    const label = Number(y.toPrecision(6));
    grid.push(
      `<line class="grid" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${fixed(sy(y))}" y2="${fixed(sy(y))}"/>`,
      `<text class="tick" x="${PAD.left - 6}" y="${fixed(sy(y) + 4)}" text-anchor="end">${label}${chart.unit}</text>`,
    );
  }
  const xStep = Math.max(60_000, niceStep(xMax / 60_000, 8) * 60_000);
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    grid.push(
      `<text class="tick" x="${fixed(sx(x))}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${x ? formatDuration(x) : '0'}</text>`,
    );
  }
  const series = chart.series
    .map((s) => {
      const drawn = s.points.filter((p) => p.y !== null).length;
      return `<path class="series" data-series="${escape(s.name)}" data-points="${drawn}" d="${pathOf(s, sx, sy)}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}><title>${escape(s.name)}</title></path>`;
    })
    .join('\n');
  const markers = (chart.markers ?? [])
    .map(
      (m) =>
        `<circle class="marker" cx="${fixed(sx(m.x))}" cy="${fixed(sy(m.y))}" r="5" fill="${m.color}"><title>${escape(m.label)}</title></circle>`,
    )
    .join('\n');
  const legend = chart.series
    .map(
      (s) =>
        `<li><span class="swatch${s.dashed ? ' dashed' : ''}" style="border-color:${s.color}"></span>${escape(s.name)}</li>`,
    )
    .join('');
  return `<section class="chart" id="${chart.id}">
<h2>${escape(chart.title)}</h2>
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escape(chart.title)}">
<rect class="plot" x="${PAD.left}" y="${PAD.top}" width="${innerW}" height="${innerH}"/>
${grid.join('\n')}
${series}
${markers}
</svg>
<ul class="legend">${legend}</ul>
</section>`;
}

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
  return revision;
}

const rate = (errors: number, total: number): string =>
  total ? `${((100 * errors) / total).toFixed(2)}%` : '-';

/** The whole page as one string. */
export function renderReport(result: SimulationResult): string {
  const colors = revisionColors(result);
  const xMax = result.durationMs;
  const revisions = Object.keys(result.series);
  const weights: Chart = {
    id: 'chart-weights',
    title: `${result.canary.revision}'s share of traffic`,
    unit: '%',
    xMax,
    yMax: 100,
    series: [
      {
        name: 'desired weight (release status)',
        color: '#555',
        dashed: true,
        steps: true,
        points: result.weights.map((w) => ({ x: w.atMs, y: w.desired })),
      },
      {
        name: 'actual weight (VirtualService)',
        color: CANARY_COLOR,
        steps: true,
        points: result.weights.map((w) => ({ x: w.atMs, y: w.actual })),
      },
    ],
    markers: result.timeline.map((e) => ({
      x: e.atMs,
      y: e.actualWeight,
      color: ACTION_COLORS[e.decision.action] ?? '#17becf',
      label: `${clock(e.atMs)} ${e.decision.action}: ${e.decision.message}`,
    })),
  };
  const errorPoints = revisions.flatMap((r) => result.series[r] ?? []);
  const maxErrorRate = Math.max(0, ...errorPoints.map((p) => (p.errorRate ?? 0) * 100));
  const errors: Chart = {
    id: 'chart-errors',
    title: 'error rate per revision (per minute)',
    unit: '%',
    xMax,
    yMax: niceCeiling(Math.max(maxErrorRate, 0.5) * 1.05),
    series: revisions.map((r) => ({
      name: `${roleOf(result, r)} error rate`,
      color: colors.get(r) ?? '#7f7f7f',
      points: (result.series[r] ?? []).map((p) => ({
        x: p.atMs,
        y: p.errorRate === null ? null : p.errorRate * 100,
      })),
    })),
  };
  const maxLatency = Math.max(0, ...errorPoints.map((p) => p.p99 ?? 0));
  const latency: Chart = {
    id: 'chart-latency',
    title: 'latency per revision (histogram_quantile over Istio buckets, per minute)',
    unit: ' ms',
    xMax,
    yMax: niceCeiling(Math.max(maxLatency, 10) * 1.05),
    series: revisions.flatMap((r) => [
      {
        name: `${roleOf(result, r)} p99`,
        color: colors.get(r) ?? '#7f7f7f',
        points: (result.series[r] ?? []).map((p) => ({ x: p.atMs, y: p.p99 })),
      },
      {
        name: `${roleOf(result, r)} p50`,
        color: colors.get(r) ?? '#7f7f7f',
        dashed: true,
        points: (result.series[r] ?? []).map((p) => ({ x: p.atMs, y: p.p50 })),
      },
    ]),
  };

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
  const decisions = result.timeline
    .map(
      (e) =>
        `<tr class="decision ${escape(e.decision.action.toLowerCase())}"><td>${clock(e.atMs)}</td><td>${escape(e.decision.action)}</td><td>${Math.min(e.step + 1, e.stepCount)}/${e.stepCount}</td><td>${e.actualWeight}%</td><td>${escape(e.decision.message)}</td></tr>`,
    )
    .join('\n');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>canaria simulate: ${escape(result.release)} ${escape(outcome)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; padding: 0 12px; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 15px; margin: 20px 0 6px; }
.outcome { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff; background: #7f7f7f; }
.outcome.succeeded { background: #2ca02c; } .outcome.rolledback { background: #d62728; } .outcome.failed { background: #8b0000; }
.muted { color: #666; }
svg { width: 100%; height: auto; display: block; }
.plot { fill: #fafafa; stroke: #ddd; }
.grid { stroke: #e6e6e6; }
.tick { font-size: 11px; fill: #666; }
.legend { list-style: none; padding: 0; margin: 4px 0 0 ${PAD.left}px; display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 12px; }
.swatch { display: inline-block; width: 22px; border-top: 3px solid; margin-right: 6px; vertical-align: middle; }
.swatch.dashed { border-top-style: dashed; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
td, th { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
tr.rollback td, tr.fail td { background: #fdecea; }
tr.succeed td { background: #eaf7ea; }
</style>
</head>
<body>
<h1>canaria simulate: ${escape(result.release)}, ${escape(result.stable.revision)} &rarr; ${escape(result.canary.revision)}</h1>
<p><span class="outcome ${escape(outcome.toLowerCase())}" id="outcome">${escape(outcome)}</span> ${escape(headline)}<br>
<span class="muted">seed ${result.seed}; ${result.stepCount} steps; ${escape(result.message ?? '')}</span></p>
<section id="summary">
<h2>Requests served</h2>
<table><thead><tr><th>revision</th><th>requests</th><th>errors</th><th>error rate</th></tr></thead>
<tbody>${servedRows}${droppedRows}</tbody></table>
</section>
${renderChart(weights)}
${renderChart(errors)}
${renderChart(latency)}
<section id="decisions">
<h2>Decisions</h2>
<table><thead><tr><th>time</th><th>action</th><th>step</th><th>weight</th><th>why</th></tr></thead>
<tbody>
${decisions}
</tbody></table>
</section>
</body>
</html>
`;
}
