/**
 * The Canary releases dashboard: pick a namespace and a release, and every panel shows that release —
 * its traffic per side, its weights, each metric of its analysis against the bound the judge used,
 * its decisions on the time axis — above a table of all releases.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { PHASES, VERDICTS } from '../../src/api/canary-release.js';
import {
  DATASOURCE,
  DashboardBuilder,
  type Dashboard,
  colour,
  dashed,
  datasourceVariable,
  labelVariable,
  legendBelow,
  lineStyle,
  namedStates,
  layout,
  rangeQuery,
  tableQuery,
  tooltipAll,
} from './parts.js';
import {
  RELEASE,
  RELEASE_INFO,
  analysisMetric,
  errorRatioPerRevision,
  latencyPerRevision,
  measuredCanaryShare,
  onSide,
  requestsPerRevision,
  stateIndex,
} from './queries.js';

export const RELEASES_UID = 'canaria-releases';

const SIDE_COLOURS = { canary: 'orange', stable: 'green' } as const;
const PHASE_COLOURS: Record<string, string> = {
  Initializing: 'blue',
  Progressing: 'yellow',
  Paused: 'purple',
  Promoting: 'light-green',
  Succeeded: 'green',
  RolledBack: 'red',
  Failed: 'dark-red',
};
const VERDICT_COLOURS: Record<string, string> = {
  Pass: 'green',
  Fail: 'red',
  Inconclusive: 'yellow',
  Error: 'purple',
};

/** Colours the canary and the stable series alike in every panel, whatever their revision. */
function bySide(panel: timeseries.PanelBuilder): timeseries.PanelBuilder {
  for (const side of ['canary', 'stable'] as const) {
    panel.overrideByRegexp(`^${side}\\b.*`, [colour(SIDE_COLOURS[side])]);
  }
  return panel;
}

const series = (title: string, unit: string): timeseries.PanelBuilder =>
  new timeseries.PanelBuilder()
    .title(title)
    .datasource(DATASOURCE)
    .unit(unit)
    .legend(legendBelow())
    .tooltip(tooltipAll())
    .lineWidth(2)
    .fillOpacity(5)
    .height(8)
    .span(12);

function variables(): dashboard.QueryVariableBuilder[] {
  const ofRelease = (name: string, label: string) =>
    labelVariable(name, label, RELEASE_INFO, label).hide(dashboard.VariableHide.HideVariable);
  return [
    labelVariable('namespace', 'Namespace', 'canaria_release_info', 'namespace'),
    labelVariable('release', 'Release', 'canaria_release_info{namespace="$namespace"}', 'name'),
    // what the release routes and how its analysis counts, from its info series: nothing to pick by hand
    ofRelease('service', 'service'),
    ofRelease('revision_label', 'revision_label'),
    ofRelease('reporter', 'reporter'),
    labelVariable('metric', 'Metric', `canaria_analysis_metric_verdict{${RELEASE}}`, 'metric')
      .multi(true)
      .includeAll(true)
      .current({ text: 'All', value: '$__all' }),
    labelVariable(
      'sequential_metric',
      'Sequential metric',
      `canaria_analysis_metric_e_value{${RELEASE}}`,
      'metric',
    )
      .multi(true)
      .includeAll(true)
      .current({ text: 'All', value: '$__all' })
      .hide(dashboard.VariableHide.HideVariable),
  ];
}

function annotations(): dashboard.AnnotationQueryBuilder[] {
  const decisions = (name: string, color: string, filter: string) =>
    new dashboard.AnnotationQueryBuilder()
      .name(name)
      .datasource(DATASOURCE)
      .enable(true)
      .iconColor(color)
      // the series' value is the decision's own time, so the mark sits where it was taken
      .expr(
        `max by (action, reason) (canaria_release_decision_timestamp_seconds{${RELEASE}, action${filter}}) * 1000`,
      )
      .useValueForTime(true)
      .step('10s')
      .titleFormat('{{action}}')
      .textFormat('{{reason}}')
      .tagKeys('action');
  return [
    new dashboard.AnnotationQueryBuilder()
      .name('Annotations & Alerts')
      .builtIn(1)
      .datasource({ type: 'grafana', uid: '-- Grafana --' })
      .enable(true)
      .hide(true)
      .iconColor('rgba(0, 211, 255, 1)')
      .type('dashboard'),
    decisions('Decisions', 'blue', '!~"Rollback|Fail"'),
    decisions('Rollbacks and failures', 'red', '=~"Rollback|Fail"'),
  ];
}

