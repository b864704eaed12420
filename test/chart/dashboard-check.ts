/**
 * Checks the chart's Grafana dashboards the way Grafana's sidecar and Prometheus will meet them: plain
 * dashboard JSON with a uid, every query on the `${datasource}` variable, every PromQL expression
 * valid for Prometheus' own grammar once Grafana's variables are filled in, and every metric one that
 * canaria or Istio exports. A dashboard that queries a metric nobody exports shows "No data" forever
 * and nobody notices; this is where it fails instead.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { parsePromql } from '../harness/promql-grammar.js';

/**
 * Istio's standard metrics, https://istio.io/latest/docs/reference/config/metrics/ . Its
 * DISTRIBUTIONs are Prometheus histograms, queried through their _bucket, _sum and _count series.
 */
const ISTIO_COUNTERS = [
  'istio_requests_total',
  'istio_request_messages_total',
  'istio_response_messages_total',
  'istio_tcp_sent_bytes_total',
  'istio_tcp_received_bytes_total',
  'istio_tcp_connections_opened_total',
  'istio_tcp_connections_closed_total',
];
const ISTIO_DISTRIBUTIONS = [
  'istio_request_duration_milliseconds',
  'istio_request_bytes',
  'istio_response_bytes',
];
const HISTOGRAM_SERIES = ['_bucket', '_sum', '_count'];

export const ISTIO_STANDARD_METRICS: ReadonlySet<string> = new Set([
  ...ISTIO_COUNTERS,
  ...ISTIO_DISTRIBUTIONS.flatMap((name) => HISTOGRAM_SERIES.map((suffix) => name + suffix)),
]);

/** The series names a registry exposes, histograms and summaries expanded to what PromQL can select. */
export async function exportedMetricNames(registry: Registry): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    // prom-client's typings declare a numeric enum; at run time the type is the exposition's word
    switch (String(metric.type)) {
      case 'histogram':
        for (const suffix of HISTOGRAM_SERIES) names.add(metric.name + suffix);
        break;
      case 'summary':
        for (const suffix of ['', '_sum', '_count']) names.add(metric.name + suffix);
        break;
      default:
        names.add(metric.name);
    }
  }
  return names;
}

const datasourceRef = z.looseObject({ type: z.string().optional(), uid: z.string().optional() });
type DatasourceRef = z.infer<typeof datasourceRef>;

const target = z.looseObject({
  refId: z.string(),
  expr: z.string().optional(),
  legendFormat: z.string().optional(),
  datasource: datasourceRef.optional(),
});

interface Panel {
  id?: number | undefined;
  title: string;
  type: string;
  datasource?: DatasourceRef | undefined;
  targets?: z.infer<typeof target>[] | undefined;
  panels?: Panel[] | undefined;
}
const panel: z.ZodType<Panel> = z.looseObject({
  id: z.number().optional(),
  title: z.string(),
  type: z.string(),
  datasource: datasourceRef.optional(),
  targets: z.array(target).optional(),
  // rows keep their panels inside while collapsed
  get panels() {
    return z.array(panel).optional();
  },
});

const variable = z.looseObject({
  name: z.string().min(1),
  type: z.string(),
  datasource: datasourceRef.nullable().optional(),
  // Grafana writes a query variable's query as a string or, from version 10 on, as an object
  query: z.union([z.string(), z.looseObject({ query: z.string() })]).optional(),
});

const annotation = z.looseObject({
  name: z.string(),
  builtIn: z.number().optional(),
  datasource: datasourceRef.optional(),
  expr: z.string().optional(),
});

const dashboardSchema = z.looseObject({
  id: z.null().optional(),
  uid: z.string().min(1),
  title: z.string().min(1),
  schemaVersion: z.number(),
  templating: z.looseObject({ list: z.array(variable) }),
  annotations: z.looseObject({ list: z.array(annotation) }).optional(),
  panels: z.array(panel),
});

export interface DashboardFile {
  /** The file's name, which problems start with. */
  file: string;
  json: unknown;
}

