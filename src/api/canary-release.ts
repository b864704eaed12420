import { z } from 'zod';
import { isValidTimeZone, parseCron } from './cron.js';
import { duration, parseDuration } from './duration.js';
import { errorRules, metricSpec } from './analysis-template.js';
import { compileRe2 } from './re2.js';
import { API_VERSION, k8sName, objectMeta } from './meta.js';
import { LIMITS, quoted, truncate } from './limits.js';
import { releaseNotifications } from './notifications.js';

/** A list of at most `max` items, saying so when it has more. */
const list = <T extends z.ZodType>(item: T, max: number, what: string) =>
  z.array(item).max(max, { error: `at most ${max} ${what}` });
const bounded = (max: number, what = '') =>
  z.string().max(max, { error: `must be at most ${max} characters${what}` });

/** A share of traffic in percent. Fractions are allowed: 0.1 means one request in a thousand. */
const percent = (what: string) =>
  z
    .number({ error: `${what} must be a number of percent, e.g. 10` })
    .min(0, { error: `${what} must be >= 0 (percent of traffic)` })
    .max(100, { error: `${what} must be <= 100 (percent of traffic)` });

// ---------------------------------------------------------------- A/B matches

const stringMatch = z
  .strictObject({
    name: bounded(LIMITS.headerName).min(1, { error: 'name is required, e.g. end-user' }),
    exact: bounded(LIMITS.matchValue, '; match a prefix or a regex instead').optional(),
    prefix: bounded(LIMITS.matchValue).optional(),
    regex: bounded(LIMITS.regex).optional(),
  })
  .superRefine((m, ctx) => {
    const set = (['exact', 'prefix', 'regex'] as const).filter((k) => m[k] !== undefined);
    if (set.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `set exactly one of exact, prefix or regex (found ${set.length ? set.join(', ') : 'none'})`,
      });
    }
    if (m.regex !== undefined) checkRegex(m.regex, ['regex'], ctx);
  });
export type StringMatch = z.infer<typeof stringMatch>;

/** Istio evaluates these with RE2: a regex RE2 rejects would make Istio reject the VirtualService. */
function checkRegex(source: string, path: string[], ctx: z.RefinementCtx): void {
  if (source.length > LIMITS.regex) return; // too long: its own issue says so, and compiling it costs
  const compiled = compileRe2(source);
  if (compiled instanceof Error) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: `${quoted(source)} is not a valid RE2 regular expression, which Istio requires: ${compiled.message}`,
    });
  }
}

export const matchStage = z
  .strictObject({
    /** Request headers; Istio lower-cases header names. */
    headers: list(stringMatch, LIMITS.matches, 'header matches').optional(),
    /** One cookie by name; compiled to a regex on the `cookie` header as Istio requires. */
    cookie: z
      .strictObject({
        name: bounded(LIMITS.headerName).regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, {
          error: 'must be a cookie name',
        }),
        regex: bounded(LIMITS.regex).min(1, { error: 'must not be empty; use .* to match any value' }),
      })
      .superRefine((c, ctx) => {
        checkRegex(c.regex, ['regex'], ctx);
      })
      .optional(),
    queryParams: list(stringMatch, LIMITS.matches, 'query parameter matches').optional(),
    /** Share of the matched requests that the canary receives. */
    canaryWeight: percent('canaryWeight').default(100),
    /** How long the stage lasts; without it the stage waits to be resumed. */
    duration: duration.optional(),
  })
  .superRefine((m, ctx) => {
    if (!m.headers?.length && !m.queryParams?.length && !m.cookie) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          'a match stage needs headers, cookie or queryParams, e.g. headers: [{name: end-user, exact: testuser}]',
      });
    }
  });
export type MatchStage = z.infer<typeof matchStage>;

// ---------------------------------------------------------------- steps

