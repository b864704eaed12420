import { controllerDashboard } from './controller.js';
import type { Dashboard } from './parts.js';
import { releasesDashboard } from './releases.js';

/** The dashboards the chart ships, by the file name under charts/canaria/dashboards/. */
export const DASHBOARDS: readonly { file: string; build: () => Dashboard }[] = [
  { file: 'canaria-controller.json', build: controllerDashboard },
  { file: 'canary-releases.json', build: releasesDashboard },
];

/** The file's text: plain dashboard JSON that Grafana's sidecar loads as it is. */
export const renderDashboard = (built: Dashboard): string => `${JSON.stringify(built, null, 2)}\n`;
