import { gatewayRoutingOf } from '../../api/routing.js';
import type { Command } from 'commander';
import { num } from '../../analysis/format.js';
import type { KubeObject } from '../../kube/resources.js';
import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { timeOf } from './format.js';
import { percent, shortRevision, stepOf, viewRelease } from './release-view.js';
import {
  addClusterFlags,
  outputFormat,
  printObject,
  reportFailures,
  withCluster,
  type ClusterFlags,
} from './session.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value as one line: numbers and strings as they are, anything else as compact JSON. */
const show = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' ? num(v) : JSON.stringify(v);

/** `Key:  value` lines as kubectl describe prints them, nested by two spaces. */
function fields(entries: [string, unknown][], indent: number): string[] {
  const width = Math.max(0, ...entries.map(([k]) => k.length + 1));
  return entries
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${' '.repeat(indent)}${`${k}:`.padEnd(width)}  ${show(v)}`);
}

const KNOWN_METRIC = ['metric', 'type', 'verdict', 'rule', 'canary', 'stable', 'bound', 'query'];
const KNOWN_SIDE = ['total', 'errors', 'value'];

/** One side's numbers, known fields first, then any other the judge recorded. */
function side(name: string, value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  const parts = [
    ...KNOWN_SIDE.filter((k) => value[k] !== undefined).map(
      (k) => `${k === 'total' ? 'requests' : k} ${show(value[k])}`,
    ),
    ...Object.keys(value)
      .filter((k) => !KNOWN_SIDE.includes(k))
      .map((k) => `${k} ${show(value[k])}`),
  ];
  return `${name.padEnd(7)}${parts.join(', ')}`;
}

/**
 * A metric's evidence: verdict, rule, both sides' counts and values, the bound and the query; any
 * field a judge adds later is printed too, by its name, so new evidence shows without a CLI change.
 */
function metricLines(metric: unknown, indent: number): string[] {
  if (!isObject(metric)) return [];
  const pad = ' '.repeat(indent);
  const lines = [`${pad}${show(metric.metric)} (${show(metric.type)}): ${show(metric.verdict)}`];
  const inner = `${pad}  `;
  if (metric.rule !== undefined) lines.push(`${inner}rule   ${show(metric.rule)}`);
  for (const name of ['canary', 'stable']) {
    const text = side(name, metric[name]);
    if (text) lines.push(`${inner}${text}`);
  }
  if (metric.bound !== undefined) lines.push(`${inner}bound  ${show(metric.bound)}`);
  for (const key of Object.keys(metric).filter((k) => !KNOWN_METRIC.includes(k))) {
    lines.push(`${inner}${key.padEnd(6)} ${show(metric[key])}`);
  }
  if (metric.query !== undefined) lines.push(`${inner}query  ${show(metric.query)}`);
  return lines;
}

const KNOWN_DECISION = ['time', 'action', 'reason', 'message', 'step', 'canaryWeight', 'verdict', 'metrics'];

function decisionLines(decision: unknown, count: number | undefined): string[] {
  if (!isObject(decision)) return [];
  const step = typeof decision.step === 'number' ? Math.min(decision.step + 1, count ?? Infinity) : '?';
  const time = typeof decision.time === 'string' ? timeOf(decision.time) : '?';
  const verdict = decision.verdict === undefined ? '' : `, verdict ${show(decision.verdict)}`;
  const lines = [
    `  ${time}  ${show(decision.action)} (${show(decision.reason)}) at step ${step}, canary ${show(decision.canaryWeight)}%${verdict}`,
    `    ${show(decision.message)}`,
  ];
  for (const key of Object.keys(decision).filter((k) => !KNOWN_DECISION.includes(k))) {
    lines.push(`    ${key}: ${show(decision[key])}`);
  }
  for (const metric of Array.isArray(decision.metrics) ? decision.metrics : [])
    lines.push(...metricLines(metric, 4));
  return lines;
}

/** `describe NAME`, as `kubectl describe` lays an object out: the spec in short, then every decision with its evidence. */
export function describeRelease(object: KubeObject): string[] {
  const view = viewRelease(object);
  const s = view.status;
  const raw = isObject(object.status) ? object.status : {};
  const istio = view.spec?.trafficRouting.istio;
  const gateway = view.spec && gatewayRoutingOf(view.spec);
  const lines = fields(
    [
      ['Name', view.name],
      ['Namespace', view.namespace],
      [
        'Labels',
        Object.entries(object.metadata.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '<none>',
      ],
      ['Created', view.createdAt ?? '<unknown>'],
      [
        'Mode',
        view.spec
          ? view.spec.targetRef
            ? `managed (Deployment ${view.spec.targetRef.name})`
            : 'subsets'
          : '<invalid spec>',
      ],
      ['VirtualService', istio?.virtualService.name],
      ['DestinationRule', istio?.destinationRule.name],
      ['Subsets', istio ? `stable ${istio.stableSubset}, canary ${istio.canarySubset}` : undefined],
      [
        'HTTPRoute',
        gateway
          ? `${gateway.httpRoute.name}${gateway.httpRoute.rule === undefined ? '' : ` (rule ${gateway.httpRoute.rule})`}`
          : undefined,
      ],
      ['Services', gateway ? `stable ${gateway.stableService}, canary ${gateway.canaryService}` : undefined],
      ['Phase', s.phase ?? '<no status yet>'],
      ['Step', view.step ? `${stepOf(view)} (${view.step.description})` : undefined],
      [
        'Weight',
        s.phase ? `desired ${percent(s.canaryWeight)}, actual ${percent(s.actualCanaryWeight)}` : undefined,
      ],
      [
        'Revisions',
        s.phase
          ? `canary ${shortRevision(s.canaryRevision)}, stable ${shortRevision(s.stableRevision)}`
          : undefined,
      ],
      ['Message', s.message],
    ],
    0,
  );
  const conditions = Array.isArray(raw.conditions) ? raw.conditions.filter(isObject) : [];
  lines.push('Conditions:');
  if (!conditions.length) lines.push('  <none>');
  for (const c of conditions)
    lines.push(`  ${show(c.type)}=${show(c.status)}  ${show(c.reason)}: ${show(c.message)}`);
  const analysis = raw.lastAnalysis;
  lines.push('Last Analysis:');
  if (isObject(analysis)) {
    const when = typeof analysis.time === 'string' ? timeOf(analysis.time) : '?';
    lines.push(`  ${show(analysis.verdict)} at ${when}: ${show(analysis.summary)}`);
    for (const metric of Array.isArray(analysis.metrics) ? analysis.metrics : [])
      lines.push(...metricLines(metric, 2));
  } else lines.push('  <none>');
  const decisions = Array.isArray(raw.decisions) ? raw.decisions : [];
  lines.push('Decisions:');
  if (!decisions.length) lines.push('  <none>');
  for (const d of decisions) lines.push(...decisionLines(d, view.step?.count));
  return lines;
}

export function runDescribe(name: string, flags: ClusterFlags, env: ClusterEnv): Promise<number> {
  return reportFailures(env, async () => {
    const format = outputFormat(flags);
    return withCluster(env, flags, (cluster) => {
      const object = cluster.release(name);
      if (format === 'text') for (const line of describeRelease(object)) env.io.stdout(line);
      else printObject(env, format, object);
      return Promise.resolve(0);
    });
  });
}

export function registerDescribe(env: () => ClusterEnv): RegisterCommand {
  return (program: Command) => {
    const command = program
      .command('describe')
      .description(
        "show a release and every decision it took, with the numbers behind each (kubectl describe's layout)",
      )
      .argument('<name>', 'the CanaryRelease');
    addClusterFlags(command, { output: ['text', 'json', 'yaml'] }).action(
      async (name: string, flags: ClusterFlags) => {
        process.exitCode = await runDescribe(name, flags, env());
      },
    );
  };
}
