import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARDS, renderDashboard } from './dashboards/index.js';

/**
 * Writes the Grafana dashboards, built in scripts/dashboards/ on Grafana's schema types, into the
 * chart, whose template puts each file in a ConfigMap for Grafana's dashboard sidecar. A test fails
 * when the committed files differ from what this writes.
 */
const dir = join(import.meta.dirname, '..', 'charts', 'canaria', 'dashboards');
for (const { file, build } of DASHBOARDS) {
  writeFileSync(join(dir, file), renderDashboard(build()));
  console.log(`wrote ${join('charts/canaria/dashboards', file)}`);
}