function overview(): table.PanelBuilder {
  const link = new dashboard.DashboardLinkBuilder('Show this release')
    .url(
      `/d/${RELEASES_UID}?var-namespace=\${__data.fields.Namespace}&var-release=\${__value.raw}&\${datasource:queryparam}&\${__url_time_range}`,
    )
    .build();
  return new table.PanelBuilder()
    .title('Releases')
    .description(
      'Every release canaria runs, whatever is selected above: its phase, weights and latest decision.',
    )
    .datasource(DATASOURCE)
    .withTarget(tableQuery('A', 'max by (namespace, name, phase) (canaria_release_phase)'))
    .withTarget(tableQuery('B', 'max by (namespace, name) (canaria_release_weight)'))
    .withTarget(tableQuery('C', 'max by (namespace, name) (canaria_release_actual_weight)'))
    .withTarget(
      tableQuery(
        'D',
        'max by (namespace, name, action) (topk by (namespace, name) (1, canaria_release_decision_timestamp_seconds)) * 1000',
      ),
    )
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true, 'Value #A': true },
        indexByName: {
          namespace: 0,
          name: 1,
          phase: 2,
          'Value #B': 3,
          'Value #C': 4,
          action: 5,
          'Value #D': 6,
        },
        renameByName: {
          namespace: 'Namespace',
          name: 'Release',
          phase: 'Phase',
          'Value #B': 'Desired weight',
          'Value #C': 'Actual weight',
          action: 'Last decision',
          'Value #D': 'Decided',
        },
      },
    })
    .overrideByName('Desired weight', [{ id: 'unit', value: 'percent' }])
    .overrideByName('Actual weight', [{ id: 'unit', value: 'percent' }])
    .overrideByName('Decided', [{ id: 'unit', value: 'dateTimeFromNow' }])
    .overrideByName('Release', [{ id: 'links', value: [{ title: link.title, url: link.url }] }])
    .height(7)
    .span(24);
}

function releasePanels(): (timeseries.PanelBuilder | statetimeline.PanelBuilder)[] {
  const phase = new statetimeline.PanelBuilder()
    .title('Phase')
    .description('The phase of the selected release over time.')
    .datasource(DATASOURCE)
    .withTarget(
      rangeQuery('A', stateIndex('canaria_release_phase', 'phase', PHASES, 'name', RELEASE), 'phase'),
    )
    .mappings(namedStates(PHASES, PHASE_COLOURS))
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Fixed))
    .showValue(common.VisibilityMode.Auto)
    .legend(new common.VizLegendOptionsBuilder().showLegend(false))
    .height(4)
    .span(24);

  const weights = series('Canary weight: desired, actual and measured', 'percent')
    .description(
      'The weight canaria set, the weight it read back from the VirtualService (dashed), and the share of requests the canary served. A gap between the first two: the patch has not landed or someone else changed the route; between them and the third: traffic does not follow the weight.',
    )
    .withTarget(rangeQuery('A', `max(canaria_release_weight{${RELEASE}})`, 'desired'))
    .withTarget(rangeQuery('B', `max(canaria_release_actual_weight{${RELEASE}})`, 'actual'))
    .withTarget(rangeQuery('C', measuredCanaryShare, 'measured share of requests'))
    .min(0)
    .max(100)
    .overrideByName('actual', [lineStyle(dashed())])
    .overrideByName('measured share of requests', [colour(SIDE_COLOURS.canary)]);

  const requests = bySide(
    series('Requests per second: canary and stable', 'reqps')
      .description(
        "Seed S6's view, requests per second per revision of the release's Service, with each revision named by its side.",
      )
      .withTarget(rangeQuery('A', onSide('canary', requestsPerRevision), 'canary {{revision}}'))
      .withTarget(rangeQuery('B', onSide('stable', requestsPerRevision), 'stable {{revision}}')),
  );

  const errors = bySide(
    series('5xx ratio: canary and stable', 'percentunit')
      .description("Share of each side's requests that answered 5xx, as Istio reports them.")
      .withTarget(rangeQuery('A', onSide('canary', errorRatioPerRevision), 'canary {{revision}}'))
      .withTarget(rangeQuery('B', onSide('stable', errorRatioPerRevision), 'stable {{revision}}')),
  );

  const latency = bySide(
    series('Latency p50 and p99: canary and stable', 'ms')
      .description("Istio's request duration per side; p99 dashed.")
      .withTarget(rangeQuery('A', onSide('canary', latencyPerRevision(0.5)), 'canary {{revision}} p50'))
      .withTarget(rangeQuery('B', onSide('stable', latencyPerRevision(0.5)), 'stable {{revision}} p50'))
      .withTarget(rangeQuery('C', onSide('canary', latencyPerRevision(0.99)), 'canary {{revision}} p99'))
      .withTarget(rangeQuery('D', onSide('stable', latencyPerRevision(0.99)), 'stable {{revision}} p99')),
  ).overrideByRegexp('.* p99$', [lineStyle(dashed())]);

  return [phase, weights, requests, errors, latency];
}