const STEP_KINDS = ['setWeight', 'pause', 'analysis', 'match', 'mirror'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const step = z
  .strictObject({
    setWeight: percent('setWeight').optional(),
    /** `pause: {}` waits until resumed; `pause: {duration: 5m}` waits that long. */
    pause: z.strictObject({ duration: duration.optional() }).optional(),
    /** A gate: hold until an analysis over at least `duration` at the current weight passes. */
    analysis: z.strictObject({ duration: duration.optional() }).optional(),
    /** An A/B stage: requests that match go to the canary; everyone else keeps the current weights. */
    match: matchStage.optional(),
    /** Copy a share of the stable's requests to the canary; the responses are discarded. */
    mirror: z.strictObject({ percent: percent('mirror.percent'), duration: duration.optional() }).optional(),
  })
  .superRefine((s, ctx) => {
    const kinds = STEP_KINDS.filter((k) => s[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          kinds.length === 0
            ? `a step needs one of ${STEP_KINDS.join(', ')}, e.g. {setWeight: 10}`
            : `a step is one action; split {${kinds.join(', ')}} into ${kinds.length} steps`,
      });
    }
  });
export type Step = z.infer<typeof step>;

// ---------------------------------------------------------------- analysis

export const templateRef = z.strictObject({
  name: k8sName('name'),
  /** ClusterAnalysisTemplate is cluster-wide; AnalysisTemplate lives in the release's namespace. */
  kind: z
    .enum(['AnalysisTemplate', 'ClusterAnalysisTemplate'], {
      error: 'kind must be AnalysisTemplate or ClusterAnalysisTemplate',
    })
    .default('AnalysisTemplate'),
  args: list(
    z.strictObject({ name: bounded(LIMITS.label).min(1), value: bounded(LIMITS.argValue) }),
    LIMITS.args,
    'arguments',
  ).optional(),
});
export type TemplateRef = z.infer<typeof templateRef>;

export const REVISION_LABELS = ['destination_canonical_revision', 'destination_version'] as const;

/** The regression a rollout must catch when the release does not say: README, "Deciding". */
export const DEFAULT_REGRESSION = { ratio: 4, floor: 0.005, power: 0.95 } as const;

export const analysisSpec = z.strictObject({
  /** How often the canary is measured. */
  interval: duration.default('1m'),
  templates: list(templateRef, LIMITS.templates, 'templates').optional(),
  /** Metrics written in place, in the same shape as a template's. */
  metrics: list(metricSpec, LIMITS.metrics, 'metrics').optional(),
  /** Consecutive failed analyses that roll the canary back; a passing analysis resets the count. */
  failureLimit: z.int().min(1, { error: 'must be at least 1' }).default(2),
  /** Requests each revision must have served in the window before a metric gives a verdict. */
  minSamples: z.int().min(0, { error: 'must be a whole number >= 0' }).default(50),
  /** What an analysis without a verdict (no data, too few requests) does. */
  onInconclusive: z.enum(['Hold', 'Fail', 'Pass'], { error: 'must be Hold, Fail or Pass' }).default('Hold'),
  /** What an analysis the backend could not answer (Prometheus down) does. */
  onError: z.enum(['Hold', 'Fail'], { error: 'must be Hold or Fail' }).default('Hold'),
  /** The Istio label that tells revisions apart. */
  revisionLabel: z
    .enum(REVISION_LABELS, { error: `must be one of ${REVISION_LABELS.join(', ')}` })
    .default('destination_canonical_revision'),
  /**
   * Which requests the built-in errorRatio and successRate metrics count as errors (HTTP codes such as
   * 5xx and 429, Envoy response flags, gRPC statuses); a metric's own `errors` wins, the controller's
   * --error-* flags fill in what neither says.
   */
  errors: errorRules.optional(),
  /** Which proxy's report to count; `destination` sees every request the canary served. */
  reporter: z
    .enum(['destination', 'source'], { error: 'must be destination or source' })
    .default('destination'),
  /**
   * Sequential judges: the chance, over a whole rollout however often it is analysed, of rolling back
   * a canary that is no worse than stable (within each metric's tolerance). Split equally over the
   * sequential metrics.
   */
  alpha: z
    .number({ error: 'alpha must be a probability such as 0.01' })
    .gt(0, { error: 'must be > 0, e.g. 0.01 (a 1 % chance of rolling back a healthy canary)' })
    .max(0.5, { error: 'must be <= 0.5; the usual choice is 0.01 or 0.05' })
    .default(0.01),
  /**
   * Sequential judges: the regression a rollout must be able to catch. No step advances before the
   * evidence so far would have caught it with this power: steps are as long as the traffic needs.
   */
  regression: z
    .strictObject({
      /** A canary this many times as bad as stable (errors, slow requests) is a regression. */
      ratio: z
        .number({ error: 'ratio must be a number such as 4' })
        .gt(1, { error: 'must be > 1: how many times as bad as stable counts as a regression, e.g. 4' })
        .default(DEFAULT_REGRESSION.ratio),
      /** Only a canary at least this bad in absolute terms counts (a share of requests, 0.005 = 0.5 %). */
      floor: z
        .number({ error: 'floor must be a share of requests such as 0.005' })
        .gt(0, { error: 'must be > 0, e.g. 0.005 for 0.5 % of requests' })
        .lt(1, { error: 'must be < 1 (a share of requests), e.g. 0.005' })
        .default(DEFAULT_REGRESSION.floor),
      /** The chance of catching such a regression: a regressed canary is promoted with 1 - power at most. */
      power: z
        .number({ error: 'power must be a probability such as 0.95' })
        .gt(0.5, { error: 'must be > 0.5, e.g. 0.95' })
        .lt(1, { error: 'must be < 1, e.g. 0.95 or 0.99' })
        .default(DEFAULT_REGRESSION.power),
    })
    .prefault({}),
  /**
   * How long an analysis may hold without new evidence (the metrics backend does not answer, or no
   * requests arrive) before the release does what `onHoldDeadline` says.
   */
  holdDeadline: duration.default('30m'),
  /** Past the hold deadline: Pause (stop, mark the release Paused and say why) or Rollback. */
  onHoldDeadline: z.enum(['Pause', 'Rollback'], { error: 'must be Pause or Rollback' }).default('Pause'),
});
export type AnalysisSpec = z.infer<typeof analysisSpec>;

