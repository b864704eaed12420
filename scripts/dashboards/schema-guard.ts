/**
 * Why the dashboards are built on Grafana's schema types: each line below is a mistake Grafana would
 * reject or silently ignore, and tsc refuses every one. Should the types ever let one through, its
 * `@ts-expect-error` is unused and `tsc` (npm run lint, the build) fails here. Nothing calls this.
 */
/* eslint-disable @typescript-eslint/no-unsafe-enum-assignment, @typescript-eslint/no-deprecated -- the mistakes are the point */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

export function mistakesThatDoNotCompile(): void {
  // @ts-expect-error a variable is shown, shown without its label, or hidden: 0, 1 or 2, nothing else
  new dashboard.QueryVariableBuilder('release').hide(5);
  // @ts-expect-error a variable refreshes never, on load or on a time range change; not "always"
  new dashboard.QueryVariableBuilder('release').refresh('always');
  // @ts-expect-error a Prometheus query's format is time_series, table or heatmap
  new prometheus.DataqueryBuilder().format('tabel');
  // @ts-expect-error a time series is drawn as lines, bars or points
  new timeseries.PanelBuilder().drawStyle('area');
  // @ts-expect-error repeated panels go horizontally (h) or vertically (v)
  new timeseries.PanelBuilder().repeatDirection('x');
  // @ts-expect-error a legend is a list or a table, or hidden
  new common.VizLegendOptionsBuilder().displayMode('grid');
  // @ts-expect-error a panel's unit is a unit id such as "percent", not a number
  new timeseries.PanelBuilder().unit(100);
  // @ts-expect-error a dashboard has a title
  new dashboard.DashboardBuilder();
}