export interface DashboardReport {
  /** One line per problem, naming the file, the panel, variable or annotation, and the query. */
  problems: string[];
  /** The metrics each dashboard's queries select, by file. */
  metricsByFile: Map<string, Set<string>>;
}

export function loadDashboards(dir: string): DashboardFile[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as unknown }));
}

export function checkDashboards(
  dashboards: readonly DashboardFile[],
  knownMetrics: ReadonlySet<string>,
): DashboardReport {
  const problems: string[] = [];
  const metricsByFile = new Map<string, Set<string>>();
  const owners = { uid: new Map<string, string>(), title: new Map<string, string>() };
  for (const { file, json } of dashboards) {
    const parsed = dashboardSchema.safeParse(json);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        problems.push(`${file}: ${issue.path.join('.')}: ${issue.message}`);
      continue;
    }
    const dashboard = parsed.data;
    for (const key of ['uid', 'title'] as const) {
      const other = owners[key].get(dashboard[key]);
      if (other) problems.push(`${file}: ${key} "${dashboard[key]}" is also the ${key} of ${other}`);
      owners[key].set(dashboard[key], file);
    }
    const metrics = new Set<string>();
    metricsByFile.set(file, metrics);
    checkDashboard(file, dashboard, knownMetrics, problems, metrics);
  }
  return { problems, metricsByFile };
}

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

function checkDashboard(
  file: string,
  dashboard: z.infer<typeof dashboardSchema>,
  knownMetrics: ReadonlySet<string>,
  problems: string[],
  metrics: Set<string>,
): void {
  if ('__inputs' in dashboard) {
    problems.push(
      `${file}: has __inputs; Grafana's sidecar loads dashboards as they are, with no import step`,
    );
  }
  const variables = new Set(dashboard.templating.list.map((v) => v.name));
  const source = dashboard.templating.list.find((v) => v.name === 'datasource');
  if (source?.type !== 'datasource' || source.query !== 'prometheus') {
    problems.push(`${file}: needs a variable "datasource" of type datasource with query prometheus`);
  }
  const check = (where: string, expr: string) => {
    checkQuery(`${file}: ${where}`, expr, variables, knownMetrics, problems, metrics);
  };
  const checkDatasource = (where: string, ref: DatasourceRef | null | undefined) => {
    if (ref?.type !== DATASOURCE.type || ref.uid !== DATASOURCE.uid) {
      problems.push(`${file}: ${where} must use the datasource ${JSON.stringify(DATASOURCE)}`);
    }
  };

  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const where = `variable "${v.name}"`;
    checkDatasource(where, v.datasource);
    const query = typeof v.query === 'string' ? v.query : v.query?.query;
    const promql = query ? variablePromql(query) : null;
    if (promql === null) {
      problems.push(
        `${file}: ${where}: use label_values(...) or query_result(...), not ${JSON.stringify(query ?? '')}`,
      );
    } else if (promql) {
      check(where, promql);
    }
  }

  for (const a of dashboard.annotations?.list ?? []) {
    if (a.builtIn === 1) continue;
    const where = `annotation "${a.name}"`;
    checkDatasource(where, a.datasource);
    if (!a.expr) problems.push(`${file}: ${where} has no expr`);
    else check(where, a.expr);
  }

  const ids = new Set<number>();
  for (const p of allPanels(dashboard.panels)) {
    const where = `panel "${p.title}"`;
    if (p.id !== undefined) {
      if (ids.has(p.id)) problems.push(`${file}: ${where} has the id ${p.id} of another panel`);
      ids.add(p.id);
    }
    if (p.type === 'row' || p.type === 'text') continue;
    checkDatasource(where, p.datasource);
    if (!p.targets?.length) problems.push(`${file}: ${where} has no query`);
    for (const t of p.targets ?? []) {
      const query = `${where} query ${t.refId}`;
      if (t.datasource) checkDatasource(query, t.datasource);
      if (!t.expr?.trim()) problems.push(`${file}: ${query} has no expr`);
      else check(query, t.expr);
      if (t.legendFormat) {
        for (const name of substitute(t.legendFormat, variables).undefinedVariables) {
          problems.push(`${file}: ${query} legend uses $${name}, which is no variable of the dashboard`);
        }
      }
    }
  }
}