// ---------------------------------------------------------------- routing and workloads

export const ISTIO_WEIGHT_TOTALS = [100, 1000, 10000] as const;

export const istioRouting = z.strictObject({
  virtualService: z.strictObject({
    name: k8sName('virtualService.name'),
    /** Names of the http routes canaria manages; by default the routes to the stable and canary subsets. */
    routes: list(bounded(LIMITS.name).min(1), LIMITS.routes, 'routes').optional(),
  }),
  destinationRule: z.strictObject({ name: k8sName('destinationRule.name') }),
  stableSubset: k8sName('stableSubset'),
  canarySubset: k8sName('canarySubset'),
  /**
   * What the weights of a managed route add up to. 100 gives whole percents; 1000 or 10000 allow
   * 0.1 % or 0.01 % steps, which Istio accepts from 1.15 on (weights need not sum to 100 there).
   */
  weightTotal: z
    .union(
      ISTIO_WEIGHT_TOTALS.map((n) => z.literal(n)),
      {
        error: `must be one of ${ISTIO_WEIGHT_TOTALS.join(', ')}`,
      },
    )
    .default(100),
  /** The mesh's Istio version, when known; canaria refuses what that version would reject. */
  istioVersion: bounded(LIMITS.shortText)
    .regex(/^\d+\.\d+(\.\d+)?$/, { error: 'must be a version such as 1.22 or 1.22.3' })
    .optional(),
});
export type IstioRouting = z.infer<typeof istioRouting>;

export const releaseWindow = z.strictObject({
  /** When a window opens: a five-field cron expression (minute hour day-of-month month day-of-week). */
  schedule: bounded(LIMITS.shortText).min(1, { error: 'must be a cron expression such as "0 9 * * 1-5"' }),
  /** How long it stays open. */
  duration: duration,
  /** IANA time zone of the schedule; UTC by default. */
  timeZone: bounded(LIMITS.shortText).optional(),
});
export type ReleaseWindow = z.infer<typeof releaseWindow>;

export const USER_ACTIONS = ['Promote', 'PromoteFull', 'Abort', 'Retry'] as const;
export type UserAction = (typeof USER_ACTIONS)[number];

