import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARDS, renderDashboard } from '../../scripts/dashboards/index.js';
import { RELEASE_INFO, SIDES, onSide, requestsPerRevision } from '../../scripts/dashboards/queries.js';
import { PHASES, VERDICTS } from '../../src/api/canary-release.js';
import { ControllerMetrics } from '../../src/telemetry/metrics.js';
import {
  ISTIO_STANDARD_METRICS,
  checkDashboards,
  exportedMetricNames,
  loadDashboards,
  selectedMetrics,
  substitute,
  type DashboardFile,
} from './dashboard-check.js';

const DASHBOARDS_DIR = fileURLToPath(new URL('../../charts/canaria/dashboards/', import.meta.url));
const RELEASES = 'canary-releases.json';
const CONTROLLER = 'canaria-controller.json';

let known: Set<string>;
beforeAll(async () => {
  const canaria = await exportedMetricNames(new ControllerMetrics({ defaultMetrics: true }).registry);
  known = new Set([...canaria, ...ISTIO_STANDARD_METRICS]);
});

const dashboards = (): DashboardFile[] => loadDashboards(DASHBOARDS_DIR);

/** What a query of the selected release's series must say, once Grafana's variables are filled in. */
const RELEASE_FILTER = ['namespace="grafana_var_namespace"', 'name="grafana_var_release"'];
const SERVICE_FILTER = [
  'reporter="grafana_var_reporter"',
  'destination_service_namespace="grafana_var_namespace"',
  // a regular expression: a router that splits between Services (Gateway API) measures both
  'destination_service_name=~"grafana_var_service"',
];

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
}
interface Panel {
  title: string;
  type: string;
  targets?: Target[];
  fieldConfig?: { defaults: { mappings?: { options: Record<string, { text: string }> }[] } };
}

function panelsOf(file: string): Panel[] {
  const found = dashboards().find((d) => d.file === file);
  if (!found) throw new Error(`${file} is missing from ${DASHBOARDS_DIR}`);
  return (found.json as { panels: Panel[] }).panels;
}

function panel(file: string, title: string): Panel {
  const found = panelsOf(file).find((p) => p.title === title);
  if (!found) throw new Error(`${file} has no panel "${title}"`);
  return found;
}

/** A deep copy of the shipped dashboards with one panel's first query replaced. */
function withQuery(file: string, title: string, expr: string): DashboardFile[] {
  const copies = structuredClone(dashboards());
  const { panels } = copies.find((d) => d.file === file)!.json as { panels: Panel[] };
  panels.find((p) => p.title === title)!.targets![0]!.expr = expr;
  return copies;
}