function* allPanels(panels: readonly Panel[]): Generator<Panel> {
  for (const p of panels) {
    yield p;
    yield* allPanels(p.panels ?? []);
  }
}

/**
 * The PromQL inside a query variable's query: the selector of `label_values(selector, label)` (empty
 * for `label_values(label)`, which spans every metric) or the expression of `query_result(expr)`;
 * null for anything else, which would go unchecked.
 */
function variablePromql(query: string): string | null {
  const call = /^\s*(label_values|query_result)\(([\s\S]*)\)\s*$/.exec(query);
  if (!call) return null;
  const [, grafanaFunction, args = ''] = call;
  if (grafanaFunction === 'query_result') return args;
  const comma = args.lastIndexOf(',');
  return comma >= 0 ? args.slice(0, comma) : '';
}

/** Values that keep PromQL valid where Grafana would put an interval, a range or a variable's value. */
const BUILT_IN_VARIABLES: Record<string, string> = {
  __rate_interval: '5m',
  __interval: '1m',
  __range: '1h',
  __auto: '1m',
};
const VARIABLE_PLACEHOLDER = 'grafana_var_';
// Grafana's three spellings: $name, [[name]] or [[name:format]], ${name}, ${name.field} or ${name:format}
const VARIABLE_REFERENCE = /\$(\w+)|\[\[(\w+)(?::\w+)?\]\]|\$\{(\w+)(?:\.[^:}]+)?(?::[^}]+)?\}/g;

/**
 * Fills Grafana's variables in: intervals with a duration, dashboard variables with an identifier,
 * which PromQL accepts as a label name, in a string, and in a grouping alike.
 */
export function substitute(
  text: string,
  variables: ReadonlySet<string>,
): { text: string; undefinedVariables: string[] } {
  const undefinedVariables: string[] = [];
  const filled = text.replace(VARIABLE_REFERENCE, (reference, ...names: (string | undefined)[]) => {
    const name = names.slice(0, 3).find((n) => n !== undefined) ?? '';
    const builtIn = BUILT_IN_VARIABLES[name];
    if (builtIn) return builtIn;
    if (variables.has(name)) return VARIABLE_PLACEHOLDER + name;
    // $1 is label_replace's reference to a regular-expression group, which Grafana leaves alone
    if (!/^\d+$/.test(name)) undefinedVariables.push(name);
    return reference;
  });
  return { text: filled, undefinedVariables };
}

function checkQuery(
  where: string,
  expr: string,
  variables: ReadonlySet<string>,
  knownMetrics: ReadonlySet<string>,
  problems: string[],
  metrics: Set<string>,
): void {
  const { text, undefinedVariables } = substitute(expr, variables);
  for (const name of undefinedVariables) {
    problems.push(`${where} uses $${name}, which is no variable of the dashboard`);
  }
  if (undefinedVariables.length) return;
  const { errors } = parsePromql(text);
  if (errors.length) {
    problems.push(`${where} does not parse as PromQL (at ${errors.join(', ')}): ${text}`);
    return;
  }
  for (const selector of selectedMetrics(text)) {
    if (selector.metric === undefined) {
      problems.push(`${where} selects ${selector.text} without a metric name; name the metric`);
    } else if (!knownMetrics.has(selector.metric)) {
      problems.push(`${where} queries ${selector.metric}, which neither canaria nor Istio exports`);
    } else {
      metrics.add(selector.metric);
    }
  }
}

/** The metric each vector selector of a valid query names; undefined for a selector by labels only. */
export function selectedMetrics(query: string): { text: string; metric: string | undefined }[] {
  const found: { text: string; metric: string | undefined }[] = [];
  parser.parse(query).iterate({
    enter(ref) {
      if (ref.name !== 'VectorSelector') return;
      const name = ref.node.getChild('Identifier');
      found.push({
        text: query.slice(ref.from, ref.to),
        metric: name ? query.slice(name.from, name.to) : undefined,
      });
      return false;
    },
  });
  return found;
}