export const canaryReleaseSpec = z
  .strictObject({
    /** Subsets mode: one Deployment per version; canaria only moves weights between subsets. */
    subsets: z
      .strictObject({
        /** By default the Deployment whose pod labels match the subset's labels. */
        stableDeployment: k8sName('stableDeployment').optional(),
        canaryDeployment: k8sName('canaryDeployment').optional(),
      })
      .optional(),
    /** Managed mode: canaria keeps `<name>-primary` as the stable copy of this Deployment. */
    targetRef: z
      .strictObject({
        apiVersion: z.literal('apps/v1', { error: 'must be apps/v1' }).default('apps/v1'),
        kind: z.literal('Deployment', { error: 'only Deployment is supported' }).default('Deployment'),
        name: k8sName('targetRef.name'),
      })
      .optional(),
    /** Managed mode only: how canaria treats your Deployment and what it created. */
    managed: z
      .strictObject({
        /** Scale your Deployment (the canary) to zero between releases; it runs only during a rollout. */
        scaleToZero: z.boolean().default(true),
        /** When the release is deleted, also delete the primary copy and its autoscaler. */
        cleanupOnDelete: z.boolean().default(false),
      })
      .optional(),
    rollback: z
      .strictObject({
        /**
         * Managed mode only: after a rollback, restore your Deployment's pod template to the last
         * promoted one, so the bad revision does not come back with the next scale-up.
         */
        revertTarget: z.boolean().default(false),
      })
      .optional(),
    /** The Kubernetes Service whose requests are measured; by default the DestinationRule's host. */
    service: k8sName('service').optional(),
    trafficRouting: z.strictObject({ istio: istioRouting }),
    strategy: z
      .strictObject({
        steps: list(step, LIMITS.steps, 'steps').optional(),
        /** Shorthand: raise the weight by stepWeight every interval up to maxWeight, analysing each. */
        stepWeight: percent('stepWeight').optional(),
        maxWeight: percent('maxWeight').optional(),
        interval: duration.optional(),
      })
      .superRefine((s, ctx) => {
        const shorthand = s.stepWeight !== undefined || s.maxWeight !== undefined || s.interval !== undefined;
        if (s.steps !== undefined && shorthand) {
          ctx.addIssue({
            code: 'custom',
            path: [],
            message: 'use either steps or the stepWeight/maxWeight/interval shorthand, not both',
          });
        } else if (s.steps === undefined && !shorthand) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps'],
            message: 'steps is required, e.g. steps: [{setWeight: 10}, {analysis: {}}, {setWeight: 50}]',
          });
        } else if (s.steps !== undefined && s.steps.length === 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps'],
            message: 'steps must not be empty; add at least one step such as {setWeight: 10}',
          });
        } else if (shorthand) {
          if (!s.stepWeight) {
            ctx.addIssue({
              code: 'custom',
              path: ['stepWeight'],
              message: 'the shorthand needs stepWeight > 0, e.g. 10',
            });
          }
          if (s.maxWeight === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['maxWeight'],
              message: 'the shorthand needs maxWeight, e.g. 50',
            });
          }
          if (s.interval === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['interval'],
              message: 'the shorthand needs interval, e.g. 1m',
            });
          }
          if (s.stepWeight && s.maxWeight !== undefined && s.stepWeight > s.maxWeight) {
            ctx.addIssue({
              code: 'custom',
              path: ['stepWeight'],
              message: `stepWeight (${s.stepWeight}) is above maxWeight (${s.maxWeight})`,
            });
          }
        }
      }),
    analysis: analysisSpec.optional(),
    /** The longest a release may hold without progress (canary not ready, no verdict) before it rolls back. */
    progressDeadline: duration.default('10m'),
    /** Progress only inside these windows; outside them the release holds its weight. */
    releaseWindows: list(releaseWindow, LIMITS.releaseWindows, 'release windows').optional(),
    /** Slack, Teams or CloudEvents receivers told about this release's decisions, besides the operator's. */
    notifications: releaseNotifications.optional(),
    /** Pause or resume the release. */
    paused: z.boolean().default(false),
    /** A one-shot user action; `id` makes it idempotent (the controller handles each id once). */
    request: z
      .strictObject({
        action: z.enum(USER_ACTIONS, { error: `action must be one of ${USER_ACTIONS.join(', ')}` }),
        id: bounded(LIMITS.shortText).min(1, {
          error: 'id must not be empty; any unique string, e.g. a timestamp',
        }),
      })
      .optional(),
  })
  .superRefine((spec, ctx) => {
    if ((spec.subsets === undefined) === (spec.targetRef === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: spec.subsets ? ['targetRef'] : ['subsets'],
        message:
          'choose one workload mode: spec.subsets (you run one Deployment per version) or spec.targetRef (canaria manages a primary copy of your Deployment)',
      });
    }
    if (!spec.targetRef) {
      if (spec.managed) {
        ctx.addIssue({
          code: 'custom',
          path: ['managed'],
          message: 'managed applies to spec.targetRef only; remove it, or switch to targetRef',
        });
      }
      if (spec.rollback?.revertTarget) {
        ctx.addIssue({
          code: 'custom',
          path: ['rollback', 'revertTarget'],
          message:
            'revertTarget restores the Deployment of spec.targetRef; in subsets mode you own the Deployments, so remove it',
        });
      }
    }
    const istio = spec.trafficRouting.istio;
    if (istio.stableSubset === istio.canarySubset) {
      ctx.addIssue({
        code: 'custom',
        path: ['trafficRouting', 'istio', 'canarySubset'],
        message: `stableSubset and canarySubset are both ${quoted(istio.stableSubset)}; the canary needs a subset of its own`,
      });
    }
    checkWeightsExpressible(spec, ctx);
    checkDurations(spec, ctx);
    checkWindows(spec, ctx);
    checkAnalysisGates(spec, ctx);
  });
