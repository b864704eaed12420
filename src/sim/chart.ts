import { formatDuration } from '../api/duration.js';

/*
 * Inline SVG line charts for the simulation report: series (lines or steps), bands (an interval
 * drawn as an area), shaded stretches of time (A/B stages, mirroring, faults), markers, a linear or
 * logarithmic y axis, axis titles and a legend. No script: the page is drawn once, as written.
 * Elements carry classes for tests and scrapers: path.series[data-series][data-points], path.band,
 * rect.shade[data-kind], circle.marker[data-action], text.axis-title.
 */

export interface Point {
  x: number;
  y: number | null;
}

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  /** Drawn as steps: the value holds until the next point. */
  steps?: boolean;
  points: Point[];
}

/** An interval over time, drawn as a translucent area; a null bound is open (drawn to the edge). */
export interface Band {
  name: string;
  color: string;
  points: { x: number; low: number | null; high: number | null }[];
}

export type ShadeKind = 'match' | 'mirror' | 'fault';

export interface Shade {
  kind: ShadeKind;
  fromX: number;
  toX: number;
  label: string;
}

export interface Marker {
  x: number;
  y: number;
  action: string;
  label: string;
}

export interface Chart {
  id: string;
  title: string;
  /** What the y axis measures, e.g. "% of requests". */
  yTitle: string;
  /** Appended to tick labels: "%", " ms". */
  unit: string;
  scale: 'linear' | 'log';
  /** Linear: 0 by default. Log: the lowest decade shown; values at or below it sit on the axis. */
  yMin?: number;
  yMax: number;
  xMax: number;
  series: Series[];
  bands?: Band[];
  shades?: Shade[];
  markers?: Marker[];
  /** A sentence under the title: what to read in the chart. */
  note?: string;
}

const WIDTH = 960;
const HEIGHT = 280;
const PAD = { left: 78, right: 16, top: 12, bottom: 46 };

export const ACTION_COLORS: Readonly<Record<string, string>> = {
  Start: '#17becf',
  Restart: '#17becf',
  Advance: '#1f77b4',
  Hold: '#bcbd22',
  Pause: '#e6a700',
  Resume: '#17becf',
  Promote: '#2ca02c',
  Succeed: '#1a6e1a',
  Rollback: '#d62728',
  Fail: '#8b0000',
};
const OTHER_ACTION_COLOR = '#7f7f7f';
export const actionColor = (action: string): string => ACTION_COLORS[action] ?? OTHER_ACTION_COLOR;

const SHADES: Record<ShadeKind, { fill: string; name: string }> = {
  match: { fill: 'rgba(148, 103, 189, 0.14)', name: 'A/B stage (test group only)' },
  mirror: { fill: 'rgba(23, 190, 207, 0.14)', name: 'mirroring to the canary' },
  fault: { fill: 'rgba(214, 39, 40, 0.10)', name: 'fault (scenario)' },
};

export const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

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
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].find((m) => m * magnitude >= value * (1 - 1e-12)) ?? 10) * magnitude;
}

/** The decades a log axis needs to show every value from `low` to `high`. */
export function decades(low: number, high: number): { yMin: number; yMax: number } {
  const lo = low > 0 ? 10 ** Math.floor(Math.log10(low)) : 1;
  const hi = high > 0 ? 10 ** Math.ceil(Math.log10(high)) : 10;
  return { yMin: lo, yMax: hi > lo ? hi : lo * 10 };
}

/** Numbers on an axis: short, with exponents past a million. */
function tickLabel(value: number): string {
  if (value !== 0 && (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3)) {
    return value.toExponential(0).replace('e+', 'e');
  }
  return String(Number(value.toPrecision(6)));
}

interface Scales {
  sx: (x: number) => number;
  sy: (y: number) => number;
  bottom: number;
  top: number;
}

