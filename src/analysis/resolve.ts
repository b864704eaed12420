import {
  ERROR_COUNTING_TYPES,
  type AnalysisTemplateSpec,
  type ErrorRules,
  type MetricSpec,
} from '../api/analysis-template.js';
import type { AnalysisSpec } from '../api/canary-release.js';
import { LIMITS } from '../api/limits.js';
import type { ValidationIssue } from '../api/validation.js';
import { judges } from './judges.js';
import type { ResolvedMetric } from './types.js';

/** The templates a release can reference: its namespace's and the cluster's. */
export interface TemplateCatalog {
  namespaced: ReadonlyMap<string, AnalysisTemplateSpec>;
  cluster: ReadonlyMap<string, AnalysisTemplateSpec>;
}

export const emptyCatalog = (): TemplateCatalog => ({ namespaced: new Map(), cluster: new Map() });

export interface ResolveOptions {
  /** The metrics providers the controller has; a metric naming another is an issue. Unchecked when absent. */
  providers?: readonly string[];
}

/** A metric may only name a provider the operator configured; the fix lists the ones there are. */
function unknownProvider(metric: MetricSpec, providers: readonly string[] | undefined): string | undefined {
  const name = metric.provider?.name;
  if (name === undefined || providers === undefined || providers.includes(name)) return undefined;
  return `no metrics provider named "${name}" is configured in the controller; use one of: ${providers.join(', ')} (the operator adds providers with --metrics-providers-file or the chart's metricsProviders)`;
}

/** The error rules a metric is measured with: its own lists over the release's; the provider adds its defaults. */
function withErrorRules(metric: MetricSpec, release: ErrorRules | undefined): Pick<MetricSpec, 'errors'> {
  if (!ERROR_COUNTING_TYPES.includes(metric.type)) return {};
  const errors = { ...release, ...metric.errors };
  return Object.keys(errors).length ? { errors } : {};
}

/**
 * Turns a release's analysis (template references plus inline metrics) into the metrics to
 * measure. A missing template or argument is a configuration issue, reported with its path.
 */
export function resolveMetrics(
  analysis: AnalysisSpec | undefined,
  catalog: TemplateCatalog,
  options: ResolveOptions = {},
): { metrics: ResolvedMetric[]; issues: ValidationIssue[] } {
  const metrics: ResolvedMetric[] = [];
  const issues: ValidationIssue[] = [];
  if (!analysis) return { metrics, issues };
  const seen = new Map<string, string>();
  const add = (metric: ResolvedMetric, path: string) => {
    const previous = seen.get(metric.name);
    if (previous) {
      issues.push({
        path,
        message: `metric name "${metric.name}" is also used by ${previous}; metric names must be unique within a release`,
      });
      return;
    }
    seen.set(metric.name, metric.source);
    metrics.push(metric);
  };

  analysis.templates?.forEach((ref, i) => {
    const path = `spec.analysis.templates[${i}]`;
    const cluster = ref.kind === 'ClusterAnalysisTemplate';
    const template = (cluster ? catalog.cluster : catalog.namespaced).get(ref.name);
    if (!template) {
      const other = (cluster ? catalog.namespaced : catalog.cluster).has(ref.name);
      issues.push({
        path: `${path}.name`,
        message: `${ref.kind} "${ref.name}" not found${
          other
            ? `; a ${cluster ? 'AnalysisTemplate' : 'ClusterAnalysisTemplate'} of that name exists: set kind accordingly`
            : ''
        }`,
      });
      return;
    }
    const args: Record<string, string> = {};
    const declared = new Set(template.args?.map((a) => a.name));
    for (const arg of template.args ?? []) if (arg.value !== undefined) args[arg.name] = arg.value;
    ref.args?.forEach((arg, j) => {
      if (!declared.has(arg.name)) {
        issues.push({
          path: `${path}.args[${j}].name`,
          message: `template "${ref.name}" has no argument "${arg.name}"; it declares: ${[...declared].join(', ') || 'none'}`,
        });
      }
      args[arg.name] = arg.value;
    });
    for (const name of declared) {
      if (args[name] === undefined) {
        issues.push({
          path: `${path}.args`,
          message: `template "${ref.name}" needs argument "${name}"; add {name: ${name}, value: ...}`,
        });
      }
    }
    template.metrics.forEach((m, j) => {
      const noProvider = unknownProvider(m, options.providers);
      if (noProvider) {
        issues.push({
          path,
          message: `${ref.kind} "${ref.name}" spec.metrics[${j}].provider.name: ${noProvider}`,
        });
        return;
      }
      add(resolved(m, analysis, `${ref.kind} ${ref.name}`, args), `${path} (metric ${j})`);
    });
  });
  analysis.metrics?.forEach((m, i) => {
    const noProvider = unknownProvider(m, options.providers);
    if (noProvider) {
      issues.push({ path: `spec.analysis.metrics[${i}].provider.name`, message: noProvider });
      return;
    }
    add(resolved(m, analysis, 'inline', {}), `spec.analysis.metrics[${i}].name`);
  });
  if (metrics.length > LIMITS.metricsPerRelease) {
    // each metric repeats its evidence in every decision of the status: keep that bounded
    issues.push({
      path: 'spec.analysis',
      message: `the templates and metrics add up to ${metrics.length} metrics; a release measures at most ${LIMITS.metricsPerRelease}`,
    });
  }
  // the release's alpha is one budget: every sequential metric may roll back a healthy canary
  const sequential = metrics.filter((m) => m.judge.type === 'sequential').length;
  for (const m of metrics) if (sequential > 0) m.alpha = analysis.alpha / sequential;
  return { metrics, issues };
}

function resolved(
  metric: MetricSpec,
  analysis: AnalysisSpec,
  source: string,
  args: Record<string, string>,
): ResolvedMetric {
  return {
    ...metric,
    ...withErrorRules(metric, analysis.errors),
    source,
    args,
    alpha: analysis.alpha,
    regression: { ...analysis.regression },
    minSamples: metric.minSamples ?? analysis.minSamples,
    window: judges[metric.judge.type].window,
  };
}