function analysisPanels(): (timeseries.PanelBuilder | statetimeline.PanelBuilder)[] {
  const againstBound = bySide(
    series('$metric: canary, stable and bound', 'none')
      .description(
        "The metric's value for each side in the latest analysis, and the bound the judge held the canary to (dashed), in the metric's own unit. One panel per metric of the release.",
      )
      .withTarget(
        rangeQuery('A', `max by (role) (${analysisMetric('canaria_analysis_metric_value')})`, '{{role}}'),
      )
      .withTarget(rangeQuery('B', `max(${analysisMetric('canaria_analysis_metric_bound')})`, 'bound'))
      .overrideByName('bound', [colour('red'), lineStyle(dashed())])
      .repeat('metric')
      .repeatDirection('h')
      .maxPerRow(3)
      .span(8),
  );

  const verdicts = new statetimeline.PanelBuilder()
    .title('Verdict per metric')
    .description('What the judge said of each metric at each analysis.')
    .datasource(DATASOURCE)
    .withTarget(
      rangeQuery(
        'A',
        stateIndex(
          'canaria_analysis_metric_verdict',
          'verdict',
          VERDICTS,
          'metric',
          `${RELEASE}, metric=~"$metric"`,
        ),
        '{{metric}}',
      ),
    )
    .mappings(namedStates(VERDICTS, VERDICT_COLOURS))
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Fixed))
    .showValue(common.VisibilityMode.Auto)
    .legend(new common.VizLegendOptionsBuilder().showLegend(false))
    .height(8)
    .span(12);

  const counted = series('Requests the judge counted', 'short')
    .description(
      "Each side's requests, failed requests and requests over the latency bound in the window of the latest analysis: a verdict needs enough of them (minSamples).",
    )
    .withTarget(
      rangeQuery(
        'A',
        `max by (metric, role) (${analysisMetric('canaria_analysis_metric_requests')})`,
        '{{metric}} {{role}} requests',
      ),
    )
    .withTarget(
      rangeQuery(
        'B',
        `max by (metric, role) (${analysisMetric('canaria_analysis_metric_errors')})`,
        '{{metric}} {{role}} errors',
      ),
    )
    .withTarget(
      rangeQuery(
        'C',
        `max by (metric, role) (${analysisMetric('canaria_analysis_metric_slow_requests')})`,
        '{{metric}} {{role}} slow',
      ),
    );

  const eValue = series('$sequential_metric: e-value against threshold', 'none')
    .description(
      'Sequential judge: the evidence against "the canary is as good as stable". It fails the canary once it reaches the threshold (dashed), however often it has looked.',
    )
    .withTarget(
      rangeQuery(
        'A',
        `max(${analysisMetric('canaria_analysis_metric_e_value', 'sequential_metric')})`,
        'e-value',
      ),
    )
    .withTarget(
      rangeQuery(
        'B',
        `max(${analysisMetric('canaria_analysis_metric_e_value_threshold', 'sequential_metric')})`,
        'threshold',
      ),
    )
    .scaleDistribution(new common.ScaleDistributionConfigBuilder().type(common.ScaleDistribution.Log).log(10))
    .overrideByName('threshold', [colour('red'), lineStyle(dashed())])
    .repeat('sequential_metric')
    .repeatDirection('v');

  const ratio = series('$sequential_metric: canary/stable rate ratio and its always-valid interval', 'none')
    .description(
      "Sequential judge: the canary's rate over the stable's, and the confidence interval that holds at every look; 1 is as good as stable.",
    )
    .withTarget(
      rangeQuery(
        'A',
        `max(${analysisMetric('canaria_analysis_metric_rate_ratio', 'sequential_metric')})`,
        'ratio',
      ),
    )
    .withTarget(
      rangeQuery(
        'B',
        `max(${analysisMetric('canaria_analysis_metric_rate_ratio_low', 'sequential_metric')})`,
        'low',
      ),
    )
    .withTarget(
      rangeQuery(
        'C',
        `max(${analysisMetric('canaria_analysis_metric_rate_ratio_high', 'sequential_metric')})`,
        'high',
      ),
    )
    .overrideByRegexp('^(low|high)$', [lineStyle(dashed())])
    .repeat('sequential_metric')
    .repeatDirection('v');

  return [againstBound, verdicts, counted, eValue, ratio];
}