function scalesOf(chart: Chart): Scales {
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const xMax = Math.max(chart.xMax, 1);
  const sx = (x: number) => PAD.left + (Math.min(Math.max(x, 0), xMax) / xMax) * innerW;
  const bottom = PAD.top + innerH;
  if (chart.scale === 'log') {
    const lo = Math.log10(chart.yMin && chart.yMin > 0 ? chart.yMin : 1e-3);
    const hi = Math.log10(chart.yMax > 0 ? chart.yMax : 10);
    const span = hi > lo ? hi - lo : 1;
    const sy = (y: number) => {
      const v = y > 0 ? Math.min(Math.max(Math.log10(y), lo), hi) : lo;
      return bottom - ((v - lo) / span) * innerH;
    };
    return { sx, sy, bottom, top: PAD.top };
  }
  const lo = chart.yMin ?? 0;
  const hi = chart.yMax > lo ? chart.yMax : lo + 1;
  const sy = (y: number) => bottom - ((Math.min(Math.max(y, lo), hi) - lo) / (hi - lo)) * innerH;
  return { sx, sy, bottom, top: PAD.top };
}

function pathOf(series: Series, { sx, sy }: Scales): string {
  const parts: string[] = [];
  let drawing = false;
  let lastX = '';
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
    lastX = x;
  }
  // a single point is drawn as a short dash, so it shows
  if (parts.length === 1 && lastX) parts.push('h3');
  return parts.join(' ');
}

/** The band as closed areas, one per run of points that have a value. */
function bandPath(band: Band, scales: Scales): string {
  const runs: Band['points'][] = [];
  let run: Band['points'] = [];
  for (const p of band.points) {
    if (p.low === null && p.high === null) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push(p);
  }
  if (run.length) runs.push(run);
  return runs
    .map((r) => {
      const top = r.map(
        (p) => `${fixed(scales.sx(p.x))} ${fixed(p.high === null ? scales.top : scales.sy(p.high))}`,
      );
      const low = [...r]
        .reverse()
        .map((p) => `${fixed(scales.sx(p.x))} ${fixed(p.low === null ? scales.bottom : scales.sy(p.low))}`);
      // one point: a thin column
      if (r.length === 1) {
        const [p] = r;
        const x = fixed(scales.sx(p?.x ?? 0) + 2);
        top.push(`${x} ${top[0]?.split(' ')[1] ?? ''}`);
        low.unshift(`${x} ${low[0]?.split(' ')[1] ?? ''}`);
      }
      return `M${top.join(' L')} L${low.join(' L')} Z`;
    })
    .join(' ');
}

function yTicks(chart: Chart, scales: Scales): string[] {
  const out: string[] = [];
  const line = (y: number) => {
    const at = fixed(scales.sy(y));
    out.push(
      `<line class="grid" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${at}" y2="${at}"/>`,
      `<text class="tick" x="${PAD.left - 6}" y="${fixed(scales.sy(y) + 4)}" text-anchor="end">${tickLabel(y)}${chart.unit}</text>`,
    );
  };
  if (chart.scale === 'log') {
    const lo = Math.round(Math.log10(chart.yMin ?? 1e-3));
    const hi = Math.round(Math.log10(chart.yMax));
    const every = Math.max(1, Math.ceil((hi - lo) / 8));
    for (let d = lo; d <= hi; d += every) line(10 ** d);
    return out;
  }
  const lo = chart.yMin ?? 0;
  const step = niceStep(chart.yMax - lo, 4);
  for (let y = lo; y <= chart.yMax + 1e-9; y += step) line(y);
  return out;
}

function xTicks(chart: Chart, scales: Scales): string[] {
  const xMax = Math.max(chart.xMax, 1);
  const step = Math.max(60_000, niceStep(xMax / 60_000, 8) * 60_000);
  const out: string[] = [];
  for (let x = 0; x <= xMax + 1e-9; x += step) {
    out.push(
      `<text class="tick" x="${fixed(scales.sx(x))}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${x ? formatDuration(x) : '0'}</text>`,
    );
  }
  return out;
}

const drawable = (s: Series) => s.points.filter((p) => p.y !== null).length;