export type CanaryReleaseSpec = z.infer<typeof canaryReleaseSpec>;
export type CanaryReleaseSpecInput = z.input<typeof canaryReleaseSpec>;

/** A setWeight of 0.5 % needs a weight total of at least 1000; say so instead of rounding silently. */
function checkWeightsExpressible(spec: CheckedSpec, ctx: z.RefinementCtx): void {
  const total = spec.trafficRouting.istio.weightTotal;
  const check = (value: number | undefined, path: (string | number)[]) => {
    if (value === undefined) return;
    const units = (value * total) / 100;
    if (Math.abs(units - Math.round(units)) > 1e-9) {
      const needed = ISTIO_WEIGHT_TOTALS.find((t) =>
        Number.isInteger(Number(((value * t) / 100).toFixed(9))),
      );
      ctx.addIssue({
        code: 'custom',
        path,
        message: needed
          ? `${value} % cannot be expressed with weightTotal ${total}; set trafficRouting.istio.weightTotal: ${needed} (Istio >= 1.15) or use a whole percent`
          : `${value} % is finer than canaria can express (0.01 % at weightTotal 10000); round it`,
      });
    }
  };
  spec.strategy.steps?.forEach((s, i) => {
    check(s.setWeight, ['strategy', 'steps', i, 'setWeight']);
    check(s.match?.canaryWeight, ['strategy', 'steps', i, 'match', 'canaryWeight']);
  });
  check(spec.strategy.stepWeight, ['strategy', 'stepWeight']);
  check(spec.strategy.maxWeight, ['strategy', 'maxWeight']);
  const version = spec.trafficRouting.istio.istioVersion;
  if (total !== 100 && version !== undefined) {
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major < 1 || (major === 1 && minor < 15)) {
      ctx.addIssue({
        code: 'custom',
        path: ['trafficRouting', 'istio', 'weightTotal'],
        message: `Istio ${truncate(version, LIMITS.quoted)} requires a route's weights to add up to 100; use weightTotal: 100 (whole-percent steps) or upgrade to Istio >= 1.15`,
      });
    }
  }
}

function checkWindows(spec: CheckedSpec, ctx: z.RefinementCtx): void {
  spec.releaseWindows?.forEach((window, i) => {
    try {
      // too long is its own issue; a cron expression that long is not worth parsing
      if (window.schedule.length <= LIMITS.shortText) parseCron(window.schedule);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        path: ['releaseWindows', i, 'schedule'],
        message: `${quoted(window.schedule)} ${truncate((err as Error).message, LIMITS.issue)}; e.g. "0 9 * * 1-5" opens at 09:00 on weekdays`,
      });
    }
    if (window.timeZone !== undefined && !isValidTimeZone(window.timeZone)) {
      ctx.addIssue({
        code: 'custom',
        path: ['releaseWindows', i, 'timeZone'],
        message: `${quoted(window.timeZone)} is not an IANA time zone; use e.g. Europe/Berlin or UTC`,
      });
    }
  });
}

/** Steps that need the analysis block cannot run without it. */
function checkAnalysisGates(spec: CheckedSpec, ctx: z.RefinementCtx): void {
  const hasMetrics = (spec.analysis?.metrics?.length ?? 0) + (spec.analysis?.templates?.length ?? 0) > 0;
  if (hasMetrics) return;
  const gate = spec.strategy.steps?.findIndex((s) => s.analysis !== undefined) ?? -1;
  if (gate >= 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['strategy', 'steps', gate, 'analysis'],
      message: 'an analysis step needs metrics: add spec.analysis.templates or spec.analysis.metrics',
    });
  } else if (spec.strategy.steps === undefined && spec.strategy.stepWeight !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['analysis'],
      message: 'the stepWeight shorthand analyses every step: add spec.analysis with templates or metrics',
    });
  }
}

