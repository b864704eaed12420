import type { DecisionRecord, MetricEvidence } from '../../api/canary-release.js';
import { formatDuration } from '../../api/duration.js';
import { num } from '../../analysis/format.js';
import { paint } from '../../sim/render.js';
import type { ClusterEnv } from './env.js';
import { releaseName } from './errors.js';
import { exitCodeOfFollow, followRelease } from './follow.js';
import { paintPhase, timeOf, type Style } from './format.js';
import { NO_STATUS, percent, shortRevision, stepOf, type ReleaseView } from './release-view.js';
import { outputFormat, printObject, styleOf, type Cluster, type ClusterFlags } from './session.js';

const LABEL_WIDTH = 10;
const INDENT = ' '.repeat(2 + LABEL_WIDTH + 1);
const row = (label: string, text: string) => `  ${label.padEnd(LABEL_WIDTH)} ${text}`;

function samples(side: MetricEvidence['canary'] | undefined, name: string): string | undefined {
  if (side?.total === undefined) return undefined;
  const errors = side.errors === undefined ? '' : `, ${num(side.errors)} errors`;
  return `${name} ${num(side.total)} requests${errors}`;
}

function metricLines(metrics: readonly MetricEvidence[] | undefined, style: Style): string[] {
  const width = Math.max(0, ...(metrics ?? []).map((m) => m.metric.length));
  return (metrics ?? []).map((m) => {
    const counted = [samples(m.canary, 'canary'), samples(m.stable, 'stable')].filter(Boolean).join('; ');
    const verdict = paint(
      style,
      m.verdict === 'Pass' ? 'green' : m.verdict === 'Fail' ? 'red' : 'yellow',
      m.verdict,
    );
    return `${INDENT}${m.metric.padEnd(width)}  ${verdict}  ${m.rule}${counted ? `  (${counted})` : ''}`;
  });
}

function decisionLines(d: DecisionRecord, view: ReleaseView, shownMetrics: string, style: Style): string[] {
  const verdict = d.verdict ? `, verdict ${d.verdict}` : '';
  // evidence already printed with the analysis is not repeated
  const metrics = JSON.stringify(d.metrics ?? []) === shownMetrics ? [] : metricLines(d.metrics, style);
  return [
    row(
      'decision',
      `${d.action} (${d.reason}) at ${timeOf(d.time)}, step ${Math.min(d.step + 1, view.step?.count ?? Infinity)}, canary ${d.canaryWeight}%${verdict}`,
    ),
    `${INDENT}${d.message}`,
    ...metrics,
  ];
}

/** What `get NAME --watch` prints for each change: where the rollout is and why. */
export function renderBlock(view: ReleaseView, style: Style): string[] {
  const s = view.status;
  const title = `${paint(style, 'bold', releaseName(view.namespace, view.name))}  ${paintPhase(style, s.phase)}`;
  if (s.phase === undefined) return [title, row('status', NO_STATUS)];
  const lines = [title];
  if (view.step) lines.push(row('step', `${stepOf(view)}  ${view.step.description}`));
  const lagging = s.actualCanaryWeight !== undefined && s.actualCanaryWeight !== s.canaryWeight;
  lines.push(
    row(
      'weight',
      `desired ${percent(s.canaryWeight)}, actual ${percent(s.actualCanaryWeight)}${lagging ? paint(style, 'yellow', ' (the VirtualService does not show the desired weight yet)') : ''}`,
    ),
    row('revisions', `canary ${shortRevision(s.canaryRevision)}, stable ${shortRevision(s.stableRevision)}`),
  );
  const analysis = s.lastAnalysis;
  if (analysis) {
    const window = formatDuration(Date.parse(analysis.time) - Date.parse(analysis.windowStart));
    const summary = analysis.metrics.length ? '' : `: ${analysis.summary}`;
    lines.push(
      row('analysis', `${analysis.verdict} at ${timeOf(analysis.time)} over ${window}${summary}`),
      ...metricLines(analysis.metrics, style),
    );
  }
  const decision = s.decisions?.at(-1);
  if (decision) lines.push(...decisionLines(decision, view, JSON.stringify(analysis?.metrics ?? []), style));
  if (s.message !== undefined && s.message !== decision?.message) lines.push(row('message', s.message));
  const target = `${view.name} -n ${view.namespace}`;
  const gate = s.hooks?.waiting;
  if (gate && (s.phase === 'Progressing' || s.phase === 'Paused')) {
    lines.push(
      row('next', `waits for its ${gate.type} hook to answer 2xx, or: kubectl canaria approve ${target}`),
    );
  } else if (view.pausedBy === 'WaitingForPromote') {
    lines.push(row('next', `waits for promote: kubectl canaria promote ${target} (or resume, or approve)`));
  } else if (view.pausedBy === 'UserPaused') {
    lines.push(row('next', `paused by the user: kubectl canaria resume ${target}`));
  }
  return lines;
}

/**
 * `get NAME --watch`: a block now and after every change, until the release settles (exit 0 when
 * promoted, 1 when rolled back or failed), the timeout passes (2) or Ctrl-C (130).
 */
export async function watchRelease(
  cluster: Cluster,
  name: string,
  flags: ClusterFlags,
  env: ClusterEnv,
  timeoutMs: number | undefined,
  /** The --timeout as given, for the message; timeoutMs is what is left of it after connecting. */
  asked: number | undefined = timeoutMs,
): Promise<number> {
  const format = outputFormat(flags);
  const style = styleOf(flags, env);
  let last: string | undefined;
  const end = await followRelease(cluster, name, env, {
    timeoutMs,
    onChange: (object, view) => {
      if (format !== 'text') {
        if (format === 'yaml') env.io.stdout('---');
        printObject(env, format, object);
        return;
      }
      // status writes that change nothing shown (a resync) print nothing
      const text = renderBlock(view, style).join('\n');
      if (text === last) return;
      if (last !== undefined) env.io.stdout('');
      env.io.stdout(text);
      last = text;
    },
  });
  return exitCodeOfFollow(end, env, asked);
}
