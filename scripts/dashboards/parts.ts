/**
 * The building blocks both dashboards share, on Grafana's own schema types
 * (@grafana/grafana-foundation-sdk): a panel, variable or option Grafana would not take fails tsc.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';

/*
 * The chart ships the classic dashboard JSON (schema v1), which every Grafana that the dashboard
 * sidecar feeds loads as it is. The SDK marks it deprecated in favour of its v2 schema, which only
 * Grafana 12's dynamic dashboards read; these two names are the only place that choice is made.
 */
// eslint-disable-next-line @typescript-eslint/no-deprecated
export type Dashboard = dashboard.Dashboard;
// eslint-disable-next-line @typescript-eslint/no-deprecated
export const DashboardBuilder = dashboard.DashboardBuilder;

/** Every panel, variable and annotation reads the Prometheus picked with the `datasource` variable. */
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

export const datasourceVariable = (): dashboard.DatasourceVariableBuilder =>
  new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus');

/** A range query, drawn over time; `legend` is Grafana's legend format (`{{label}}`, `$variable`). */
export function rangeQuery(refId: string, expr: string, legend?: string): prometheus.DataqueryBuilder {
  const query = new prometheus.DataqueryBuilder().refId(refId).expr(expr).range();
  return legend === undefined ? query : query.legendFormat(legend);
}

/** An instant query at the end of the time range, as a table whose columns are the series' labels. */
export const tableQuery = (refId: string, expr: string): prometheus.DataqueryBuilder =>
  new prometheus.DataqueryBuilder()
    .refId(refId)
    .expr(expr)
    .instant()
    .format(prometheus.PromQueryFormat.Table);

/**
 * A variable filled from Prometheus with `label_values(selector, label)`, refreshed with the time
 * range so that a release created a minute ago is there to pick.
 */
export function labelVariable(
  name: string,
  label: string,
  selector: string,
  labelName: string,
): dashboard.QueryVariableBuilder {
  const query = `label_values(${selector}, ${labelName})`;
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
}

export const legendBelow = (): common.VizLegendOptionsBuilder =>
  new common.VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(common.LegendDisplayMode.List)
    .placement(common.LegendPlacement.Bottom);

export const tooltipAll = (): common.VizTooltipOptionsBuilder =>
  new common.VizTooltipOptionsBuilder()
    .mode(common.TooltipDisplayMode.Multi)
    .sort(common.SortOrder.Descending);

/** A dashed line, for what was read back rather than set, and for bounds. */
export const dashed = (): common.LineStyleBuilder =>
  new common.LineStyleBuilder().fill('dash').dash([10, 10]);

/** Field overrides that colour a series by the name its legend gives it. */
export const colour = (color: string): dashboard.DynamicConfigValue => ({
  id: 'color',
  value: { mode: 'fixed', fixedColor: color },
});
export const lineStyle = (style: common.LineStyleBuilder): dashboard.DynamicConfigValue => ({
  id: 'custom.lineStyle',
  value: style.build(),
});

/** Value mappings from the numbers a state timeline draws to the names they stand for, 1-based. */
export function namedStates(
  names: readonly string[],
  colours: Record<string, string>,
): dashboard.ValueMapping[] {
  return [
    {
      type: dashboard.MappingType.ValueToText,
      options: Object.fromEntries(
        names.map((name, i) => [
          String(i + 1),
          { text: name, index: i, ...(colours[name] ? { color: colours[name] } : {}) },
        ]),
      ),
    },
  ];
}

/**
 * Numbers every panel in the order of the file (Grafana assigns ids to panels that have none, but
 * links and the checks need them stable) and lays them out left to right, a panel that does not
 * fit starting a new line, a row always one. A panel repeated across the width has its line alone:
 * Grafana divides the width among its copies.
 */
export function layout(built: Dashboard): Dashboard {
  const WIDTH = 24;
  let id = 0;
  let x = 0;
  let y = 0;
  let lineHeight = 0;
  const newLine = () => {
    y += lineHeight;
    x = 0;
    lineHeight = 0;
  };
  for (const panel of built.panels ?? []) {
    panel.id = ++id;
    const size = panel.gridPos ?? dashboard.defaultGridPos();
    const row = panel.type === 'row';
    const acrossTheWidth =
      row || ('repeatDirection' in panel && panel.repeat && panel.repeatDirection === 'h');
    if (acrossTheWidth || x + size.w > WIDTH) newLine();
    panel.gridPos = { h: row ? 1 : size.h, w: row ? WIDTH : size.w, x, y };
    x += panel.gridPos.w;
    lineHeight = Math.max(lineHeight, panel.gridPos.h);
    if (acrossTheWidth) newLine();
  }
  return built;
}
