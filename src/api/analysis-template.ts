import { z } from 'zod';
import { objectMeta, API_VERSION } from './meta.js';

/**
 * Built-in request metrics compile to PromQL over Istio's standard metrics, per revision, over the
 * analysis window. `promql` is a user query with `{{ ... }}` placeholders.
 */
export const METRIC_TYPES = ['errorRatio', 'successRate', 'slowRatio', 'latencyQuantile', 'promql'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

/** Judge types; the registry in src/analysis/judges is keyed by exactly this list. */
export const JUDGE_TYPES = ['threshold', 'relative', 'sequential'] as const;
export type JudgeType = (typeof JUDGE_TYPES)[number];

/** Metric types whose measurements are request counts, which a sequential judge tests. */
export const COUNT_METRIC_TYPES = ['errorRatio', 'successRate', 'slowRatio'] as const;

/** Metrics provider types; the registry in src/metrics is keyed by exactly this list. */
export const PROVIDER_TYPES = ['prometheus'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

const ratio = (what: string) => z.number().min(0, { error: `${what} must be >= 0` });

type JudgeField = 'min' | 'max' | 'tolerance' | 'slack';
/** Which judge reads which field: the one place the cross-field rules below come from. */
const JUDGE_FIELDS: Record<JudgeType, readonly JudgeField[]> = {
  threshold: ['min', 'max'],
  relative: ['tolerance', 'slack'],
  sequential: ['tolerance'],
};

export const judgeSpec = z
  .strictObject({
    type: z.enum(JUDGE_TYPES, {
      error: `unknown judge type; use one of: ${JUDGE_TYPES.join(', ')}`,
    }),
    /** threshold: the canary's value must be >= min. */
    min: z.number().optional(),
    /** threshold: the canary's value must be <= max. */
    max: z.number().optional(),
    /**
     * relative, sequential: how much worse than stable the canary may be, as a fraction (0.5 = 50 %
     * worse). A sequential judge rolls back only on evidence that the canary is worse than that.
     */
    tolerance: ratio('tolerance').optional(),
    /** relative: an absolute allowance on top, so a stable at 0 errors does not demand a perfect canary. */
    slack: ratio('slack').optional(),
  })
  .superRefine((judge, ctx) => {
    const own = JUDGE_FIELDS[judge.type];
    for (const key of ['min', 'max', 'tolerance', 'slack'] as const) {
      if (judge[key] === undefined || own.includes(key)) continue;
      const readers = JUDGE_TYPES.filter((t) => JUDGE_FIELDS[t].includes(key));
      const judges =
        readers.length > 1 ? `the ${readers.join(' and ')} judges` : `the ${readers.join('')} judge`;
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${key} belongs to ${judges}; use type: ${readers.join(' or ')} or remove ${key}`,
      });
    }
    if (judge.type === 'threshold') {
      if (judge.min === undefined && judge.max === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['max'],
          message: 'a threshold judge needs min, max or both; for an error ratio set e.g. max: 0.01',
        });
      }
      if (judge.min !== undefined && judge.max !== undefined && judge.min > judge.max) {
        ctx.addIssue({
          code: 'custom',
          path: ['min'],
          message: `min (${judge.min}) is above max (${judge.max}); no value could pass`,
        });
      }
    }
  });
export type JudgeSpec = z.infer<typeof judgeSpec>;

export const providerSpec = z.strictObject({
  type: z.enum(PROVIDER_TYPES, {
    error: `unknown metrics provider type; use one of: ${PROVIDER_TYPES.join(', ')}`,
  }),
  /** Overrides the controller's default Prometheus address for this metric. */
  address: z.url({ error: 'must be a URL such as http://prometheus.istio-system:9090' }).optional(),
});

const METRIC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const metricSpec = z
  .strictObject({
    name: z.string().regex(METRIC_NAME, {
      error: 'must be a lowercase name of letters, digits and dashes, such as error-ratio',
    }),
    type: z.enum(METRIC_TYPES, {
      error: `unknown metric type; use one of: ${METRIC_TYPES.join(', ')}`,
    }),
    /** slowRatio: a request slower than this many milliseconds is slow. Must be a histogram bucket bound. */
    latencyThresholdMs: z
      .number()
      .positive({ error: 'must be a positive number of milliseconds' })
      .optional(),
    /** latencyQuantile: which quantile, between 0 and 1 (0.99 = p99). */
    quantile: z
      .number()
      .gt(0, { error: 'must be between 0 and 1, e.g. 0.99 for p99' })
      .lt(1, { error: 'must be between 0 and 1, e.g. 0.99 for p99' })
      .optional(),
    /** promql: the query; `{{ revision }}` is replaced by the canary's and the stable's revision. */
    query: z.string().min(1, { error: 'must not be empty' }).optional(),
    /** promql: whether a larger value is better (a success rate) or worse (an error rate, a latency). */
    higherIsBetter: z.boolean().optional(),
    /** Requests each revision must have served before this metric gives a verdict. */
    minSamples: z.int().min(0, { error: 'must be a whole number >= 0' }).optional(),
    judge: judgeSpec,
    provider: providerSpec.optional(),
  })
  .superRefine((metric, ctx) => {
    const needs = (field: 'latencyThresholdMs' | 'query', example: string) => {
      if (metric[field] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `a ${metric.type} metric needs ${field}; add e.g. ${field}: ${example}`,
        });
      }
    };
    if (metric.type === 'slowRatio') needs('latencyThresholdMs', '500');
    if (
      metric.judge.type === 'sequential' &&
      !(COUNT_METRIC_TYPES as readonly string[]).includes(metric.type)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['judge', 'type'],
        message: `a sequential judge tests request counts, which a ${metric.type} metric does not have; use it with ${COUNT_METRIC_TYPES.join(', ')}, or use type: relative or threshold here`,
      });
    }
    if (metric.type === 'promql') needs('query', '"sum(rate(my_errors_total[{{ window }}]))"');
    if (metric.type !== 'promql' && metric.query !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['query'],
        message: `query is only read for type: promql; ${metric.type} builds its own query from Istio's metrics`,
      });
    }
    if (metric.type !== 'promql' && metric.higherIsBetter !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['higherIsBetter'],
        message: `higherIsBetter is only read for type: promql; ${metric.type} already knows its direction`,
      });
    }
  });
export type MetricSpec = z.infer<typeof metricSpec>;

export const templateArg = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: 'must be an identifier (letters, digits, underscore), used as {{ args.NAME }}',
  }),
  /** The default; a release that references the template may override it. */
  value: z.string().optional(),
});

export const analysisTemplateSpec = z.strictObject({
  args: z.array(templateArg).optional(),
  metrics: z.array(metricSpec).min(1, { error: 'a template needs at least one metric' }),
});
export type AnalysisTemplateSpec = z.infer<typeof analysisTemplateSpec>;

const templateResource = <K extends string>(kind: K) =>
  z.object({
    apiVersion: z.literal(API_VERSION, { error: `must be ${API_VERSION}` }),
    kind: z.literal(kind),
    metadata: objectMeta,
    spec: analysisTemplateSpec,
  });

export const analysisTemplate = templateResource('AnalysisTemplate');
export const clusterAnalysisTemplate = templateResource('ClusterAnalysisTemplate');
export type AnalysisTemplate = z.infer<typeof analysisTemplate>;
export type ClusterAnalysisTemplate = z.infer<typeof clusterAnalysisTemplate>;