function checkDurations(spec: CheckedSpec, ctx: z.RefinementCtx): void {
  const interval = spec.analysis ? parseDuration(spec.analysis.interval) : undefined;
  if (interval !== undefined && interval < 1000) {
    ctx.addIssue({
      code: 'custom',
      path: ['analysis', 'interval'],
      message: 'must be at least 1s; Prometheus cannot answer finer than its scrape interval anyway',
    });
  }
}

// The refinement sees the object before the outer type exists, so the checks name the fields they read.
interface CheckedSpec {
  strategy: { steps?: Step[] | undefined; stepWeight?: number | undefined; maxWeight?: number | undefined };
  trafficRouting: { istio: IstioRouting };
  analysis?:
    { interval: string; metrics?: unknown[] | undefined; templates?: unknown[] | undefined } | undefined;
  releaseWindows?: ReleaseWindow[] | undefined;
}

// ---------------------------------------------------------------- status

export const PHASES = [
  'Initializing',
  'Progressing',
  'Paused',
  'Promoting',
  'Succeeded',
  'RolledBack',
  'Failed',
] as const;
export type Phase = (typeof PHASES)[number];

export const VERDICTS = ['Pass', 'Fail', 'Inconclusive', 'Error'] as const;
export type VerdictKind = (typeof VERDICTS)[number];

const sideEvidence = z.object({
  value: z.number().nullable().optional(),
  total: z.number().optional(),
  errors: z.number().optional(),
  slow: z.number().optional(),
});

/** What a sequential judge saw over the whole rollout, and how far its two tests are. */
export const sequentialEvidence = z.object({
  /** Analyses this rollout that fed the tests. */
  looks: z.int(),
  /** Requests and bad requests (errors, or slow requests) since the rollout started. */
  canary: z.object({ total: z.number(), bad: z.number() }),
  stable: z.object({ total: z.number(), bad: z.number() }),
  /** canary bad share / stable bad share; null until both have one. */
  ratio: z.number().nullable(),
  /** Always-valid (1 - alpha) interval for that ratio; null where unbounded. */
  ratioLow: z.number().nullable(),
  ratioHigh: z.number().nullable(),
  /** Evidence against "the canary is within tolerance of stable"; the judge fails at eValue >= threshold. */
  eValue: z.number(),
  threshold: z.number(),
  /** Always-valid p-value of the same test: 1 / the largest e-value so far. */
  pValue: z.number(),
  tolerance: z.number(),
  /** This metric's share of the release's alpha. */
  alpha: z.number(),
  /** Evidence against "the canary is regressed" (ratio and floor); passes at passThreshold. */
  passEValue: z.number(),
  passThreshold: z.number(),
  /** The share of the evidence the current step needs, and how much of it there is (0..1). */
  required: z.number(),
  progress: z.number(),
  regression: z.object({ ratio: z.number(), floor: z.number(), power: z.number() }),
  /** Canary requests still needed at the traffic seen so far, and about how long that takes. */
  neededRequests: z.number().nullable(),
  expectedWaitSeconds: z.number().nullable(),
});
export type SequentialEvidence = z.infer<typeof sequentialEvidence>;

/**
 * What a sequential judge carries from one analysis to the next within a rollout: running sums, not
 * raw data, so the status stays small however long the rollout runs.
 */
export const sequentialMemory = z.object({
  looks: z.int(),
  canary: z.object({ total: z.number(), bad: z.number() }),
  stable: z.object({ total: z.number(), bad: z.number() }),
  /** Log e-value of the fail test, and its largest value so far. */
  failLog: z.number(),
  failMaxLog: z.number(),
  /** Per alternative of the fail test: discounted log likelihood ratios, which weight the next bet. */
  failRecent: z.array(z.number()),
  /** Per alternative of the pass tests: log likelihood ratios since the rollout started. */
  passRatio: z.array(z.number()),
  passFloor: z.array(z.number()),
  /** The largest log e-value the pass tests reached; the evidence is not taken back. */
  passMaxLog: z.number(),
  /** Seconds the increments covered, and the canary's request rate in the latest one. */
  seconds: z.number(),
  rate: z.number(),
  /** Where the last measured increment ended: the next one starts here (within the same split). */
  until: z.string().optional(),
});
export type SequentialMemory = z.infer<typeof sequentialMemory>;

