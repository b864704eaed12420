import { z } from 'zod';
import { isValidTimeZone, parseCron } from './cron.js';
import { duration, parseDuration } from './duration.js';
import { errorRules, metricSpec } from './analysis-template.js';
import { compileRe2 } from './re2.js';
import { API_VERSION, k8sName, objectMeta } from './meta.js';
import { LIMITS, quoted, truncate } from './limits.js';
import { releaseNotifications } from './notifications.js';
import type { GatewayApiRouting } from './gateway-api.js';
import { ISTIO_WEIGHT_TOTALS, type IstioRouting } from './istio.js';
import { trafficRouting } from './routers.js';
import { hookCall, hooksStatus, webhooks } from './webhooks.js';

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
    name: bounded(LIMITS.headerName)
      .min(1, { error: 'name is required, e.g. end-user' })
      .describe('Header or query parameter name; Istio lower-cases header names.'),
    exact: bounded(LIMITS.matchValue, '; match a prefix or a regex instead')
      .optional()
      .describe('Matches this exact value. Set one of exact, prefix or regex.'),
    prefix: bounded(LIMITS.matchValue).optional().describe('Matches values that start with this.'),
    regex: bounded(LIMITS.regex)
      .optional()
      .describe(
        'Matches values against this RE2 regular expression (the syntax Istio accepts), whole value.',
      ),
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
    headers: list(stringMatch, LIMITS.matches, 'header matches')
      .optional()
      .describe('Request headers that must all match, e.g. [{name: end-user, exact: testuser}].'),
    // compiled to a regex on the `cookie` header, the only way Istio matches a cookie
    cookie: z
      .strictObject({
        name: bounded(LIMITS.headerName)
          .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, {
            error: 'must be a cookie name',
          })
          .describe('Name of the cookie.'),
        regex: bounded(LIMITS.regex)
          .min(1, { error: 'must not be empty; use .* to match any value' })
          .describe("RE2 regular expression the cookie's value must match; .* matches any value."),
      })
      .superRefine((c, ctx) => {
        checkRegex(c.regex, ['regex'], ctx);
      })
      .optional()
      .describe('One cookie, by name, whose value must match.'),
    queryParams: list(stringMatch, LIMITS.matches, 'query parameter matches')
      .optional()
      .describe('Query parameters that must all match.'),
    canaryWeight: percent('canaryWeight')
      .default(100)
      .describe('Percent of the matched requests that go to the canary. Default 100.'),
    duration: duration
      .optional()
      .describe('How long the stage lasts, e.g. 10m; without it the stage waits until promoted.'),
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
    setWeight: percent('setWeight')
      .optional()
      .describe(
        'Send this percent of traffic to the canary, e.g. 10; fractions such as 0.5 need weightTotal 1000.',
      ),
    pause: z
      .strictObject({
        duration: duration.optional().describe('How long to wait, e.g. 5m; without it, wait until promoted.'),
      })
      .optional()
      .describe('Wait at the current weight: pause: {} until promoted, pause: {duration: 5m} that long.'),
    analysis: z
      .strictObject({
        duration: duration
          .optional()
          .describe(
            'The least time the passing analysis must cover at this weight, e.g. 5m. Default: spec.analysis.interval.',
          ),
      })
      .optional()
      .describe('A gate: hold at the current weight until an analysis over at least duration passes.'),
    match: matchStage
      .optional()
      .describe(
        'An A/B stage: requests that match go to the canary; all other requests keep the current weights.',
      ),
    mirror: z
      .strictObject({
        percent: percent('mirror.percent').describe("Percent of the stable's requests copied to the canary."),
        duration: duration.optional().describe('How long to mirror, e.g. 5m; without it, until promoted.'),
      })
      .optional()
      .describe("Copy a share of the stable's requests to the canary; the canary's responses are discarded."),
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
  name: k8sName('name').describe('Name of the template.'),
  kind: z
    .enum(['AnalysisTemplate', 'ClusterAnalysisTemplate'], {
      error: 'kind must be AnalysisTemplate or ClusterAnalysisTemplate',
    })
    .default('AnalysisTemplate')
    .describe(
      "AnalysisTemplate (in the release's namespace) or ClusterAnalysisTemplate (cluster-wide). Default AnalysisTemplate.",
    ),
  args: list(
    z.strictObject({
      name: bounded(LIMITS.label).min(1).describe('Name of an argument the template declares.'),
      value: bounded(LIMITS.argValue).describe('Its value for this release.'),
    }),
    LIMITS.args,
    'arguments',
  )
    .optional()
    .describe("Values for the template's args, overriding their defaults."),
});
export type TemplateRef = z.infer<typeof templateRef>;