function decisionPanels(): (table.PanelBuilder | timeseries.PanelBuilder)[] {
  const latest = new table.PanelBuilder()
    .title('Latest decision of each action')
    .description(
      'When the selected release last advanced, held, paused, rolled back..., and why; every decision is also marked on the time axis.',
    )
    .datasource(DATASOURCE)
    .withTarget(
      tableQuery(
        'A',
        `max by (action, reason) (canaria_release_decision_timestamp_seconds{${RELEASE}}) * 1000`,
      ),
    )
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true },
        indexByName: { Value: 0, action: 1, reason: 2 },
        renameByName: { Value: 'Decided', action: 'Action', reason: 'Reason' },
      },
    })
    .overrideByName('Decided', [{ id: 'unit', value: 'dateTimeAsIso' }])
    .sortBy([new common.TableSortByFieldStateBuilder().displayName('Decided').desc(true)])
    .height(8)
    .span(12);
  const verdicts = series('Analysis verdicts', 'short')
    .description('Analyses of the selected release, by verdict, over the preceding rate interval.')
    .withTarget(
      rangeQuery(
        'A',
        `sum by (result) (increase(canaria_analysis_total{${RELEASE}}[$__rate_interval])) > 0`,
        '{{result}}',
      ),
    )
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(80)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  return [latest, verdicts];
}

export function releasesDashboard(): Dashboard {
  const builder = new DashboardBuilder('Canary releases')
    .uid(RELEASES_UID)
    .description('canaria: pick a namespace and a release; every panel shows that release.')
    .tags(['canaria', 'istio'])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .time({ from: 'now-1h', to: 'now' })
    .refresh('30s')
    .withVariable(datasourceVariable());
  for (const variable of variables()) builder.withVariable(variable);
  for (const annotation of annotations()) builder.annotation(annotation);

  builder.withRow(new dashboard.RowBuilder('All releases')).withPanel(overview());
  builder.withRow(new dashboard.RowBuilder('$namespace/$release: traffic, canary and stable'));
  for (const panel of releasePanels()) builder.withPanel(panel);
  builder.withRow(new dashboard.RowBuilder('$namespace/$release: analysis, each metric against its bound'));
  for (const panel of analysisPanels()) builder.withPanel(panel);
  builder.withRow(new dashboard.RowBuilder('$namespace/$release: decisions'));
  for (const panel of decisionPanels()) builder.withPanel(panel);
  return layout(builder.build());
}