export const metricEvidence = z.object({
  metric: z.string(),
  type: z.string(),
  verdict: z.enum(VERDICTS),
  /** The rule that fired, with its numbers: `canary 0.0500 > stable 0.0050 x (1+0.5) + 0.001 = 0.0085`. */
  rule: z.string(),
  canary: sideEvidence,
  stable: sideEvidence.optional(),
  bound: z.number().optional(),
  query: z.string().optional(),
  sequential: sequentialEvidence.optional(),
});
export type MetricEvidence = z.infer<typeof metricEvidence>;

export const DECISION_ACTIONS = [
  'Start',
  'Restart',
  'Advance',
  'Hold',
  'Pause',
  'Resume',
  'Promote',
  'Succeed',
  'Rollback',
  'Fail',
  'Ignore',
  'Initialize',
  'Revert',
] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];

export const decisionRecord = z.object({
  time: z.string(),
  action: z.enum(DECISION_ACTIONS),
  reason: z.string(),
  message: z.string(),
  step: z.int(),
  canaryWeight: z.number(),
  verdict: z.enum(VERDICTS).optional(),
  metrics: z.array(metricEvidence).optional(),
  /** Repeated holds for the same reason collapse into one record: how many, and since when. */
  count: z.int().optional(),
  firstTime: z.string().optional(),
});
export type DecisionRecord = z.infer<typeof decisionRecord>;

export const analysisRecord = z.object({
  time: z.string(),
  windowStart: z.string(),
  verdict: z.enum(VERDICTS),
  summary: z.string(),
  metrics: z.array(metricEvidence),
});
export type AnalysisRecord = z.infer<typeof analysisRecord>;

export const condition = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
});
export type Condition = z.infer<typeof condition>;

export const routingState = z.object({
  /** Route weights in units of `total`, as written to the VirtualService. */
  stableWeight: z.int(),
  canaryWeight: z.int(),
  total: z.int(),
  match: matchStage.optional(),
  mirrorPercent: z.number().optional(),
});
export type RoutingState = z.infer<typeof routingState>;

export const canaryReleaseStatus = z.object({
  phase: z.enum(PHASES).optional(),
  message: z.string().optional(),
  observedGeneration: z.int().optional(),
  currentStepIndex: z.int().optional(),
  stepStartedAt: z.string().optional(),
  /** Start of the analysis window: when the current weight took effect. */
  windowStartedAt: z.string().optional(),
  rolloutStartedAt: z.string().optional(),
  /** Desired canary share in percent. */
  canaryWeight: z.number().optional(),
  /** Canary share read back from the VirtualService. */
  actualCanaryWeight: z.number().optional(),
  routing: routingState.optional(),
  stableRevision: z.string().optional(),
  canaryRevision: z.string().optional(),
  /** Fingerprint of the spec fields that shape a rollout; a change restarts it. */
  specHash: z.string().optional(),
  consecutiveFailures: z.int().optional(),
  /** The latest analysis of the current window, with its evidence. */
  lastAnalysis: analysisRecord.optional(),
  /** When the release began waiting for the canary or for its routing; the progress deadline counts from here. */
  holdingSince: z.string().optional(),
  handledRequestId: z.string().optional(),
  /** Sequential judges' running evidence for this rollout, by metric name. */
  sequential: z.record(z.string(), sequentialMemory).optional(),
  /** When the analyses began holding without new evidence; the hold deadline counts from here. */
  analysisHoldingSince: z.string().optional(),
  decisions: z.array(decisionRecord).optional(),
  conditions: z.array(condition).optional(),
});
export type CanaryReleaseStatus = z.infer<typeof canaryReleaseStatus>;

export const canaryRelease = z.object({
  apiVersion: z.literal(API_VERSION, { error: `must be ${API_VERSION}` }),
  kind: z.literal('CanaryRelease', { error: 'must be CanaryRelease' }),
  metadata: objectMeta,
  spec: canaryReleaseSpec,
  status: canaryReleaseStatus.optional(),
});
export type CanaryRelease = z.infer<typeof canaryRelease>;