export const REVISION_LABELS = ['destination_canonical_revision', 'destination_version'] as const;

/** The regression a rollout must catch when the release does not say: README, "Deciding". */
export const DEFAULT_REGRESSION = { ratio: 4, floor: 0.005, power: 0.95 } as const;

export const analysisSpec = z.strictObject({
  interval: duration
    .default('1m')
    .describe(
      'How often the canary and the stable revision are measured, e.g. 30s. Default 1m; at least 1s.',
    ),
  templates: list(templateRef, LIMITS.templates, 'templates')
    .optional()
    .describe('AnalysisTemplates or ClusterAnalysisTemplates whose metrics this release uses.'),
  metrics: list(metricSpec, LIMITS.metrics, 'metrics')
    .optional()
    .describe(
      "Metrics written in place, in the same shape as a template's; used beside the templates' metrics.",
    ),
  failureLimit: z
    .int()
    .min(1, { error: 'must be at least 1' })
    .default(2)
    .describe(
      'Failed analyses in a row that roll the canary back; a passing analysis resets the count. Default 2. A sequential judge rolls back at once on its evidence.',
    ),
  minSamples: z
    .int()
    .min(0, { error: 'must be a whole number >= 0' })
    .default(50)
    .describe(
      'Requests each revision must have served in the window before a metric gives a verdict; fewer is Inconclusive. Default 50. Relative and threshold judges only.',
    ),
  onInconclusive: z
    .enum(['Hold', 'Fail', 'Pass'], { error: 'must be Hold, Fail or Pass' })
    .default('Hold')
    .describe(
      'What an analysis without a verdict (no data, too few requests) does: Hold, Fail or Pass. Default Hold.',
    ),
  onError: z
    .enum(['Hold', 'Fail'], { error: 'must be Hold or Fail' })
    .default('Hold')
    .describe(
      'What an analysis the metrics backend could not answer (Prometheus down) does: Hold or Fail. Default Hold.',
    ),
  revisionLabel: z
    .enum(REVISION_LABELS, { error: `must be one of ${REVISION_LABELS.join(', ')}` })
    .default('destination_canonical_revision')
    .describe(
      "The label of Istio's metrics that tells the revisions apart. Default destination_canonical_revision (Istio takes it from the pods' service.istio.io/canonical-revision, app.kubernetes.io/version or version label).",
    ),
  errors: errorRules
    .optional()
    .describe(
      "Which requests the errorRatio and successRate metrics count as errors: HTTP codes, Envoy response flags, gRPC statuses. Each list given replaces the controller's (--error-* flags); a metric's own errors wins over these.",
    ),
  reporter: z
    .enum(['auto', 'destination', 'source', 'waypoint'], {
      error: 'must be auto, destination, source or waypoint',
    })
    .default('auto')
    .describe(
      "Which proxy's report of a request is counted: auto (default: the destination's sidecar, else in ambient mode the Service's waypoint; each request once), destination (the canary's sidecar), source (the caller's) or waypoint (ambient mode's L7 proxy). Custom queries' {{ reporter }} is destination under auto.",
    ),
  alpha: z
    .number({ error: 'alpha must be a probability such as 0.01' })
    .gt(0, { error: 'must be > 0, e.g. 0.01 (a 1 % chance of rolling back a healthy canary)' })
    .max(0.5, { error: 'must be <= 0.5; the usual choice is 0.01 or 0.05' })
    .default(0.01)
    .describe(
      "Sequential judges: the chance, over the whole rollout however often it is analysed, of rolling back a canary no worse than stable (within each metric's tolerance). Split equally over the sequential metrics. Default 0.01.",
    ),
  regression: z
    .strictObject({
      ratio: z
        .number({ error: 'ratio must be a number such as 4' })
        .gt(1, { error: 'must be > 1: how many times as bad as stable counts as a regression, e.g. 4' })
        .default(DEFAULT_REGRESSION.ratio)
        .describe(
          `A canary this many times as bad as stable (errors, slow requests) is a regression. Default ${DEFAULT_REGRESSION.ratio}.`,
        ),
      floor: z
        .number({ error: 'floor must be a share of requests such as 0.005' })
        .gt(0, { error: 'must be > 0, e.g. 0.005 for 0.5 % of requests' })
        .lt(1, { error: 'must be < 1 (a share of requests), e.g. 0.005' })
        .default(DEFAULT_REGRESSION.floor)
        .describe(
          `... and at least this bad in absolute terms, as a share of requests (0.005 = 0.5 %). Default ${DEFAULT_REGRESSION.floor}.`,
        ),
      power: z
        .number({ error: 'power must be a probability such as 0.95' })
        .gt(0.5, { error: 'must be > 0.5, e.g. 0.95' })
        .lt(1, { error: 'must be < 1, e.g. 0.95 or 0.99' })
        .default(DEFAULT_REGRESSION.power)
        .describe(
          `The chance of catching such a regression: a regressed canary is promoted with probability 1 - power at most. Default ${DEFAULT_REGRESSION.power}.`,
        ),
    })
    .prefault({})
    .describe(
      'Sequential judges: the regression a rollout must be able to catch. No step advances before the evidence would have caught it with this power, so steps last as long as the traffic needs.',
    ),
  holdDeadline: duration
    .default('30m')
    .describe(
      'How long analyses may hold without new evidence (the metrics backend does not answer, no requests arrive) before onHoldDeadline applies. Default 30m.',
    ),
  onHoldDeadline: z
    .enum(['Pause', 'Rollback'], { error: 'must be Pause or Rollback' })
    .default('Pause')
    .describe(
      'Past the hold deadline: Pause (phase Paused, reason HoldDeadlineExceeded; goes on when evidence arrives) or Rollback. Default Pause.',
    ),
});
export type AnalysisSpec = z.infer<typeof analysisSpec>;

