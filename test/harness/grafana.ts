/**
 * Grafana's side of a dashboard, for tests against a real Prometheus: it fills the template variables
 * from their queries, picks their values as Grafana does, interpolates every panel's, repeated
 * panel's and annotation's query the way Grafana's Prometheus data source does (single values as
 * they are, multi-value and All as escaped regular expressions, `$__interval` and `$__rate_interval`
 * from the time range and the scrape interval), runs it, and renders each series' legend.
 *
 * On top it audits every query against the data: a label the query selects, groups or joins on that
 * no series of its metrics carries is a problem naming the panel and the label, and a query that
 * comes back empty says which selector and which matcher found nothing.
 *
 * Simplifications, none of which the chart's dashboards depend on: `$__interval` is the range over
 * the data points, not rounded to Grafana's steps; only `label_values` variable queries.
 */
import { parser } from '@prometheus-io/lezer-promql';
import { z } from 'zod';

export interface GrafanaSettings {
  prometheusUrl: string;
  from: Date;
  to: Date;
  /** The data source's scrape interval, Grafana's floor for `$__interval`. */
  scrapeIntervalSeconds: number;
  /** Data points a panel asks for (about its width in pixels). */
  maxDataPoints?: number;
  /** Values a user picked, by variable name; other variables take Grafana's default. */
  picks?: Record<string, string>;
}

/** A variable once filled: its options and what is selected, and how it interpolates. */
export interface VariableState {
  name: string;
  options: string[];
  selected: string[];
  /** Multi-value or with All: Grafana interpolates it as a regular expression. */
  regex: boolean;
  allValue?: string | undefined;
  all: boolean;
}

export interface Series {
  labels: Record<string, string>;
  /** The legend Grafana shows: the legend format rendered, else `name{labels}`. */
  legend: string;
  /** The last non-NaN value in the range, if any. */
  last: number | undefined;
  /** The largest value in the range, if any. */
  max: number | undefined;
}

/** One query of a dashboard as Grafana would run it. */
export interface QueryRun {
  /** `panel "Title" query A`, `annotation "Decisions"`, `variable "release"`; titles interpolated. */
  where: string;
  expr: string;
  series: Series[];
  problems: string[];
}

export interface DashboardRun {
  variables: Map<string, VariableState>;
  queries: QueryRun[];
  /** Every problem of every query, each starting with where it is. */
  problems: string[];
}

const datasourceRef = z.looseObject({ type: z.string().optional(), uid: z.string().optional() });
const target = z.looseObject({
  refId: z.string(),
  expr: z.string().optional(),
  legendFormat: z.string().optional(),
  instant: z.boolean().optional(),
  range: z.boolean().optional(),
  hide: z.boolean().optional(),
});
interface Panel {
  title: string;
  type: string;
  repeat?: string | undefined;
  targets?: z.infer<typeof target>[] | undefined;
  panels?: Panel[] | undefined;
}
const panel: z.ZodType<Panel> = z.looseObject({
  title: z.string(),
  type: z.string(),
  repeat: z.string().optional(),
  targets: z.array(target).optional(),
  get panels() {
    return z.array(panel).optional();
  },
});
const dashboardSchema = z.looseObject({
  templating: z.looseObject({
    list: z.array(
      z.looseObject({
        name: z.string(),
        type: z.string(),
        query: z.union([z.string(), z.looseObject({ query: z.string() })]).optional(),
        multi: z.boolean().optional(),
        includeAll: z.boolean().optional(),
        allValue: z.string().optional(),
        datasource: datasourceRef.nullable().optional(),
      }),
    ),
  }),
  annotations: z
    .looseObject({
      list: z.array(
        z.looseObject({
          name: z.string(),
          builtIn: z.number().optional(),
          expr: z.string().optional(),
          step: z.string().optional(),
          titleFormat: z.string().optional(),
        }),
      ),
    })
    .optional(),
  panels: z.array(panel),
});

