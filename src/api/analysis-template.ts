import { z } from 'zod';
import { objectMeta, API_VERSION } from './meta.js';
import { LIMITS } from './limits.js';

const list = <T extends z.ZodType>(item: T, max: number, what: string) =>
  z.array(item).max(max, { error: `at most ${max} ${what}` });
const bounded = (max: number) => z.string().max(max, { error: `must be at most ${max} characters` });

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
    type: z
      .enum(JUDGE_TYPES, {
        error: `unknown judge type; use one of: ${JUDGE_TYPES.join(', ')}`,
      })
      .describe(
        'How the canary is judged. sequential: against stable over the whole rollout, with the error rates of spec.analysis.alpha and regression (count metrics only); relative: against stable in each window (tolerance, slack); threshold: against fixed bounds (min, max).',
      ),
    min: z
      .number()
      .optional()
      .describe(
        "threshold: the canary's value must be >= min, in the metric's unit (0.99 for a 99 % success rate).",
      ),
    max: z
      .number()
      .optional()
      .describe(
        "threshold: the canary's value must be <= max, in the metric's unit (0.01 for 1 % errors, ms for latency).",
      ),
    tolerance: ratio('tolerance')
      .optional()
      .describe(
        'relative, sequential: how much worse than stable the canary may be, as a fraction (0.5 = 50 % worse). A sequential judge rolls back only on evidence that the canary is worse than that.',
      ),
    slack: ratio('slack')
      .optional()
      .describe(
        "relative: an absolute allowance on top of the tolerance, in the metric's unit (0.001 errors, 50 ms), so a stable at 0 errors does not demand a perfect canary. Default 0.",
      ),
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

/** The provider metrics without `provider` go to: the one the controller's --prometheus-* flags set. */
export const DEFAULT_METRICS_PROVIDER = 'default';

const PROVIDER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const OPERATOR_CONFIGURED =
  'metrics backends are configured by the operator (controller flag --metrics-providers-file, chart value metricsProviders), so that the controller never sends its credentials to an address a user wrote';

/**
 * Which of the operator's metrics backends a metric is measured on, by name. Only the name: the
 * operator's entry fixes the backend's type, address and credentials, so a type written here could only
 * restate or contradict it, and an address written here would receive the controller's credentials.
 * Whether the name is known is checked where the controller's providers are known (observe, router).
 */
export const providerSpec = z
  .strictObject({
    // optional here so that a missing name and a forbidden address are reported together
    name: bounded(LIMITS.label)
      .regex(PROVIDER_NAME, {
        error: 'must be a provider name of lowercase letters, digits and dashes, e.g. thanos',
      })
      .optional()
      .describe("Name of one of the operator's metrics providers, e.g. default or thanos. Required."),
    // declared so that it is reported with the fix rather than dropped unseen
    address: bounded(LIMITS.shortText * 8)
      .optional()
      .describe(
        "Not accepted: the operator configures each backend's address, so the controller's credentials never go to an address written here. Name the provider instead.",
      ),
    type: bounded(LIMITS.label)
      .optional()
      .describe("Not accepted: the operator's provider entry has the type. Name the provider instead."),
  })
  .superRefine((provider, ctx) => {
    if (provider.address !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['address'],
        message: `is not accepted: ${OPERATOR_CONFIGURED}; remove address and name the provider instead, e.g. provider: {name: ${DEFAULT_METRICS_PROVIDER}}`,
      });
    }
    if (provider.type !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: `is not accepted: the operator's provider entry has the type; remove type and name the provider, e.g. provider: {name: ${DEFAULT_METRICS_PROVIDER}}`,
      });
    }
    if (provider.name === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: `is required: one of the controller's metrics providers, e.g. provider: {name: ${DEFAULT_METRICS_PROVIDER}}`,
      });
    }
  })
  // what passes is a name and nothing else: nothing downstream can read an address
  .transform(({ name }) => ({ name: name ?? DEFAULT_METRICS_PROVIDER }))
  .meta({
    description: `Which of the operator's metrics backends measures this metric, by name (controller flag --metrics-providers-file, chart value metricsProviders). Default: ${DEFAULT_METRICS_PROVIDER}, the backend of the controller's --prometheus-* flags.`,
    'x-kubernetes-validations': [
      {
        rule: 'has(self.name)',
        message: `provider.name is required: one of the controller's metrics providers`,
      },
      {
        rule: '!has(self.address)',
        message: `provider.address is not accepted: ${OPERATOR_CONFIGURED}; name the provider instead`,
      },
      {
        rule: '!has(self.type)',
        message:
          "provider.type is not accepted: the operator's provider entry has the type; name the provider instead",
      },
    ],
  });