// ---------------------------------------------------------------- routing and workloads

export { ISTIO_WEIGHT_TOTALS, istioRouting, type IstioRouting } from './istio.js';

export const releaseWindow = z.strictObject({
  schedule: bounded(LIMITS.shortText)
    .min(1, { error: 'must be a cron expression such as "0 9 * * 1-5"' })
    .describe(
      'When the window opens: a five-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 9 * * 1-5".',
    ),
  duration: duration.describe('How long the window stays open, e.g. 8h.'),
  timeZone: bounded(LIMITS.shortText)
    .optional()
    .describe('IANA time zone of the schedule, e.g. Europe/Berlin. Default UTC.'),
});
export type ReleaseWindow = z.infer<typeof releaseWindow>;

export const USER_ACTIONS = ['Promote', 'PromoteFull', 'Abort', 'Retry', 'Approve'] as const;
export type UserAction = (typeof USER_ACTIONS)[number];

export const canaryReleaseSpec = z
  .strictObject({
    subsets: z
      .strictObject({
        stableDeployment: k8sName('stableDeployment')
          .optional()
          .describe(
            "The stable version's Deployment. Default: the one whose pods the stable subset's labels select.",
          ),
        canaryDeployment: k8sName('canaryDeployment')
          .optional()
          .describe(
            "The canary version's Deployment. Default: the one whose pods the canary subset's labels select.",
          ),
      })
      .optional()
      .describe(
        'Subsets mode: you run one Deployment per version; canaria moves the weights between the DestinationRule subsets. Set subsets or targetRef.',
      ),
    targetRef: z
      .strictObject({
        apiVersion: z
          .literal('apps/v1', { error: 'must be apps/v1' })
          .default('apps/v1')
          .describe('apps/v1, the default.'),
        kind: z
          .literal('Deployment', { error: 'only Deployment is supported' })
          .default('Deployment')
          .describe('Deployment, the default and only kind.'),
        name: k8sName('targetRef.name').describe("Name of your Deployment, in the release's namespace."),
      })
      .optional()
      .describe(
        'Managed mode: you change one Deployment; canaria keeps <name>-primary as its stable copy and rolls each new revision out. Set subsets or targetRef.',
      ),
    managed: z
      .strictObject({
        scaleToZero: z
          .boolean()
          .default(true)
          .describe('Scale your Deployment (the canary) to zero between rollouts. Default true.'),
        cleanupOnDelete: z
          .boolean()
          .default(false)
          .describe(
            'When the release is deleted, also delete <name>-primary and its autoscaler. Default false.',
          ),
      })
      .optional()
      .describe('Managed mode only: how canaria treats your Deployment and the primary it created.'),
    rollback: z
      .strictObject({
        revertTarget: z
          .boolean()
          .default(false)
          .describe(
            'Managed mode only: after a rollback, put the last promoted pod template back into your Deployment, so the bad revision does not return with the next scale-up. Default false.',
          ),
      })
      .optional()
      .describe('What a rollback does besides moving all traffic back to the stable revision.'),
    service: k8sName('service')
      .optional()
      .describe("The Kubernetes Service whose requests are measured. Default: the DestinationRule's host."),
    trafficRouting,
    strategy: z
      .strictObject({
        steps: list(step, LIMITS.steps, 'steps')
          .optional()
          .describe(
            'The steps of a rollout, in order, each one action: setWeight, pause, analysis, match or mirror. After the last step the canary is promoted.',
          ),
        stepWeight: percent('stepWeight')
          .optional()
          .describe(
            'Shorthand for steps: raise the canary weight by this percent every interval up to maxWeight, analysing each.',
          ),
        maxWeight: percent('maxWeight')
          .optional()
          .describe('Shorthand: the highest canary weight, in percent, before promotion.'),
        interval: duration.optional().describe('Shorthand: how long each weight is analysed, e.g. 1m.'),
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
      })
      .describe('How traffic moves to the canary: steps, or the stepWeight/maxWeight/interval shorthand.'),
    analysis: analysisSpec
      .optional()
      .describe(
        'How the canary is measured and judged against the stable revision, and what the verdicts do.',
      ),
    progressDeadline: duration
      .default('10m')
      .describe(
        'How long the release may wait for a ready canary or for the VirtualService to show its weights before it rolls back. Default 10m.',
      ),
    releaseWindows: list(releaseWindow, LIMITS.releaseWindows, 'release windows')
      .optional()
      .describe('Steps advance only inside these windows; outside them the release holds its weight.'),
    notifications: releaseNotifications
      .optional()
      .describe(
        "Slack, Teams or CloudEvents receivers told about this release's decisions, besides the operator's.",
      ),
    webhooks: webhooks
      .optional()
      .describe(
        "HTTP hooks called during a rollout: gates (confirm-rollout, pre-rollout, confirm-traffic-increase, confirm-promotion), rollout (with each analysis) and post-rollout / rollback (informational). The body is compatible with Flagger's webhook payload.",
      ),
    paused: z
      .boolean()
      .default(false)
      .describe('true pauses the release at its current weight; false resumes it. Default false.'),
    request: z
      .strictObject({
        action: z
          .enum(USER_ACTIONS, { error: `action must be one of ${USER_ACTIONS.join(', ')}` })
          .describe(
            'Promote (skip the current step), PromoteFull (go to 100 %), Abort (roll back), Retry (restart a rolled-back release) or Approve (open the gate the release waits at: a confirm-* or pre-rollout hook, or a pause without duration).',
          ),
        id: bounded(LIMITS.shortText)
          .min(1, {
            error: 'id must not be empty; any unique string, e.g. a timestamp',
          })
          .describe('Any unique string, e.g. a timestamp; the controller handles each id once.'),
      })
      .optional()
      .describe('A one-shot user action, as kubectl canaria promote/abort/retry/approve write it.'),
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
    const { istio, gatewayAPI } = spec.trafficRouting;
    if ((istio === undefined) === (gatewayAPI === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['trafficRouting'],
        message: istio
          ? 'set exactly one router: trafficRouting.istio or trafficRouting.gatewayAPI, not both'
          : 'set a router: trafficRouting.istio (VirtualService and DestinationRule) or trafficRouting.gatewayAPI (HTTPRoute)',
      });
    }
    if (gatewayAPI && !spec.targetRef) {
      for (const field of ['stableService', 'canaryService'] as const) {
        if (gatewayAPI[field] !== undefined) continue;
        ctx.addIssue({
          code: 'custom',
          path: ['trafficRouting', 'gatewayAPI', field],
          message: `in subsets mode you run a Service per version: name the ${field === 'stableService' ? 'stable' : 'canary'} one here (only managed mode, spec.targetRef, creates them)`,
        });
      }
    }
    if (istio && istio.stableSubset === istio.canarySubset) {
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
    checkRolloutHooks(spec, ctx);
  });