/** Runs every variable, panel and annotation query of a dashboard as Grafana would. */
export async function runDashboard(json: unknown, settings: GrafanaSettings): Promise<DashboardRun> {
  const dashboard = dashboardSchema.parse(json);
  const prometheus = new PrometheusHttp(settings);
  const builtIns = builtInVariables(settings);
  const variables = new Map<string, VariableState>();
  const queries: QueryRun[] = [];

  for (const v of dashboard.templating.list) {
    const where = `variable "${v.name}"`;
    if (v.type === 'datasource') continue;
    let options: string[];
    const problems: string[] = [];
    const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    if (v.type === 'custom') {
      options = query
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean);
    } else if (v.type === 'query') {
      const text = interpolate(query, variables, builtIns);
      const call = /^\s*label_values\(\s*(?:([\s\S]*),)?\s*(\w+)\s*\)\s*$/.exec(text);
      if (!call) throw new Error(`${where}: only label_values(selector, label) is supported, not ${text}`);
      const [, selector = '', label = ''] = call;
      options = (await prometheus.labelValues(label, selector.trim() || undefined)).sort();
      if (selector.trim()) problems.push(...(await audit(prometheus, selector.trim(), [label])));
      queries.push({
        where,
        // what Prometheus evaluates: the selector, or every series for label_values(label)
        expr: selector.trim() || `{${label}!=""}`,
        series: options.map((value) => ({
          labels: { [label]: value },
          legend: value,
          last: undefined,
          max: undefined,
        })),
        problems: problems.map((p) => `${where} ${p}`),
      });
    } else {
      continue;
    }
    const regex = Boolean(v.multi) || Boolean(v.includeAll);
    const pick = settings.picks?.[v.name];
    if (pick !== undefined && !options.includes(pick)) {
      throw new Error(`${where}: "${pick}" is not among its options ${JSON.stringify(options)}`);
    }
    // Grafana keeps a valid pick, else selects All where there is one, else the first option
    const all = pick === undefined && Boolean(v.includeAll);
    const selected = pick !== undefined ? [pick] : all ? options : options.slice(0, 1);
    variables.set(v.name, { name: v.name, options, selected, regex, allValue: v.allValue, all });
  }

  for (const a of dashboard.annotations?.list ?? []) {
    if (a.builtIn === 1 || !a.expr) continue;
    const step = seconds(interpolate(a.step ?? '60s', variables, builtIns));
    queries.push(
      await runQuery(prometheus, `annotation "${a.name}"`, interpolate(a.expr, variables, builtIns), {
        step,
        legend: a.titleFormat,
        scoped: variables,
        builtIns,
      }),
    );
  }

  for (const p of flatten(dashboard.panels)) {
    if (p.type === 'row' || p.type === 'text') continue;
    const repeat = p.repeat ? variables.get(p.repeat) : undefined;
    if (p.repeat && !repeat)
      throw new Error(`panel "${p.title}" repeats on $${p.repeat}, which is no variable`);
    // a repeated panel is one copy per selected value, each with the variable set to that value alone
    const copies = repeat ? repeat.selected.map((value) => scope(variables, repeat, value)) : [variables];
    for (const scoped of copies) {
      const title = interpolate(p.title, scoped, builtIns, 'text');
      for (const t of p.targets ?? []) {
        if (t.hide || !t.expr) continue;
        const expr = interpolate(t.expr, scoped, builtIns);
        queries.push(
          await runQuery(prometheus, `panel "${title}" query ${t.refId}`, expr, {
            step: t.instant && !t.range ? undefined : builtIns.intervalSeconds,
            legend: t.legendFormat,
            scoped,
            builtIns,
          }),
        );
      }
    }
  }
  return { variables, queries, problems: queries.flatMap((q) => q.problems) };
}

function* flatten(panels: readonly Panel[]): Generator<Panel> {
  for (const p of panels) {
    yield p;
    yield* flatten(p.panels ?? []);
  }
}

function scope(variables: Map<string, VariableState>, repeat: VariableState, value: string) {
  const scoped = new Map(variables);
  scoped.set(repeat.name, { ...repeat, selected: [value], all: false });
  return scoped;
}

interface BuiltIns {
  intervalSeconds: number;
  values: Record<string, string>;
}

