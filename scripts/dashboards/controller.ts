/**
 * The canaria controller dashboard: is it keeping up (reconciles, their errors and latency, the
 * queue), and are its two backends answering (the Kubernetes API server, the metrics backend)?
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import {
  DATASOURCE,
  DashboardBuilder,
  type Dashboard,
  datasourceVariable,
  labelVariable,
  legendBelow,
  layout,
  rangeQuery,
  tooltipAll,
} from './parts.js';

export const CONTROLLER_UID = 'canaria-controller';

const ON = 'instance=~"$instance"';
const rate = (metric: string, filter = '') => `rate(${metric}{${ON}${filter}}[$__rate_interval])`;

const series = (title: string, unit: string, description: string): timeseries.PanelBuilder =>
  new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .legend(legendBelow())
    .tooltip(tooltipAll())
    .lineWidth(2)
    .fillOpacity(5)
    .height(8)
    .span(12);

const single = (title: string, unit: string, description: string): stat.PanelBuilder =>
  new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.Area)
    .height(5)
    .span(6);

const quantiles = (metric: string, by: string, legend: (q: string) => string) =>
  [0.5, 0.99].map((q, i) =>
    rangeQuery(
      String.fromCharCode(65 + i),
      `histogram_quantile(${q}, sum by (${by}le) (${rate(`${metric}_bucket`)}))`,
      legend(`p${q * 100}`),
    ),
  );

function health(): stat.PanelBuilder[] {
  return [
    single('Reconciles per second', 'ops', 'How often the controller reconciles a release.').withTarget(
      rangeQuery('A', `sum(${rate('canaria_reconcile_duration_seconds_count')})`, 'reconciles'),
    ),
    single(
      'Failed reconciles',
      'percentunit',
      'Share of reconciles that ended in an error (the queue retries them with a backoff).',
    ).withTarget(
      rangeQuery(
        'A',
        `(sum(${rate('canaria_reconcile_duration_seconds_count', ', result="error"')}) or vector(0))\n/\nsum(${rate('canaria_reconcile_duration_seconds_count')})`,
        'failed',
      ),
    ),
    single('Queue depth', 'short', 'Releases waiting to be reconciled, on every replica.').withTarget(
      rangeQuery('A', `sum(canaria_queue_depth{${ON}})`, 'queued'),
    ),
    single('Releases by phase', 'short', 'How many releases are in each phase.').withTarget(
      rangeQuery('A', `sum by (phase) (canaria_releases{${ON}})`, '{{phase}}'),
    ),
  ];
}

function reconciles(): timeseries.PanelBuilder[] {
  return [
    series('Reconciles per second by result', 'ops', 'Reconciles that ended ok and in an error.').withTarget(
      rangeQuery('A', `sum by (result) (${rate('canaria_reconcile_duration_seconds_count')})`, '{{result}}'),
    ),
    series('Reconcile latency', 's', 'How long one reconcile takes: quantiles and mean.')
      .withTarget(
        rangeQuery(
          'A',
          `histogram_quantile(0.5, sum by (le) (${rate('canaria_reconcile_duration_seconds_bucket')}))`,
          'p50',
        ),
      )
      .withTarget(
        rangeQuery(
          'B',
          `histogram_quantile(0.9, sum by (le) (${rate('canaria_reconcile_duration_seconds_bucket')}))`,
          'p90',
        ),
      )
      .withTarget(
        rangeQuery(
          'C',
          `histogram_quantile(0.99, sum by (le) (${rate('canaria_reconcile_duration_seconds_bucket')}))`,
          'p99',
        ),
      )
      .withTarget(
        rangeQuery(
          'D',
          `sum(${rate('canaria_reconcile_duration_seconds_sum')})\n/\nsum(${rate('canaria_reconcile_duration_seconds_count')})`,
          'mean',
        ),
      ),
    series(
      'Queue depth per replica',
      'short',
      'Releases waiting in each replica’s work queue; a standby’s stays at 0.',
    ).withTarget(rangeQuery('A', `canaria_queue_depth{${ON}}`, '{{instance}}')),
    series(
      'Errors',
      'ops',
      'Reconciles that failed, and analyses whose metrics backend did not answer (they hold the release).',
    )
      .withTarget(
        rangeQuery(
          'A',
          `sum(${rate('canaria_reconcile_duration_seconds_count', ', result="error"')})`,
          'failed reconciles',
        ),
      )
      .withTarget(
        rangeQuery(
          'B',
          `sum(${rate('canaria_analysis_total', ', result="Error"')})`,
          'analyses without an answer from the metrics backend',
        ),
      ),
  ];
}

function kubernetesApi(): timeseries.PanelBuilder[] {
  return [
    series(
      'API server calls per second',
      'reqps',
      'Calls to the Kubernetes API server (lists, patches, status writes, Events; watches aside), by method.',
    ).withTarget(rangeQuery('A', `sum by (method) (${rate('canaria_kube_requests_total')})`, '{{method}}')),
    series(
      'API server errors per second',
      'reqps',
      'Calls that failed, by why: Conflict (someone wrote first: planned again), Forbidden (RBAC), Invalid, NotFound, Unavailable, Timeout.',
    ).withTarget(
      rangeQuery(
        'A',
        `sum by (result) (${rate('canaria_kube_requests_total', ', result!="ok"')})`,
        '{{result}}',
      ),
    ),
    series('API server call latency', 's', 'How long calls to the API server take, by method.').targets(
      quantiles('canaria_kube_request_duration_seconds', 'method, ', (q) => `{{method}} ${q}`),
    ),
  ];
}

function metricsBackend(): timeseries.PanelBuilder[] {
  return [
    series(
      'Prometheus queries per second',
      'reqps',
      'Queries to the metrics backend, retries included, by endpoint.',
    ).withTarget(
      rangeQuery('A', `sum by (endpoint) (${rate('canaria_prometheus_queries_total')})`, '{{endpoint}}'),
    ),
    series(
      'Prometheus errors per second',
      'reqps',
      'Queries that failed, by why: Unreachable, Timeout, BadQuery (a query Prometheus refused), Malformed, Ambiguous.',
    ).withTarget(
      rangeQuery(
        'A',
        `sum by (result) (${rate('canaria_prometheus_queries_total', ', result!="ok"')})`,
        '{{result}}',
      ),
    ),
    series(
      'Prometheus query latency',
      's',
      'How long one query takes, retries included, by endpoint.',
    ).targets(
      quantiles('canaria_prometheus_query_duration_seconds', 'endpoint, ', (q) => `{{endpoint}} ${q}`),
    ),
  ];
}

function analyses(): timeseries.PanelBuilder[] {
  return [
    series('Analysis results', 'short', 'Analyses of every release, by verdict, per interval.').withTarget(
      rangeQuery(
        'A',
        `sum by (result) (increase(canaria_analysis_total{${ON}}[$__rate_interval]))`,
        '{{result}}',
      ),
    ),
    series('Decisions', 'short', 'Decisions of every release, by action, per interval.').withTarget(
      rangeQuery(
        'A',
        `sum by (action) (increase(canaria_decision_total{${ON}}[$__rate_interval]))`,
        '{{action}}',
      ),
    ),
  ];
}

function processPanels(): timeseries.PanelBuilder[] {
  return [
    series('CPU', 'percentunit', 'CPU time the controller process uses.')
      .withTarget(rangeQuery('A', rate('canaria_process_cpu_seconds_total'), '{{instance}}'))
      .span(8),
    series('Memory', 'bytes', 'Resident memory and the heap in use.')
      .withTarget(rangeQuery('A', `canaria_process_resident_memory_bytes{${ON}}`, '{{instance}} resident'))
      .withTarget(rangeQuery('B', `canaria_nodejs_heap_size_used_bytes{${ON}}`, '{{instance}} heap used'))
      .span(8),
    series('Event loop lag p99', 's', 'How late the event loop runs: high values delay every reconcile.')
      .withTarget(rangeQuery('A', `canaria_nodejs_eventloop_lag_p99_seconds{${ON}}`, '{{instance}}'))
      .span(8),
  ];
}

export function controllerDashboard(): Dashboard {
  const builder = new DashboardBuilder('canaria controller')
    .uid(CONTROLLER_UID)
    .description('canaria: reconcile health, the work queue, and the calls to the API server and Prometheus.')
    .tags(['canaria'])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .time({ from: 'now-1h', to: 'now' })
    .refresh('30s')
    .withVariable(datasourceVariable())
    .withVariable(
      labelVariable('instance', 'Instance', 'canaria_queue_depth', 'instance')
        .multi(true)
        .includeAll(true)
        .current({ text: 'All', value: '$__all' }),
    )
    .annotation(
      new dashboard.AnnotationQueryBuilder()
        .name('Annotations & Alerts')
        .builtIn(1)
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)')
        .type('dashboard'),
    );
  const rows: [string, (stat.PanelBuilder | timeseries.PanelBuilder)[]][] = [
    ['Health', health()],
    ['Reconciles and the work queue', reconciles()],
    ['Kubernetes API server', kubernetesApi()],
    ['Metrics backend', metricsBackend()],
    ['Analyses and decisions', analyses()],
    ['Process', processPanels()],
  ];
  for (const [title, panels] of rows) {
    builder.withRow(new dashboard.RowBuilder(title));
    for (const panel of panels) builder.withPanel(panel);
  }
  return layout(builder.build());
}