export type CanaryReleaseSpec = z.infer<typeof canaryReleaseSpec>;
export type CanaryReleaseSpecInput = z.input<typeof canaryReleaseSpec>;

/** A setWeight of 0.5 % needs a weight total of at least 1000; say so instead of rounding silently. */
function checkWeightsExpressible(spec: CheckedSpec, ctx: z.RefinementCtx): void {
  const { istio, gatewayAPI } = spec.trafficRouting;
  const total = istio?.weightTotal ?? gatewayAPI?.weightTotal ?? 100;
  const totalPath = istio ? 'trafficRouting.istio.weightTotal' : 'trafficRouting.gatewayAPI.weightTotal';
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
          ? `${value} % cannot be expressed with weightTotal ${total}; set ${totalPath}: ${needed}${istio ? ' (Istio >= 1.15)' : ''} or use a whole percent`
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
  const version = istio?.istioVersion;
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

/** Rollout hooks run with each analysis: without metrics there is none to run them with. */
function checkRolloutHooks(spec: CheckedSpec, ctx: z.RefinementCtx): void {
  const hasMetrics = (spec.analysis?.metrics?.length ?? 0) + (spec.analysis?.templates?.length ?? 0) > 0;
  const i = spec.webhooks?.findIndex((h) => h.type === 'rollout') ?? -1;
  if (i >= 0 && !hasMetrics) {
    ctx.addIssue({
      code: 'custom',
      path: ['webhooks', i, 'type'],
      message:
        'a rollout hook is called with each analysis: add spec.analysis with metrics or templates, or use a confirm-traffic-increase hook',
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
  trafficRouting: { istio?: IstioRouting | undefined; gatewayAPI?: GatewayApiRouting | undefined };
  analysis?:
    { interval: string; metrics?: unknown[] | undefined; templates?: unknown[] | undefined } | undefined;
  releaseWindows?: ReleaseWindow[] | undefined;
  webhooks?: { type: string }[] | undefined;
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
  value: z
    .number()
    .nullable()
    .optional()
    .describe("The metric's value for this revision (a share of requests, or ms); null when there was none."),
  total: z.number().optional().describe('Requests the revision served in the window.'),
  errors: z.number().optional().describe('Of those, the requests counted as errors.'),
  slow: z.number().optional().describe('Of those, the requests slower than latencyThresholdMs.'),
});

/** Requests and bad requests (errors, or slow requests) of one revision since the rollout started. */
const tally = (revision: string) =>
  z
    .object({
      total: z.number().describe('Requests.'),
      bad: z.number().describe('Bad requests: errors, or slow requests.'),
    })
    .describe(`Requests and bad requests of the ${revision} revision since the rollout started.`);

/** What a sequential judge saw over the whole rollout, and how far its two tests are. */
export const sequentialEvidence = z.object({
  looks: z.int().describe('Analyses this rollout that fed the tests.'),
  canary: tally('canary'),
  stable: tally('stable'),
  ratio: z
    .number()
    .nullable()
    .describe("The canary's bad share over the stable's; null until both have one."),
  ratioLow: z
    .number()
    .nullable()
    .describe('Lower end of the always-valid (1 - alpha) interval for ratio; null where unbounded.'),
  ratioHigh: z
    .number()
    .nullable()
    .describe('Upper end of the always-valid (1 - alpha) interval for ratio; null where unbounded.'),
  eValue: z
    .number()
    .describe(
      'Evidence that the canary is worse than stable beyond the tolerance; the judge fails at threshold.',
    ),
  threshold: z.number().describe('The e-value that rolls back: 1 / alpha of this metric.'),
  pValue: z.number().describe('Always-valid p-value of the same test: 1 / the largest e-value so far.'),
  tolerance: z.number().describe("The metric's tolerance (0.25 = 25 % worse than stable)."),
  alpha: z.number().describe("This metric's share of spec.analysis.alpha."),
  passEValue: z
    .number()
    .describe(
      'Evidence that the canary is not regressed (spec.analysis.regression); it passes at passThreshold.',
    ),
  passThreshold: z.number().describe('The pass e-value that promotes: 1 / (1 - power).'),
  required: z.number().describe('The share of the pass evidence the current step needs (0..1).'),
  progress: z.number().describe('The share of the pass evidence there is so far (0..1).'),
  regression: z
    .object({
      ratio: z.number().describe('spec.analysis.regression.ratio.'),
      floor: z.number().describe('spec.analysis.regression.floor.'),
      power: z.number().describe('spec.analysis.regression.power.'),
    })
    .describe('The regression the pass test rules out, as spec.analysis.regression says.'),
  neededRequests: z
    .number()
    .nullable()
    .describe('Canary requests still needed for this step at the traffic seen so far; null when unknown.'),
  expectedWaitSeconds: z
    .number()
    .nullable()
    .describe(
      "About how long those requests take at the canary's request rate, in seconds; null when unknown.",
    ),
});
export type SequentialEvidence = z.infer<typeof sequentialEvidence>;

/**
 * What a sequential judge carries from one analysis to the next within a rollout: running sums, not
 * raw data, so the status stays small however long the rollout runs.
 */
export const sequentialMemory = z.object({
  looks: z.int().describe('Analyses this rollout that fed the tests.'),
  canary: tally('canary'),
  stable: tally('stable'),
  failLog: z.number().describe('Log e-value of the fail test.'),
  failMaxLog: z.number().describe('The largest log e-value of the fail test so far.'),
  failRecent: z
    .array(z.number())
    .describe(
      'Per alternative of the fail test: discounted log likelihood ratios, which weight the next bet.',
    ),
  passRatio: z
    .array(z.number())
    .describe(
      'Per alternative of the pass test on the ratio: log likelihood ratios since the rollout started.',
    ),
  passFloor: z
    .array(z.number())
    .describe(
      'Per alternative of the pass test on the floor: log likelihood ratios since the rollout started.',
    ),
  // the evidence is not taken back
  passMaxLog: z.number().describe('The largest log e-value the pass tests reached.'),
  seconds: z.number().describe('Seconds the measured increments covered.'),
  rate: z.number().describe("The canary's request rate in the latest increment, per second."),
  until: z
    .string()
    .optional()
    .describe('Where the last measured increment ended (RFC 3339); the next one starts here.'),
});
export type SequentialMemory = z.infer<typeof sequentialMemory>;

export const metricEvidence = z.object({
  metric: z.string().describe('Name of the metric.'),
  type: z.string().describe('Type of the metric, e.g. errorRatio.'),
  verdict: z.enum(VERDICTS).describe("The metric's verdict: Pass, Fail, Inconclusive or Error."),
  rule: z
    .string()
    .describe(
      'The rule that decided, with its numbers, e.g. canary 0.0500 > stable 0.0050 x (1+0.5) + 0.001 = 0.0085.',
    ),
  canary: sideEvidence.describe('What the canary revision measured.'),
  stable: sideEvidence.optional().describe('What the stable revision measured.'),
  bound: z.number().optional().describe("The bound the canary's value was held to."),
  query: z.string().optional().describe('The PromQL query that measured it (at most 1 KiB).'),
  sequential: sequentialEvidence.optional().describe("A sequential judge's evidence over the whole rollout."),
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
  time: z.string().describe('When it was decided (RFC 3339).'),
  action: z.enum(DECISION_ACTIONS).describe('What was decided, e.g. Advance, Hold, Rollback.'),
  reason: z.string().describe('Why, as one word, e.g. AnalysisPassed; also the reason of its Event.'),
  message: z.string().describe('Why, in a sentence with the numbers.'),
  step: z.int().describe('Index of the step it was decided at, counted from 0.'),
  canaryWeight: z.number().describe('Desired canary weight at the time, in percent.'),
  verdict: z.enum(VERDICTS).optional().describe('Verdict of the analysis behind it, if any.'),
  metrics: z.array(metricEvidence).optional().describe("That analysis' evidence, per metric."),
  // repeated holds for the same reason collapse into one record
  count: z.int().optional().describe('How many holds in a row this record stands for.'),
  firstTime: z.string().optional().describe('When that streak of holds began (RFC 3339).'),
  hooks: z.array(hookCall).optional().describe('The hook calls behind it, if any.'),
});
export type DecisionRecord = z.infer<typeof decisionRecord>;

export const analysisRecord = z.object({
  time: z.string().describe('When the analysis ran (RFC 3339).'),
  windowStart: z.string().describe('Start of the window it measured (RFC 3339).'),
  windowEnd: z
    .string()
    .optional()
    .describe(
      'Where the data it measured ended (RFC 3339), rounded to the time releases share queries at; the next analysis is due one interval later.',
    ),
  verdict: z.enum(VERDICTS).describe('The combined verdict: Fail beats Error beats Inconclusive beats Pass.'),
  summary: z.string().describe('One line: which metrics decided and why.'),
  metrics: z.array(metricEvidence).describe('The evidence, per metric.'),
  hooks: z.array(hookCall).optional().describe('The rollout hooks called with it, and their answers.'),
});
export type AnalysisRecord = z.infer<typeof analysisRecord>;

export const condition = z.object({
  type: z.string().describe('Progressing, Paused, ConfigValid or Applied.'),
  status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
  reason: z.string().describe('Why, as one word.'),
  message: z.string().describe('Why, in a sentence.'),
  lastTransitionTime: z.string().describe('When status last changed (RFC 3339).'),
});
export type Condition = z.infer<typeof condition>;

export const routingState = z.object({
  stableWeight: z.int().describe('Weight of the stable destination, in units of total.'),
  canaryWeight: z.int().describe('Weight of the canary destination, in units of total.'),
  total: z.int().describe("What the weights add up to: the router's weightTotal."),
  match: matchStage.optional().describe('The A/B match route, during a match stage.'),
  mirrorPercent: z.number().optional().describe("Percent of the stable's requests mirrored to the canary."),
});
export type RoutingState = z.infer<typeof routingState>;

export const canaryReleaseStatus = z.object({
  phase: z
    .enum(PHASES)
    .optional()
    .describe(
      'Initializing, Progressing, Paused, Promoting, Succeeded, RolledBack or Failed (invalid configuration: traffic is left alone and the ConfigValid condition says what to fix).',
    ),
  message: z.string().optional().describe('What the release is doing or last decided, in a sentence.'),
  observedGeneration: z.int().optional().describe('The metadata.generation of the spec this status is for.'),
  currentStepIndex: z
    .int()
    .optional()
    .describe('Index of the current step, counted from 0; the number of steps once all are done.'),
  currentStep: z
    .string()
    .optional()
    .describe(
      'The current step counted from 1, over the number of steps, e.g. 2/4, as kubectl canaria get shows it.',
    ),
  stepStartedAt: z.string().optional().describe('When the current step began (RFC 3339).'),
  windowStartedAt: z
    .string()
    .optional()
    .describe('Start of the analysis window: when the current weights took effect (RFC 3339).'),
  rolloutStartedAt: z.string().optional().describe('When the current rollout began (RFC 3339).'),
  canaryWeight: z.number().optional().describe('Desired canary weight, in percent of traffic.'),
  actualCanaryWeight: z
    .number()
    .optional()
    .describe('Canary weight the VirtualService shows, in percent of traffic.'),
  routing: routingState.optional().describe('The routing canaria wants, as written to the VirtualService.'),
  stableRevision: z
    .string()
    .optional()
    .describe(
      "Fingerprint of the stable version's pod template (managed mode: and the ConfigMaps it reads).",
    ),
  canaryRevision: z
    .string()
    .optional()
    .describe(
      "Fingerprint of the canary version's pod template (managed mode: and the ConfigMaps it reads).",
    ),
  specHash: z
    .string()
    .optional()
    .describe('Fingerprint of the spec fields that shape a rollout; a change restarts it.'),
  consecutiveFailures: z.int().optional().describe('Failed analyses in a row, counted against failureLimit.'),
  lastAnalysis: analysisRecord
    .optional()
    .describe('The latest analysis of the current window, with its evidence.'),
  holdingSince: z
    .string()
    .optional()
    .describe(
      'When the release began waiting for the canary or for its routing (RFC 3339); progressDeadline counts from here.',
    ),
  handledRequestId: z.string().optional().describe('The id of the last spec.request handled.'),
  sequential: z
    .record(z.string(), sequentialMemory)
    .optional()
    .describe("Sequential judges' running evidence for this rollout, by metric name."),
  analysisHoldingSince: z
    .string()
    .optional()
    .describe(
      'When the analyses began holding without new evidence (RFC 3339); holdDeadline counts from here.',
    ),
  decisions: z
    .array(decisionRecord)
    .optional()
    .describe('The last 20 decisions, oldest first, each with its evidence.'),
  hooks: hooksStatus
    .optional()
    .describe('The webhooks of this rollout: gates waited at and passed, the latest calls.'),
  conditions: z.array(condition).optional().describe('The standard Kubernetes conditions.'),
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