/** `$__interval` is the range over the data points, floored at the scrape interval; `$__rate_interval` as Grafana's. */
function builtInVariables(settings: GrafanaSettings): BuiltIns {
  const rangeSeconds = Math.max(1, Math.round((settings.to.getTime() - settings.from.getTime()) / 1000));
  const scrape = settings.scrapeIntervalSeconds;
  const interval = Math.max(scrape, Math.ceil(rangeSeconds / (settings.maxDataPoints ?? 1000)));
  const rateInterval = Math.max(interval + scrape, 4 * scrape);
  return {
    intervalSeconds: interval,
    values: {
      __interval: `${interval}s`,
      __interval_ms: String(interval * 1000),
      __rate_interval: `${rateInterval}s`,
      __range: `${rangeSeconds}s`,
      __range_s: String(rangeSeconds),
      __range_ms: String(rangeSeconds * 1000),
    },
  };
}

// Grafana's spellings: $name, [[name]] or [[name:format]], ${name}, ${name:format}
const REFERENCE = /\$(\w+)|\[\[(\w+)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}/g;

/** Grafana's Prometheus escapes: `prometheusRegularEscape` and `prometheusSpecialRegexEscape`. */
const regularEscape = (value: string) => value.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'");
const regexEscape = (value: string) =>
  value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');

/**
 * Interpolates as Grafana's template service does with the Prometheus data source's formatter: a
 * single-value variable as it is, a multi-value one (or All) as a regular expression, `(a|b)` for
 * several values; `text` leaves values unescaped, as in titles and legends. Unknown names stay.
 */
export function interpolate(
  text: string,
  variables: ReadonlyMap<string, VariableState>,
  builtIns: BuiltIns,
  mode: 'query' | 'text' = 'query',
): string {
  return text.replace(REFERENCE, (reference, ...groups: (string | undefined)[]) => {
    const name = groups[0] ?? groups[1] ?? groups[3] ?? '';
    const format = groups[2] ?? groups[4];
    const builtIn = builtIns.values[name];
    if (builtIn !== undefined) return builtIn;
    const v = variables.get(name);
    if (!v) return reference;
    if (v.all && v.allValue !== undefined) return v.allValue;
    if (mode === 'text' || format === 'raw') return v.selected.join(', ');
    if (format === 'regex' || v.regex) {
      const escaped = v.selected.map(regexEscape);
      return escaped.length === 1 ? (escaped[0] ?? '') : `(${escaped.join('|')})`;
    }
    return regularEscape(v.selected[0] ?? '');
  });
}

/** Grafana's legend: `{{label}}` from the series, a missing label rendering as nothing. */
function renderLegend(format: string | undefined, labels: Record<string, string>): string {
  if (!format) {
    const { __name__: name = '', ...rest } = labels;
    const inner = Object.keys(rest)
      .sort()
      .map((k) => `${k}="${rest[k] ?? ''}"`)
      .join(', ');
    return `${name}{${inner}}`;
  }
  return format.replace(/\{\{\s*(.+?)\s*\}\}/g, (_, label: string) => labels[label] ?? '');
}

async function runQuery(
  prometheus: PrometheusHttp,
  where: string,
  expr: string,
  options: {
    step: number | undefined;
    legend: string | undefined;
    scoped: ReadonlyMap<string, VariableState>;
    builtIns: BuiltIns;
  },
): Promise<QueryRun> {
  const problems: string[] = [];
  let series: Series[] = [];
  const legend = options.legend && interpolate(options.legend, options.scoped, options.builtIns, 'text');
  try {
    const answered =
      options.step === undefined
        ? await prometheus.instant(expr)
        : await prometheus.range(expr, options.step);
    series = answered.map(({ labels, values }) => ({
      labels,
      legend: renderLegend(legend, labels),
      last: [...values].reverse().find((v) => !Number.isNaN(v)),
      max: values.some((v) => !Number.isNaN(v))
        ? Math.max(...values.filter((v) => !Number.isNaN(v)))
        : undefined,
    }));
    for (const label of legendLabels(legend)) {
      const lacking = series.filter((s) => s.labels[label] === undefined);
      if (lacking.length) {
        problems.push(
          `legend {{${label}}} names a label that ${lacking.length} of its ${series.length} series lack`,
        );
      }
    }
    problems.push(...(await audit(prometheus, expr)));
  } catch (err) {
    problems.push(`does not run: ${(err as Error).message}`);
  }
  return { where, expr, series, problems: problems.map((p) => `${where} ${p}`) };
}

const legendLabels = (legend: string | undefined): string[] =>
  [...(legend ?? '').matchAll(/\{\{\s*(.+?)\s*\}\}/g)].map((m) => m[1] ?? '');

interface Selector {
  metric: string;
  text: string;
  matchers: { label: string; op: string; value: string }[];
}

interface QueryLabels {
  selectors: Selector[];
  /** Labels in groupings (by, without, on, ignoring, group_left/right) and the sources of label_replace/label_join. */
  used: string[];
  /** Labels label_replace and label_join create. */
  created: string[];
}

const unquote = (literal: string): string => {
  try {
    return JSON.parse(literal.startsWith("'") ? `"${literal.slice(1, -1)}"` : literal) as string;
  } catch {
    return literal.slice(1, -1);
  }
};

/** What a PromQL query names: its selectors with their matchers, and the labels it groups and joins on. */
export function queryLabels(query: string): QueryLabels {
  const out: QueryLabels = { selectors: [], used: [], created: [] };
  const text = (node: { from: number; to: number }) => query.slice(node.from, node.to);
  parser.parse(query).iterate({
    enter(ref) {
      const node = ref.node;
      if (ref.name === 'VectorSelector') {
        const name = node.getChild('Identifier');
        const matchers: Selector['matchers'] = [];
        for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
          const label = m.getChild('LabelName');
          const op = m.getChild('MatchOp');
          const value = m.getChild('StringLiteral');
          if (label && op && value)
            matchers.push({ label: text(label), op: text(op), value: unquote(text(value)) });
        }
        out.selectors.push({ metric: name ? text(name) : '', text: text(node), matchers });
        return false;
      }
      if (ref.name === 'GroupingLabels') {
        for (const label of node.getChildren('LabelName')) out.used.push(text(label));
        return false;
      }
      if (ref.name === 'FunctionCall') {
        const fn = text(node.getChild('FunctionIdentifier') ?? node);
        if (fn === 'label_replace' || fn === 'label_join') {
          const args = node
            .getChild('FunctionCallBody')
            ?.getChildren('StringLiteral')
            .map((s) => unquote(text(s)));
          const [dst, , ...rest] = args ?? [];
          if (dst) out.created.push(dst);
          // label_replace(v, dst, replacement, src, regex); label_join(v, dst, separator, src...)
          out.used.push(...(fn === 'label_replace' ? rest.slice(0, 1) : rest));
        }
      }
      return undefined;
    },
  });
  return out;
}