describe('the Grafana dashboards the chart ships', () => {
  it('are the canary-release and the controller dashboards', () => {
    expect(dashboards().map((d) => d.file)).toEqual([CONTROLLER, RELEASES]);
  });

  it.each(DASHBOARDS.map((d) => [d.file, d.build] as const))(
    '%s matches what scripts/dashboards builds (run npm run gen:dashboards)',
    (file, build) => {
      expect(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')).toBe(renderDashboard(build()));
    },
  );

  it('pass the check: provisionable, on the datasource variable, valid PromQL, only exported metrics', () => {
    expect(checkDashboards(dashboards(), known).problems).toEqual([]);
  });

  it('query what the issue asks of them', () => {
    const { metricsByFile } = checkDashboards(dashboards(), known);
    expect([...(metricsByFile.get(RELEASES) ?? [])].sort()).toEqual([
      'canaria_analysis_metric_bound',
      'canaria_analysis_metric_e_value',
      'canaria_analysis_metric_e_value_threshold',
      'canaria_analysis_metric_errors',
      'canaria_analysis_metric_rate_ratio',
      'canaria_analysis_metric_rate_ratio_high',
      'canaria_analysis_metric_rate_ratio_low',
      'canaria_analysis_metric_requests',
      'canaria_analysis_metric_slow_requests',
      'canaria_analysis_metric_value',
      'canaria_analysis_metric_verdict',
      'canaria_analysis_total',
      'canaria_release_actual_weight',
      'canaria_release_decision_timestamp_seconds',
      'canaria_release_info',
      'canaria_release_phase',
      'canaria_release_weight',
      'istio_request_duration_milliseconds_bucket',
      'istio_requests_total',
    ]);
    expect([...(metricsByFile.get(CONTROLLER) ?? [])].sort()).toEqual([
      'canaria_analysis_total',
      'canaria_decision_total',
      'canaria_kube_request_duration_seconds_bucket',
      'canaria_kube_requests_total',
      'canaria_nodejs_eventloop_lag_p99_seconds',
      'canaria_nodejs_heap_size_used_bytes',
      'canaria_process_cpu_seconds_total',
      'canaria_process_resident_memory_bytes',
      'canaria_prometheus_queries_total',
      'canaria_prometheus_query_duration_seconds_bucket',
      'canaria_queue_depth',
      'canaria_reconcile_duration_seconds_bucket',
      'canaria_reconcile_duration_seconds_count',
      'canaria_reconcile_duration_seconds_sum',
      'canaria_releases',
    ]);
  });

  it('are driven by the release: every panel below the overview, and every annotation, selects its series', () => {
    const json = dashboards().find((d) => d.file === RELEASES)!.json as {
      annotations: { list: { name: string; expr?: string }[] };
      templating: { list: { name: string }[] };
    };
    const variables = new Set(json.templating.list.map((v) => v.name));
    const panels = panelsOf(RELEASES).filter((p) => p.title !== 'Releases');
    const queries = [
      ...json.annotations.list.map((a) => ({ where: `annotation ${a.name}`, expr: a.expr ?? '' })),
      ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel ${p.title}`, expr: t.expr }))),
    ];
    const { canaria, istio } = { canaria: RELEASE_FILTER, istio: SERVICE_FILTER };
    const unfiltered = queries.flatMap(({ where, expr }) =>
      selectedMetrics(substitute(expr, variables).text)
        .filter(({ metric, text }) => {
          const wanted = metric?.startsWith('istio_') ? istio : canaria;
          return !wanted.every((matcher) => text.includes(matcher));
        })
        .map(({ text }) => `${where}: ${text}`),
    );
    expect(unfiltered).toEqual([]);
    expect(queries.length).toBeGreaterThan(20);
  });

  it('takes the service, revision label and reporter from the release info, hidden from the picker', () => {
    const { templating } = dashboards().find((d) => d.file === RELEASES)!.json as {
      templating: { list: { name: string; query?: string; hide?: number }[] };
    };
    const derived = templating.list.filter((v) => ['service', 'revision_label', 'reporter'].includes(v.name));
    expect(derived.map((v) => [v.name, v.query, v.hide])).toEqual([
      ['service', `label_values(${RELEASE_INFO}, service)`, 2],
      ['revision_label', `label_values(${RELEASE_INFO}, revision_label)`, 2],
      ['reporter', `label_values(${RELEASE_INFO}, reporter)`, 2],
    ]);
  });

  it("show seed S6's requests per revision for the release's service, each revision named canary or stable", () => {
    const targets = panel(RELEASES, 'Requests per second: canary and stable').targets!;
    expect(targets.map((t) => t.legendFormat)).toEqual(['canary {{revision}}', 'stable {{revision}}']);
    const perRevision = requestsPerRevision
      .replaceAll('$revision_label', 'destination_canonical_revision')
      .replaceAll('$reporter', 'destination')
      .replaceAll('$namespace', 'default')
      .replaceAll('$service', 'reviews')
      .replace('[$__rate_interval]', '[1m]');
    // S6's query for the Service canaria measures, with the reporter that keeps the source and the
    // destination sidecar's reports of one request from counting twice
    expect(perRevision).toBe(
      'sum by (destination_canonical_revision) (irate(istio_requests_total{reporter="destination", ' +
        'destination_service_namespace="default", destination_service_name=~"reviews"}[1m]))',
    );
    for (const [i, side] of SIDES.entries()) expect(targets[i]!.expr).toBe(onSide(side, requestsPerRevision));
  });

  it('name each series of a per-side panel after the side whose revision its query joins on', () => {
    const sided = panelsOf(RELEASES).flatMap((p) =>
      (p.targets ?? [])
        .filter((t) => new Set(t.expr.match(/"(canary|stable)_revision"/g)).size === 1)
        .map((t) => ({ p, t })),
    );
    // requests, 5xx ratio, p50 and p99, for each side
    expect(sided).toHaveLength(8);
    for (const { p, t } of sided) {
      const side = /"(canary|stable)_revision"/.exec(t.expr)?.[1];
      expect(t.legendFormat?.split(' ')[0], `${p.title} ${t.refId}`).toBe(side);
    }
  });

  it('name every phase and every verdict in their timelines, in the order of their values', () => {
    for (const [title, label, names] of [
      ['Phase', 'phase', PHASES],
      ['Verdict per metric', 'verdict', VERDICTS],
    ] as const) {
      const timeline = panel(RELEASES, title);
      const pairs = [
        ...timeline.targets![0]!.expr.matchAll(new RegExp(`${label}="(\\w+)"\\} \\* (\\d+)`, 'g')),
      ];
      expect(pairs.map(([, name]) => name)).toEqual([...names]);
      const mapping = timeline.fieldConfig!.defaults.mappings![0]!.options;
      for (const [, name, value] of pairs) expect(mapping[value!]?.text).toBe(name);
    }
  });

  it('mark every decision of the selected release on the time axis, at the time it was taken', () => {
    const { annotations } = dashboards().find((d) => d.file === RELEASES)!.json as {
      annotations: {
        list: { name: string; expr?: string; useValueForTime?: boolean; titleFormat?: string }[];
      };
    };
    const marks = annotations.list.filter((a) => a.expr);
    expect(marks.map((a) => [a.name, a.useValueForTime, a.titleFormat])).toEqual([
      ['Decisions', true, '{{action}}'],
      ['Rollbacks and failures', true, '{{action}}'],
    ]);
    // between them every action, each once
    expect(marks.map((a) => /action(!~|=~)"([^"]+)"/.exec(a.expr!)?.slice(1))).toEqual([
      ['!~', 'Rollback|Fail'],
      ['=~', 'Rollback|Fail'],
    ]);
  });
});

describe('the dashboard check', () => {
  it('fails a dashboard that queries a metric nobody exports, naming the metric and the panel', () => {
    const broken = withQuery(RELEASES, 'Analysis verdicts', 'sum(rate(canaria_bogus_total[5m]))');
    expect(checkDashboards(broken, known).problems).toEqual([
      `${RELEASES}: panel "Analysis verdicts" query A queries canaria_bogus_total, which neither canaria nor Istio exports`,
    ]);
  });

  it('fails a query that does not parse, naming the panel', () => {
    const broken = withQuery(CONTROLLER, 'Queue depth', 'sum(rate(canaria_queue_depth[$__rate_interval])');
    const { problems } = checkDashboards(broken, known);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^canaria-controller\.json: panel "Queue depth" query A does not parse as PromQL \(at \d+: .*\): sum\(rate\(canaria_queue_depth\[5m\]\)$/,
    );
  });

  it('fails a selector without a metric name, which it could not check', () => {
    const broken = withQuery(CONTROLLER, 'Queue depth', '{__name__="canaria_queue_depth"}');
    expect(checkDashboards(broken, known).problems).toEqual([
      `${CONTROLLER}: panel "Queue depth" query A selects {__name__="canaria_queue_depth"} without a metric name; name the metric`,
    ]);
  });

  it('fails a query that uses a variable the dashboard does not define', () => {
    const broken = withQuery(CONTROLLER, 'Queue depth', 'canaria_queue_depth{pod=~"$pod"}');
    expect(checkDashboards(broken, known).problems).toEqual([
      `${CONTROLLER}: panel "Queue depth" query A uses $pod, which is no variable of the dashboard`,
    ]);
  });

  it('fails a panel on another datasource, a query without expr, and a uid or title used twice', () => {
    const copies = structuredClone(dashboards());
    const controller = copies.find((d) => d.file === CONTROLLER)!;
    const json = controller.json as {
      uid: string;
      title: string;
      panels: (Panel & { datasource: unknown })[];
    };
    json.panels.find((p) => p.title === 'CPU')!.datasource = { type: 'prometheus', uid: 'prod' };
    delete (json.panels.find((p) => p.title === 'Memory')!.targets![1] as Partial<Target>).expr;
    const twin = { file: 'twin.json', json: structuredClone(json) };
    expect(checkDashboards([controller, twin], known).problems).toEqual([
      `${CONTROLLER}: panel "CPU" must use the datasource {"type":"prometheus","uid":"\${datasource}"}`,
      `${CONTROLLER}: panel "Memory" query B has no expr`,
      'twin.json: uid "canaria-controller" is also the uid of canaria-controller.json',
      'twin.json: title "canaria controller" is also the title of canaria-controller.json',
      `twin.json: panel "CPU" must use the datasource {"type":"prometheus","uid":"\${datasource}"}`,
      'twin.json: panel "Memory" query B has no expr',
    ]);
  });

  it("fails a dashboard exported for sharing, whose __inputs only Grafana's import dialog fills in", () => {
    const copies = structuredClone(dashboards()).filter((d) => d.file === RELEASES);
    (copies[0]!.json as Record<string, unknown>).__inputs = [{ name: 'DS_PROMETHEUS', type: 'datasource' }];
    expect(checkDashboards(copies, known).problems).toEqual([
      `${RELEASES}: has __inputs; Grafana's sidecar loads dashboards as they are, with no import step`,
    ]);
  });

  it("fills in Grafana's variables in all three spellings, and leaves label_replace's $1 alone", () => {
    const variables = new Set(['namespace', 'revision_label']);
    expect(
      substitute(
        'label_replace(sum by ([[revision_label]]) (rate(x{namespace=~"${namespace:regex}"}[$__rate_interval])), "r", "$1", "$revision_label", "(.*)")',
        variables,
      ),
    ).toEqual({
      text: 'label_replace(sum by (grafana_var_revision_label) (rate(x{namespace=~"grafana_var_namespace"}[5m])), "r", "$1", "grafana_var_revision_label", "(.*)")',
      undefinedVariables: [],
    });
  });
});