export type ProviderSpec = z.infer<typeof providerSpec>;

/** gRPC status codes by name, as grpc-go and Envoy number them; Istio reports the number. */
export const GRPC_CODES = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeName = keyof typeof GRPC_CODES;
export const GRPC_CODE_NAMES = Object.keys(GRPC_CODES) as [GrpcCodeName, ...GrpcCodeName[]];

/** An HTTP status (`429`) or a class of them (`5xx`). */
export const HTTP_CODE_PATTERN = /^[1-5]([0-9]{2}|xx)$/;
/** An Envoy response flag as Istio reports it in `response_flags`, e.g. `UF`, `URX`, `NR`. */
export const RESPONSE_FLAG_PATTERN = /^[A-Z]{1,8}$/;

/**
 * Which requests the built-in request metrics count as failed: a request is an error when its HTTP
 * code, any of its Envoy response flags, or its gRPC status is listed. A list given replaces the
 * controller's list of that kind; an empty list counts none of that kind.
 */
export const errorRules = z.strictObject({
  httpCodes: list(
    z.string().max(3).regex(HTTP_CODE_PATTERN, {
      error: 'must be an HTTP status such as 429, or a class such as 5xx',
    }),
    LIMITS.codes,
    'codes',
  )
    .optional()
    .describe(
      "HTTP codes (503) or classes (5xx) that count as errors; replaces the level below's list. Controller default: [5xx].",
    ),
  responseFlags: list(
    z.string().max(8).regex(RESPONSE_FLAG_PATTERN, {
      error: 'must be an Envoy response flag such as UF, URX or NR (capital letters)',
    }),
    LIMITS.codes,
    'flags',
  )
    .optional()
    .describe(
      'Envoy response flags that count as errors whatever the code, e.g. [UF, URX, NR]. Default: none.',
    ),
  grpcCodes: list(
    z.enum(GRPC_CODE_NAMES, { error: `must be a gRPC status name: ${GRPC_CODE_NAMES.join(', ')}` }),
    LIMITS.codes,
    'codes',
  )
    .optional()
    .describe(
      "gRPC status names that count as errors (a failed gRPC call is HTTP 200 with Istio's grpc_response_status set). Controller default: [UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS].",
    ),
});
export type ErrorRules = z.infer<typeof errorRules>;
export type CompleteErrorRules = { [K in keyof ErrorRules]-?: NonNullable<ErrorRules[K]> };

/** What the controller counts as failed unless its flags, a release or a metric say otherwise. */
export const DEFAULT_ERROR_RULES: CompleteErrorRules = {
  httpCodes: ['5xx'],
  responseFlags: [],
  grpcCodes: ['UNKNOWN', 'DEADLINE_EXCEEDED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS'],
};

/** Later rules win, list by list: a release's httpCodes replace the controller's, its grpcCodes stay. */
export function mergeErrorRules(
  base: CompleteErrorRules,
  ...overrides: (ErrorRules | undefined)[]
): CompleteErrorRules {
  const out = { ...base };
  for (const over of overrides) {
    if (over?.httpCodes) out.httpCodes = over.httpCodes;
    if (over?.responseFlags) out.responseFlags = over.responseFlags;
    if (over?.grpcCodes) out.grpcCodes = over.grpcCodes;
  }
  return out;
}