/** A matcher that only holds for series that carry the label. */
function requiresLabel(m: Selector['matchers'][number]): boolean {
  if (m.op === '=') return m.value !== '';
  if (m.op === '=~') {
    try {
      return !new RegExp(`^(?:${m.value})$`).test('');
    } catch {
      return true;
    }
  }
  return false;
}

/**
 * The labels a query needs that its series do not have: a matcher's label that no series of its
 * metric carries, a grouping, join or label_replace source that no series of the query's metrics
 * carries and no label_replace creates.
 */
async function audit(prometheus: PrometheusHttp, query: string, extra: string[] = []): Promise<string[]> {
  const { selectors, used, created } = queryLabels(query);
  const problems: string[] = [];
  const all = new Set<string>(['__name__', ...created]);
  const metrics = [...new Set(selectors.map((s) => s.metric).filter(Boolean))];
  for (const metric of metrics) for (const label of await prometheus.labelNames(metric)) all.add(label);
  const lacking = (label: string, of: string[]) =>
    `queries the label ${label}, which no series of ${of.join(', ')} carries`;
  for (const s of selectors) {
    const carried = s.metric ? await prometheus.labelNames(s.metric) : new Set<string>();
    // a metric without any series in the range says nothing about its labels: explainEmpty speaks then
    if (!carried.size) continue;
    for (const m of s.matchers.filter(requiresLabel)) {
      if (!carried.has(m.label) && !problems.includes(lacking(m.label, [s.metric]))) {
        problems.push(lacking(m.label, [s.metric]));
      }
    }
  }
  if (all.size > created.length + 1) {
    for (const label of new Set([...used, ...extra])) {
      if (!all.has(label)) problems.push(lacking(label, metrics));
    }
  }
  return problems;
}