export function renderChart(chart: Chart): string {
  const scales = scalesOf(chart);
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const series = chart.series.filter((s) => drawable(s) > 0);
  const bands = (chart.bands ?? []).filter((b) => b.points.some((p) => p.low !== null || p.high !== null));
  const shades = (chart.shades ?? []).filter((s) => s.toX > s.fromX);
  const shadeRects = shades.map((s) => {
    const x = scales.sx(s.fromX);
    const w = Math.max(1, scales.sx(s.toX) - x);
    return `<rect class="shade" data-kind="${s.kind}" x="${fixed(x)}" y="${PAD.top}" width="${fixed(w)}" height="${innerH}" fill="${SHADES[s.kind].fill}"><title>${escape(s.label)}</title></rect>`;
  });
  const bandPaths = bands.map(
    (b) =>
      `<path class="band" data-series="${escape(b.name)}" d="${bandPath(b, scales)}" fill="${b.color}" fill-opacity="0.18" stroke="none"><title>${escape(b.name)}</title></path>`,
  );
  const seriesPaths = series.map(
    (s) =>
      `<path class="series" data-series="${escape(s.name)}" data-points="${drawable(s)}" d="${pathOf(s, scales)}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}><title>${escape(s.name)}</title></path>`,
  );
  const markers = (chart.markers ?? []).map(
    (m) =>
      `<circle class="marker" data-action="${escape(m.action)}" cx="${fixed(scales.sx(m.x))}" cy="${fixed(scales.sy(m.y))}" r="5" fill="${actionColor(m.action)}" stroke="#fff" stroke-width="1"><title>${escape(m.label)}</title></circle>`,
  );
  const legend = [
    ...series.map(
      (s) =>
        `<li><span class="swatch${s.dashed ? ' dashed' : ''}" style="border-color:${s.color}"></span>${escape(s.name)}</li>`,
    ),
    ...bands.map((b) => `<li><span class="area" style="background:${b.color}"></span>${escape(b.name)}</li>`),
    ...[...new Set(shades.map((s) => s.kind))].map(
      (kind) =>
        `<li class="shade-key" data-kind="${kind}"><span class="area" style="background:${SHADES[kind].fill}"></span>${escape(SHADES[kind].name)}</li>`,
    ),
    ...[...new Set((chart.markers ?? []).map((m) => m.action))].map(
      (action) =>
        `<li class="marker-key" data-action="${escape(action)}"><span class="dot" style="background:${actionColor(action)}"></span>${escape(action)}</li>`,
    ),
  ];
  const yMid = PAD.top + innerH / 2;
  return `<section class="chart" id="${chart.id}">
<h3>${escape(chart.title)}</h3>
${chart.note ? `<p class="note">${escape(chart.note)}</p>\n` : ''}<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escape(chart.title)}">
<rect class="plot" x="${PAD.left}" y="${PAD.top}" width="${innerW}" height="${innerH}"/>
${shadeRects.join('\n')}
${yTicks(chart, scales).join('\n')}
${xTicks(chart, scales).join('\n')}
<text class="axis-title x" x="${PAD.left + innerW / 2}" y="${HEIGHT - 6}" text-anchor="middle">simulated time since the start</text>
<text class="axis-title y" x="14" y="${fixed(yMid)}" text-anchor="middle" transform="rotate(-90 14 ${fixed(yMid)})">${escape(chart.yTitle)}${chart.scale === 'log' ? ' (log scale)' : ''}</text>
${bandPaths.join('\n')}
${seriesPaths.join('\n')}
${markers.join('\n')}
</svg>
<ul class="legend">${legend.join('')}</ul>
</section>`;
}

/** The page's styles for the charts. */
export const CHART_CSS = `
svg { width: 100%; height: auto; display: block; }
.plot { fill: #fafafa; stroke: #ddd; }
.grid { stroke: #e6e6e6; }
.tick { font-size: 11px; fill: #666; }
.axis-title { font-size: 12px; fill: #444; }
.note { margin: 0 0 4px; color: #555; font-size: 13px; }
.legend { list-style: none; padding: 0; margin: 4px 0 0 ${PAD.left}px; display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 12px; }
.swatch { display: inline-block; width: 22px; border-top: 3px solid; margin-right: 6px; vertical-align: middle; }
.swatch.dashed { border-top-style: dashed; }
.area { display: inline-block; width: 18px; height: 12px; margin-right: 6px; vertical-align: middle; opacity: 0.6; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; vertical-align: middle; }
`;