/** The metric types that count errors among requests, and so read error rules. */
export const ERROR_COUNTING_TYPES: readonly MetricType[] = ['errorRatio', 'successRate'];

const METRIC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const metricSpec = z
  .strictObject({
    name: bounded(LIMITS.label)
      .regex(METRIC_NAME, {
        error: 'must be a lowercase name of letters, digits and dashes, such as error-ratio',
      })
      .describe(
        'Name of the metric, unique in the release (lowercase letters, digits, dashes), e.g. error-ratio.',
      ),
    type: z
      .enum(METRIC_TYPES, {
        error: `unknown metric type; use one of: ${METRIC_TYPES.join(', ')}`,
      })
      .describe(
        "What is measured, per revision over the analysis window. errorRatio, successRate, slowRatio and latencyQuantile compile to PromQL over Istio's standard metrics; promql runs your query.",
      ),
    latencyThresholdMs: z
      .number()
      .positive({ error: 'must be a positive number of milliseconds' })
      .optional()
      .describe(
        "slowRatio: a request slower than this many milliseconds is slow. Must be a bucket bound of Istio's latency histogram, e.g. 250, 500, 1000.",
      ),
    quantile: z
      .number()
      .gt(0, { error: 'must be between 0 and 1, e.g. 0.99 for p99' })
      .lt(1, { error: 'must be between 0 and 1, e.g. 0.99 for p99' })
      .optional()
      .describe(
        'latencyQuantile: which quantile, between 0 and 1 (0.99 = p99); the value is in milliseconds.',
      ),
    query: bounded(LIMITS.query)
      .min(1, { error: 'must not be empty' })
      .optional()
      .describe(
        'promql: the PromQL query, returning one number. Placeholders: {{ revision }}, {{ revisionLabel }}, {{ namespace }}, {{ service }}, {{ name }}, {{ reporter }}, {{ window }} (e.g. 300s), {{ args.NAME }}.',
      ),
    higherIsBetter: z
      .boolean()
      .optional()
      .describe(
        'promql: whether a larger value is better (a success rate) or worse (an error rate, a latency). Default false.',
      ),
    minSamples: z
      .int()
      .min(0, { error: 'must be a whole number >= 0' })
      .optional()
      .describe(
        "Requests each revision must have served in the window before this metric gives a verdict; fewer is Inconclusive. Default: the release's spec.analysis.minSamples. Not read by sequential judges.",
      ),
    judge: judgeSpec.describe('How the measured values decide: Pass, Fail or Inconclusive.'),
    provider: providerSpec.optional(),
    errors: errorRules
      .optional()
      .describe(
        "errorRatio, successRate: which requests count as errors; each list given replaces the release's (spec.analysis.errors) and the controller's.",
      ),
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
    if (metric.errors !== undefined && !ERROR_COUNTING_TYPES.includes(metric.type)) {
      ctx.addIssue({
        code: 'custom',
        path: ['errors'],
        message: `errors is only read for ${ERROR_COUNTING_TYPES.join(' and ')}; a ${metric.type} metric does not count errors`,
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
  name: bounded(LIMITS.label)
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
      error: 'must be an identifier (letters, digits, underscore), used as {{ args.NAME }}',
    })
    .describe('Name of the argument (letters, digits, underscore); queries use it as {{ args.NAME }}.'),
  value: bounded(LIMITS.argValue)
    .optional()
    .describe(
      'Default value; a release that references the template may override it. Without one the release must set it.',
    ),
});

export const analysisTemplateSpec = z.strictObject({
  args: list(templateArg, LIMITS.args, 'arguments')
    .optional()
    .describe("Arguments the template's queries read as {{ args.NAME }}, with their defaults."),
  metrics: list(metricSpec, LIMITS.metrics, 'metrics')
    .min(1, {
      error: 'a template needs at least one metric',
    })
    .describe('The metrics a release gets by referencing this template; every one must pass.'),
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