/**
 * Why a query found nothing: the first selector with no series in the range, and the matcher
 * without which it would find some, with the values the label does have.
 */
export async function explainEmpty(query: string, settings: GrafanaSettings): Promise<string> {
  const prometheus = new PrometheusHttp(settings);
  for (const s of queryLabels(query).selectors) {
    if ((await prometheus.seriesCount(s.text)) > 0) continue;
    for (const [i, m] of s.matchers.entries()) {
      const others = s.matchers
        .filter((_, j) => j !== i)
        .map((o) => `${o.label}${o.op}${JSON.stringify(o.value)}`);
      const without = `${s.metric}{${others.join(', ')}}`;
      if ((await prometheus.seriesCount(without)) === 0) continue;
      const values = await prometheus.labelValues(m.label, without);
      return `${s.text} finds no series; without ${m.label}${m.op}${JSON.stringify(m.value)} it would (${m.label}: ${values.length ? values.join(', ') : 'no such label'})`;
    }
    return `${s.text} finds no series in the time range`;
  }
  return 'every selector finds series; the expression as a whole (its joins, filters or arithmetic) finds none';
}

/** The few calls of Prometheus' HTTP API Grafana makes, over the dashboard's time range. */
class PrometheusHttp {
  private readonly labelCache = new Map<string, Set<string>>();
  private readonly start: string;
  private readonly end: string;

  constructor(private readonly settings: GrafanaSettings) {
    this.start = (settings.from.getTime() / 1000).toFixed(3);
    this.end = (settings.to.getTime() / 1000).toFixed(3);
  }

  private async get<T>(path: string, params: [string, string][]): Promise<T> {
    const url = `${this.settings.prometheusUrl}${path}?${new URLSearchParams(params).toString()}`;
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = (await response.json()) as { status: string; data?: T; error?: string };
    if (body.status !== 'success' || body.data === undefined)
      throw new Error(body.error ?? `HTTP ${response.status}`);
    return body.data;
  }

  private window(): [string, string][] {
    return [
      ['start', this.start],
      ['end', this.end],
    ];
  }

  labelValues(label: string, selector?: string): Promise<string[]> {
    return this.get<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, [
      ...(selector ? ([['match[]', selector]] as [string, string][]) : []),
      ...this.window(),
    ]);
  }

  async labelNames(metric: string): Promise<Set<string>> {
    let names = this.labelCache.get(metric);
    if (!names) {
      names = new Set(await this.get<string[]>('/api/v1/labels', [['match[]', metric], ...this.window()]));
      this.labelCache.set(metric, names);
    }
    return names;
  }

  async seriesCount(selector: string): Promise<number> {
    return (await this.get<unknown[]>('/api/v1/series', [['match[]', selector], ...this.window()])).length;
  }

  async instant(expr: string): Promise<{ labels: Record<string, string>; values: number[] }[]> {
    const data = await this.get<{ resultType: string; result: unknown }>('/api/v1/query', [
      ['query', expr],
      ['time', this.end],
    ]);
    if (data.resultType !== 'vector') throw new Error(`an instant query answered a ${data.resultType}`);
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      labels: s.metric,
      values: [Number(s.value[1])],
    }));
  }

  async range(expr: string, step: number): Promise<{ labels: Record<string, string>; values: number[] }[]> {
    const data = await this.get<{ resultType: string; result: unknown }>('/api/v1/query_range', [
      ['query', expr],
      ['start', String(Math.floor(this.settings.from.getTime() / 1000 / step) * step)],
      ['end', this.end],
      ['step', String(step)],
    ]);
    return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((s) => ({
      labels: s.metric,
      values: s.values.map(([, v]) => Number(v)),
    }));
  }
}

function seconds(duration: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(duration.trim());
  if (!match) throw new Error(`not a duration: ${duration}`);
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.max(1, Number(match[1]) * factor);
}
