import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { PHASES } from '../../src/api/canary-release.js';
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

  it('pass the check: provisionable, on the datasource variable, valid PromQL, only exported metrics', () => {
    expect(checkDashboards(dashboards(), known).problems).toEqual([]);
  });

  it('query what the issue asks of them', () => {
    const { metricsByFile } = checkDashboards(dashboards(), known);
    expect([...(metricsByFile.get(RELEASES) ?? [])].sort()).toEqual([
      'canaria_analysis_total',
      'canaria_decision_total',
      'canaria_release_actual_weight',
      'canaria_release_phase',
      'canaria_release_weight',
      'istio_request_duration_milliseconds_bucket',
      'istio_requests_total',
    ]);
    expect([...(metricsByFile.get(CONTROLLER) ?? [])].sort()).toEqual([
      'canaria_analysis_total',
      'canaria_decision_total',
      'canaria_nodejs_eventloop_lag_p99_seconds',
      'canaria_nodejs_heap_size_used_bytes',
      'canaria_process_cpu_seconds_total',
      'canaria_process_resident_memory_bytes',
      'canaria_queue_depth',
      'canaria_reconcile_duration_seconds_bucket',
      'canaria_reconcile_duration_seconds_count',
      'canaria_reconcile_duration_seconds_sum',
      'canaria_release_phase',
    ]);
  });

  it("filter every panel and annotation on canaria's metrics by the selected namespaces and releases", () => {
    const json = dashboards().find((d) => d.file === RELEASES)!.json as {
      annotations: { list: { name: string; expr?: string }[] };
    };
    const queries = [
      ...json.annotations.list.map((a) => ({ where: `annotation ${a.name}`, expr: a.expr ?? '' })),
      ...panelsOf(RELEASES).flatMap((p) =>
        (p.targets ?? []).map((t) => ({ where: `panel ${p.title}`, expr: t.expr })),
      ),
    ];
    const unfiltered = queries.flatMap(({ where, expr }) =>
      selectedMetrics(substitute(expr, new Set(['namespace', 'release'])).text)
        .filter(({ metric }) => metric?.startsWith('canaria_'))
        .filter(
          ({ text }) =>
            !text.includes('namespace=~"grafana_var_namespace"') ||
            !text.includes('name=~"grafana_var_release"'),
        )
        .map(({ text }) => `${where}: ${text}`),
    );
    expect(unfiltered).toEqual([]);
    expect(queries.filter(({ expr }) => /canaria_(decision|analysis)_total/.test(expr))).toHaveLength(4);
  });

  it("show seed S6's requests per revision once its labels are chosen", () => {
    const [requests] = panel(RELEASES, 'Requests per second by revision').targets!;
    const s6 = requests!.expr
      .replaceAll('$service_label', 'destination_app')
      .replaceAll('$revision_label', 'destination_canonical_revision')
      .replaceAll('$service', 'reviews')
      .replace('[$__rate_interval]', '[1m]');
    // S6's query, with the reporter and namespace filters that keep source and destination reports
    // of one request from counting twice
    expect(s6).toBe(
      'sum(irate(istio_requests_total{reporter="$reporter", destination_service_namespace=~"$namespace", ' +
        'destination_app=~"reviews"}[1m])) by (destination_canonical_revision, destination_app)',
    );
  });

  it('name every phase of a release in the phase timeline, in the order of their values', () => {
    const timeline = panel(RELEASES, 'Phase');
    const pairs = [...timeline.targets![0]!.expr.matchAll(/phase="(\w+)"\} \* (\d+)/g)];
    expect(pairs.map(([, phase]) => phase)).toEqual([...PHASES]);
    const mapping = timeline.fieldConfig!.defaults.mappings![0]!.options;
    for (const [, phase, value] of pairs) expect(mapping[value!]?.text).toBe(phase);
  });
});

describe('the dashboard check', () => {
  it('fails a dashboard that queries a metric nobody exports, naming the metric and the panel', () => {
    const broken = withQuery(RELEASES, 'Decisions', 'sum(rate(canaria_bogus_total[5m]))');
    expect(checkDashboards(broken, known).problems).toEqual([
      `${RELEASES}: panel "Decisions" query A queries canaria_bogus_total, which neither canaria nor Istio exports`,
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
