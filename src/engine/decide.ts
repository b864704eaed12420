import type {
  AnalysisRecord,
  CanaryReleaseSpec,
  CanaryReleaseStatus,
  DecisionAction,
  MetricEvidence,
  RoutingState,
  Step,
  VerdictKind,
} from '../api/canary-release.js';
import { formatDuration, parseDuration } from '../api/duration.js';
import { routingSides } from '../api/routing.js';
import { describeIssues, type ValidationIssue } from '../api/validation.js';
import { aggregate, effectOf } from '../analysis/aggregate.js';
import { judgeMetric } from '../analysis/judges.js';
import type { Measurement } from '../analysis/types.js';
import { releaseWindowOpen } from './release-window.js';
import { rolloutSpecHash } from './spec-hash.js';
import { fullCanaryRouting, routingForStep, stableRouting, stepKind, unitsToPercent } from './steps.js';
import { Draft, IDLE_RECHECK_MS, ms, StatusDraft } from './draft.js';
import { initialize, noteSecrets, promoteManaged, scaleCanaryUp, settleManaged } from './managed.js';
import type { Decision, Observations } from './types.js';
import type { HookCall } from '../api/webhooks.js';
import { describeCall, exposureGates, noteHookCalls, passGate, wakeToInform } from './hooks.js';

export { DECISION_HISTORY, IDLE_RECHECK_MS, ROUTING_RECHECK_MS } from './draft.js';
const NOT_MEASURED: Measurement = {
  kind: 'error',
  error: { code: 'Malformed', message: 'the metric was not measured', retryable: true },
};

function analysisConfigured(spec: CanaryReleaseSpec): boolean {
  return !!spec.analysis && (spec.analysis.metrics?.length ?? 0) + (spec.analysis.templates?.length ?? 0) > 0;
}

/**
 * The window the controller should measure now, or null when no analysis is due. The window runs
 * from when the current traffic split took effect, so every analysis sees only this step's traffic.
 * Judges over increments (sequential) are measured from where their previous analysis ended
 * (`since`, by metric), so no request is counted twice and none from another split.
 */
export function analysisWindow(
  spec: CanaryReleaseSpec,
  status: CanaryReleaseStatus | undefined,
  now: Date,
): { start: Date; end: Date; since: Record<string, Date> } | null {
  if (!status || !analysisConfigured(spec) || !spec.analysis) return null;
  if (status.phase !== 'Progressing' && status.phase !== 'Paused') return null;
  if (gatedBeforeTraffic(status)) return null;
  const start = ms(status.windowStartedAt);
  if (start === undefined) return null;
  if (now.getTime() < nextAnalysisAt(spec, status, start)) return null;
  const since = Object.fromEntries(
    Object.entries(incrementStarts(status, start)).map(([metric, at]) => [metric, new Date(at)]),
  );
  return { start: new Date(start), end: now, since };
}

/** Waiting at a gate before the canary has any traffic: there is nothing to analyse yet. */
function gatedBeforeTraffic(status: CanaryReleaseStatus): boolean {
  const r = status.routing;
  return (
    status.hooks?.waiting !== undefined &&
    (r?.canaryWeight ?? 0) === 0 &&
    r?.match === undefined &&
    (r?.mirrorPercent ?? 0) === 0
  );
}

/** Per metric judged over increments: where its next increment starts (never before this split). */
function incrementStarts(status: CanaryReleaseStatus, windowStart: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [metric, memory] of Object.entries(status.sequential ?? {})) {
    const until = ms(memory.until);
    if (until !== undefined && until > windowStart) out[metric] = until;
  }
  return out;
}

/**
 * The share of the pass evidence step `index` needs before the rollout moves on: it grows with the
 * steps, so the canary's exposure grows with the evidence, and the last step needs all of it.
 */
export function requiredEvidence(steps: readonly Step[], index: number): number {
  return steps.length ? Math.min(1, (Math.min(index, steps.length - 1) + 1) / steps.length) : 1;
}

function nextAnalysisAt(spec: CanaryReleaseSpec, status: CanaryReleaseStatus, windowStart: number): number {
  const interval = parseDuration(spec.analysis?.interval ?? '1m') ?? 60_000;
  // one interval after the data measured last ended, not after the reconcile that measured it: the
  // cadence does not drift by each reconcile's delay, and releases measured at one shared time stay
  // together, so the next round shares its queries again
  const last = status.lastAnalysis;
  return Math.max(windowStart + interval, (ms(last?.windowEnd ?? last?.time) ?? 0) + interval);
}

/**
 * The rollout state machine: a pure function of the spec, the last status, what the edges observed,
 * and the time. It returns the next status, the actions to carry out, and when to look again.
 */
export function decide(
  spec: CanaryReleaseSpec,
  status: CanaryReleaseStatus | undefined,
  obs: Observations,
  now: Date,
): Decision {
  const d = new Draft(spec, status, obs, now);
  if (obs.generation !== undefined) d.status.observedGeneration = obs.generation;
  if (obs.actualRouting) {
    d.status.actualCanaryWeight = unitsToPercent(obs.actualRouting.canaryWeight, obs.actualRouting.total);
  }

  if (obs.configIssues.length) {
    failConfiguration(d, obs.configIssues);
    return d.result();
  }
  const valid = () => {
    d.condition('ConfigValid', 'True', 'Valid', 'the configuration is valid');
  };
  if (d.status.phase === 'Failed') delete d.status.phase;
  noteHookCalls(d);

  const managed = obs.managed;
  if (managed) noteSecrets(d, managed);
  if (managed && initialize(d, managed)) {
    valid();
    return d.result();
  }
  const started = startOnChange(d);
  // a start refused for the sake of the traffic fails the configuration, without a flap of the condition
  if (started === 'refused') return d.result();
  valid();
  if (!handleRequest(d) && !started && d.status.phase !== 'Initializing') {
    switch (d.status.phase) {
      case 'Progressing':
      case 'Paused':
        progress(d);
        break;
      case 'Promoting':
        promote(d);
        break;
      case 'RolledBack':
        settle(d, stableRouting(d.total));
        break;
      case 'Succeeded':
      case undefined:
        break;
    }
  }
  if (managed) settleManaged(d, managed);
  wakeToInform(d, status?.phase);
  return d.result();
}

/**
 * A spec that does not parse: the release fails with the issues and traffic stays as it is. Kept
 * apart from `decide`, which needs a valid spec to plan anything.
 */
export function rejectSpec(
  status: CanaryReleaseStatus | undefined,
  issues: readonly ValidationIssue[],
  generation: number | undefined,
  now: Date,
): Decision {
  const d = new StatusDraft(status, now);
  if (generation !== undefined) d.status.observedGeneration = generation;
  // the steps of a spec that does not parse are unknown, as `kubectl canaria get` shows them
  delete d.status.currentStep;
  failConfiguration(d, issues);
  return d.result();
}

function failConfiguration(d: StatusDraft, issues: readonly ValidationIssue[]): void {
  const message = `invalid configuration, traffic left as it is: ${describeIssues(issues)}`;
  d.condition('ConfigValid', 'False', 'InvalidConfiguration', message);
  if (d.status.phase !== 'Failed' || d.status.message !== message) {
    d.status.phase = 'Failed';
    d.record('Fail', 'InvalidConfiguration', message);
  }
}

/**
 * A new canary revision, a changed spec, or a first sighting starts the rollout from step one, at
 * weight 0. Says whether it started one (or ended one), or refused to; the first step follows on
 * the next reconcile.
 */
function startOnChange(d: Draft): boolean | 'refused' {
  const { status, obs } = d;
  const hash = rolloutSpecHash(d.spec);
  if (!obs.canaryRevision) {
    if (status.phase === undefined || status.phase === 'Initializing') {
      status.phase = 'Initializing';
      status.message = 'waiting for the canary workload to exist';
      d.wake(IDLE_RECHECK_MS);
    }
    return false;
  }
  const active = status.phase === 'Progressing' || status.phase === 'Paused' || status.phase === 'Promoting';
  if (obs.managed && obs.canaryRevision === obs.stableRevision && status.phase !== 'Promoting') {
    // the user's Deployment runs what the primary runs: nothing to roll out
    if (active) {
      rollback(
        d,
        'TargetMatchesPrimary',
        `Deployment ${d.spec.targetRef?.name ?? ''} is back on revision ${obs.canaryRevision}, which the primary runs; rollout of ${status.canaryRevision ?? ''} ended`,
      );
      return true;
    }
    status.specHash = hash;
    return false;
  }
  const newRevision = obs.canaryRevision !== status.canaryRevision;
  const starting =
    status.phase === undefined || status.phase === 'Initializing' || newRevision || hash !== status.specHash;
  if (starting && !active && !newRevision && status.phase === 'Succeeded') {
    // the release is done: a new strategy is for the next revision, and moves no traffic now
    status.specHash = hash;
    d.record(
      'Ignore',
      'SpecChanged',
      `the rollout spec changed after revision ${status.canaryRevision ?? ''} was promoted; it applies to the next canary revision`,
    );
    return false;
  }
  const untrusted = starting ? untrustedStart(d) : undefined;
  if (untrusted) {
    failConfiguration(d, [untrusted]);
    return 'refused';
  }
  if (status.phase === undefined || status.phase === 'Initializing') {
    startRollout(d, 'Start', 'NewRevision', `rolling out canary revision ${obs.canaryRevision}`);
  } else if (newRevision) {
    const from = active ? `; restarting from step 1 (was on step ${d.stepIndex + 1})` : '';
    startRollout(
      d,
      active ? 'Restart' : 'Start',
      'NewRevision',
      `new canary revision ${obs.canaryRevision} (was ${status.canaryRevision ?? 'none'})${from}`,
    );
  } else if (hash !== status.specHash) {
    startRollout(
      d,
      active ? 'Restart' : 'Start',
      'SpecChanged',
      `the rollout spec changed; ${active ? 'restarting' : 'starting'} from step 1 with canary weight 0`,
    );
  } else {
    return false;
  }
  return true;
}

/**
 * A rollout starts with all traffic on the stable revision. That must not move traffic to a revision
 * nobody trusts: in subsets mode, after a promotion, the subset that serves is the canary subset, and
 * the stable subset may run an older version. The stable revision is trusted when it is the one last
 * promoted (or kept by a rollback), or when it already serves all traffic.
 */
function untrustedStart(d: Draft): ValidationIssue | undefined {
  const { status, obs } = d;
  const actual = obs.actualRouting;
  if (obs.managed || !actual || actual.stableWeight === actual.total) return undefined;
  const trusted = status.stableRevision;
  if (trusted !== undefined ? obs.stableRevision === trusted : actual.stableWeight > 0) return undefined;
  const sides = routingSides(d.spec);
  const { stable, canary } = sides;
  const serving = `${unitsToPercent(actual.canaryWeight, actual.total)}% of traffic is on ${canary.field} ${canary.name}`;
  return {
    path: `${sides.path}.${stable.field}`,
    message:
      trusted !== undefined
        ? `${stable.field} ${stable.name} does not run revision ${trusted}, which was last promoted, and ${serving}; a rollout would move that traffic to an unanalysed revision. Roll out from the version that serves: set ${stable.field} to its ${sides.side} and ${canary.field} to the new version's`
        : `${serving} and none on ${stable.field} ${stable.name}; if ${canary.name} is your stable version, set ${stable.field}: ${canary.name} and ${canary.field} to the new version's ${sides.side}`,
  };
}

function startRollout(d: Draft, action: DecisionAction, reason: string, message: string): void {
  const { status, obs } = d;
  status.phase = 'Progressing';
  status.currentStepIndex = 0;
  status.stepStartedAt = d.nowIso;
  status.rolloutStartedAt = d.nowIso;
  status.specHash = rolloutSpecHash(d.spec);
  status.consecutiveFailures = 0;
  if (obs.canaryRevision) status.canaryRevision = obs.canaryRevision;
  if (obs.stableRevision) status.stableRevision = obs.stableRevision;
  delete status.holdingSince;
  delete status.analysisHoldingSince;
  // a new rollout is a new experiment: the sequential tests start from nothing
  delete status.sequential;
  // gates passed and hooks told belong to the rollout before
  delete status.hooks;
  setPaused(d, undefined);
  // forget the previous split even if it looked the same: this revision has its own window
  delete status.routing;
  d.ensureRouting(stableRouting(d.total));
  d.record(action, reason, message);
  d.condition('Progressing', 'True', reason, message);
  d.wake(0);
}

/** Why the release is paused, kept as the Paused condition; undefined clears it. */
function pausedBy(d: Draft): string | undefined {
  const c = d.status.conditions?.find((x) => x.type === 'Paused');
  return c?.status === 'True' ? c.reason : undefined;
}

function setPaused(
  d: Draft,
  reason: 'UserPaused' | 'WaitingForPromote' | 'HoldDeadlineExceeded' | undefined,
  message = '',
): void {
  if (reason) d.condition('Paused', 'True', reason, message);
  else if (pausedBy(d)) d.condition('Paused', 'False', 'NotPaused', 'the release is not paused');
}

/** Handles a user request once per id. True when the request decided this reconcile. */
function handleRequest(d: Draft): boolean {
  const request = d.spec.request;
  if (!request || request.id === d.status.handledRequestId) return false;
  d.status.handledRequestId = request.id;
  const phase = d.status.phase;
  const active = phase === 'Progressing' || phase === 'Paused' || phase === 'Promoting';
  const ignore = (why: string) => {
    d.record(
      'Ignore',
      `${request.action}Ignored`,
      `${request.action} (request ${request.id}) ignored: ${why}`,
    );
    return false;
  };
  switch (request.action) {
    case 'Abort':
      if (!active && phase !== 'Initializing')
        return ignore(`the release is ${phase ?? 'new'}, not rolling out`);
      rollback(d, 'Aborted', `aborted by request ${request.id}; all traffic back on the stable revision`);
      return true;
    case 'Retry':
      if (phase !== 'RolledBack')
        return ignore(`only a rolled-back release can be retried; it is ${phase ?? 'new'}`);
      startRollout(
        d,
        'Start',
        'Retry',
        `retrying canary revision ${d.status.canaryRevision ?? ''} from step 1`,
      );
      return true;
    case 'Promote':
      if (phase !== 'Progressing' && phase !== 'Paused')
        return ignore(`nothing to promote while ${phase ?? 'new'}`);
      d.status.phase = 'Progressing';
      advance(d, 'Promote', 'UserPromoted', `step ${d.stepIndex + 1} skipped by request ${request.id}`);
      return true;
    case 'Approve': {
      if (phase !== 'Progressing' && phase !== 'Paused')
        return ignore(`no gate to approve while ${phase ?? 'new'}`);
      const waiting = d.status.hooks?.waiting;
      if (waiting) {
        const hooks = (d.status.hooks ??= {});
        hooks.passed = [...(hooks.passed ?? []), waiting.key];
        hooks.approved = [...(hooks.approved ?? []), waiting.key];
        delete hooks.waiting;
        d.status.phase = 'Progressing';
        d.record(
          'Resume',
          'UserApproved',
          `${waiting.type} gate at step ${d.stepIndex + 1} opened by request ${request.id}; going on`,
        );
        d.wake(0);
        return true;
      }
      if (pausedBy(d) === 'WaitingForPromote') {
        d.status.phase = 'Progressing';
        if (
          d.stepIndex >= d.steps.length - 1 &&
          (d.spec.webhooks ?? []).some((h) => h.type === 'confirm-promotion')
        ) {
          // the last step's pause: approved, but promotion still asks its gate, as it does after any step
          const hooks = (d.status.hooks ??= {});
          hooks.approved = [...(hooks.approved ?? []), pauseKey(d.stepIndex)];
          setPaused(d, undefined);
          d.record(
            'Resume',
            'UserApproved',
            `the pause at step ${d.stepIndex + 1} approved by request ${request.id}; next, the confirm-promotion gate`,
          );
          d.wake(0);
          return true;
        }
        advance(d, 'Advance', 'UserApproved', `step ${d.stepIndex + 1} approved by request ${request.id}`);
        return true;
      }
      return ignore(
        'the release waits at no gate (no confirm or pre-rollout hook, no pause without duration)',
      );
    }
    case 'PromoteFull':
      if (phase !== 'Progressing' && phase !== 'Paused')
        return ignore(`nothing to promote while ${phase ?? 'new'}`);
      d.status.phase = 'Promoting';
      d.status.currentStepIndex = d.steps.length;
      d.record(
        'Promote',
        'UserPromotedFull',
        `promoting to 100 % by request ${request.id}, skipping the remaining steps`,
      );
      promote(d);
      return true;
  }
}

function advance(d: Draft, action: DecisionAction, reason: string, message: string): void {
  const { status } = d;
  const evidence = status.lastAnalysis
    ? {
        verdict: status.lastAnalysis.verdict,
        metrics: status.lastAnalysis.metrics,
        ...(status.lastAnalysis.hooks ? { hooks: status.lastAnalysis.hooks } : {}),
      }
    : undefined;
  status.currentStepIndex = d.stepIndex + 1;
  status.stepStartedAt = d.nowIso;
  delete status.holdingSince;
  setPaused(d, undefined);
  if (d.stepIndex >= d.steps.length) {
    status.phase = 'Promoting';
    d.record(
      action === 'Advance' ? 'Promote' : action,
      reason,
      `${message}; all steps done, promoting`,
      evidence,
    );
  } else {
    d.record(
      action,
      reason,
      `${message}; now step ${d.stepIndex + 1}/${d.steps.length}: ${describeStep(d.steps[d.stepIndex])}`,
      evidence,
    );
  }
  d.wake(0);
}

export function describeStep(step: Step | undefined): string {
  if (!step) return 'promote';
  switch (stepKind(step)) {
    case 'setWeight':
      return `setWeight ${step.setWeight ?? 0}%`;
    case 'pause':
      return step.pause?.duration ? `pause ${step.pause.duration}` : 'pause until resumed';
    case 'analysis':
      return `analysis${step.analysis?.duration ? ` over ${step.analysis.duration}` : ''}`;
    case 'match':
      return `A/B match stage (${step.match?.canaryWeight ?? 100}% of matched requests)`;
    case 'mirror':
      return `mirror ${step.mirror?.percent ?? 0}%`;
  }
}

function rollback(
  d: Draft,
  reason: string,
  message: string,
  evidence?: AnalysisRecord,
  hooks?: HookCall[],
): void {
  d.status.phase = 'RolledBack';
  delete d.status.holdingSince;
  if (d.status.hooks) delete d.status.hooks.waiting;
  d.ensureRouting(stableRouting(d.total));
  const calls = hooks ?? evidence?.hooks;
  d.record('Rollback', reason, message, {
    ...(evidence ? { verdict: evidence.verdict, metrics: evidence.metrics } : {}),
    ...(calls ? { hooks: calls } : {}),
  });
  d.condition('Progressing', 'False', reason, message);
}

/** After a rollback, make sure the stable routing took effect once; then leave the routing alone. */
function settle(d: Draft, routing: RoutingState): void {
  if (d.status.windowStartedAt === undefined) d.ensureRouting(routing);
}

function promote(d: Draft): void {
  if (d.obs.managed) {
    promoteManaged(d, d.obs.managed);
    return;
  }
  if (!d.ensureRouting(fullCanaryRouting(d.total))) return;
  d.status.phase = 'Succeeded';
  if (d.status.canaryRevision) d.status.stableRevision = d.status.canaryRevision;
  const took = d.now.getTime() - (ms(d.status.rolloutStartedAt) ?? d.now.getTime());
  const message = `canary revision ${d.status.canaryRevision ?? ''} promoted: 100 % of traffic after ${formatDuration(took)}`;
  d.record('Succeed', 'Promoted', message);
  d.condition('Progressing', 'True', 'Succeeded', message);
}

/** What the analysis that was due means for the step: go on, or stop here (rolled back, paused). */
type AnalysisResult = 'continue' | 'rolledBack' | 'paused';

/** Runs the analysis that is due. */
function analyse(d: Draft): AnalysisResult {
  const { spec, status, obs } = d;
  if (!spec.analysis || !analysisConfigured(spec)) return 'continue';
  const windowStart = ms(status.windowStartedAt);
  if (windowStart === undefined || gatedBeforeTraffic(status)) return 'continue';
  const dueAt = nextAnalysisAt(spec, status, windowStart);
  if (d.now.getTime() < dueAt || !obs.analysis) {
    d.wakeAtTime(dueAt);
    return pausedBy(d) === 'HoldDeadlineExceeded' ? 'paused' : 'continue';
  }
  const { metrics, measurements } = obs.analysis;
  // increments are contiguous: the next one starts where this one's data ended
  const measuredUntil = obs.analysis.end?.toISOString() ?? d.nowIso;
  const measuredEnd = obs.analysis.end ?? d.now;
  const required = requiredEvidence(d.steps, d.stepIndex);
  const since = incrementStarts(status, windowStart);
  const memory = { ...(status.sequential ?? {}) };
  const verdicts = metrics.map((m) => {
    const start = m.window === 'increment' ? (since[m.name] ?? windowStart) : windowStart;
    const verdict = judgeMetric(m, measurements.get(m.name) ?? NOT_MEASURED, {
      memory: memory[m.name],
      required,
      windowMs: measuredEnd.getTime() - start,
    });
    if (verdict.memory) memory[m.name] = { ...verdict.memory, until: measuredUntil };
    return verdict;
  });
  if (Object.keys(memory).length) status.sequential = memory;
  const rolloutCalls = (status.hooks?.calls ?? []).filter(
    (c) => c.type === 'rollout' && obs.hooks?.some((o) => o.name === c.name),
  );
  const outcome = withRolloutHooks(aggregate(verdicts, spec.analysis), rolloutCalls);
  const record: AnalysisRecord = {
    time: d.nowIso,
    windowStart: new Date(windowStart).toISOString(),
    windowEnd: measuredUntil,
    verdict: outcome.verdict,
    summary: outcome.summary,
    metrics: verdicts.map((v) => v.evidence),
    ...(rolloutCalls.length ? { hooks: rolloutCalls } : {}),
  };
  status.lastAnalysis = record;
  d.wakeAtTime(nextAnalysisAt(spec, status, windowStart));
  const window = formatDuration(d.now.getTime() - windowStart);
  const evidence = {
    verdict: outcome.verdict,
    metrics: record.metrics,
    ...(rolloutCalls.length ? { hooks: rolloutCalls } : {}),
  };

  // a hold without new evidence (no answer, no requests) has a deadline; any evidence ends it
  const evidenceless =
    outcome.effect === 'hold' &&
    (outcome.verdict === 'Error' ||
      verdicts.every((v, i) => v.verdict !== 'Inconclusive' || v.noNewData || metrics[i]?.window === 'step'));
  if (!evidenceless) {
    delete status.analysisHoldingSince;
    if (pausedBy(d) === 'HoldDeadlineExceeded') {
      status.phase = 'Progressing';
      setPaused(d, undefined);
      d.record(
        'Resume',
        'EvidenceResumed',
        `evidence arrives again at ${status.canaryWeight ?? 0}%; going on`,
      );
    }
  }

  if (outcome.effect === 'pass') {
    status.consecutiveFailures = 0;
    return 'continue';
  }
  if (outcome.effect === 'hold') {
    if (evidenceless) {
      const paused = holdWithoutEvidence(d, outcome.verdict, outcome.summary, evidence);
      if (paused !== 'continue') return paused;
    }
    const collecting = outcome.verdict === 'Inconclusive' && !evidenceless;
    const why =
      outcome.verdict === 'Error'
        ? 'the metrics backend could not answer'
        : collecting
          ? 'collecting evidence'
          : 'no verdict yet';
    const message = `holding at ${status.canaryWeight ?? 0}%: ${why} over ${window} (${outcome.summary})`;
    const reason =
      outcome.verdict === 'Error' ? 'MetricsUnavailable' : collecting ? 'CollectingEvidence' : 'Inconclusive';
    d.record('Hold', reason, message, evidence);
    return 'continue';
  }
  const failures = (status.consecutiveFailures ?? 0) + 1;
  status.consecutiveFailures = failures;
  const limit = spec.analysis.failureLimit;
  if (verdicts.some((v) => v.final)) {
    // an anytime-valid test rejected: more analyses cannot take that back, so do not wait for them
    rollback(
      d,
      'AnalysisFailed',
      `rolled back at ${status.canaryWeight ?? 0}% over ${window}: ${outcome.summary}`,
      record,
    );
    return 'rolledBack';
  }
  if (failures >= limit) {
    rollback(
      d,
      'AnalysisFailed',
      `rolled back at ${status.canaryWeight ?? 0}% after ${failures} failed analyses in a row (limit ${limit}) over ${window}: ${outcome.summary}`,
      record,
    );
    return 'rolledBack';
  }
  d.record(
    'Hold',
    'AnalysisFailed',
    `analysis failed (${failures} of ${limit} allowed in a row) over ${window}: ${outcome.summary}`,
    evidence,
  );
  return 'continue';
}

/** A rollout hook that failed fails the analysis it ran with, whatever the metrics said. */
function withRolloutHooks<T extends { verdict: VerdictKind; effect: string; summary: string }>(
  outcome: T,
  calls: readonly HookCall[],
): T {
  const failed = calls.filter((c) => !c.ok);
  if (!failed.length) return outcome;
  const hooks = failed.map((c) => `rollout hook ${c.name} failed: ${describeCall(c)}`).join('; ');
  return { ...outcome, verdict: 'Fail', effect: 'fail', summary: `${hooks}; metrics: ${outcome.summary}` };
}

/**
 * Counts a hold without evidence against `analysis.holdDeadline`; past it the release pauses (and
 * says so, once) or rolls back, as `onHoldDeadline` says.
 */
function holdWithoutEvidence(
  d: Draft,
  verdict: VerdictKind,
  summary: string,
  evidence: { verdict: VerdictKind; metrics: MetricEvidence[] },
): AnalysisResult {
  const { status, spec } = d;
  const analysis = spec.analysis;
  if (!analysis) return 'continue';
  status.analysisHoldingSince ??= d.nowIso;
  const since = ms(status.analysisHoldingSince) ?? d.now.getTime();
  const deadline = parseDuration(analysis.holdDeadline) ?? 1_800_000;
  const held = d.now.getTime() - since;
  if (held < deadline) {
    d.wakeAtTime(since + deadline);
    return 'continue';
  }
  const what = verdict === 'Error' ? 'the metrics backend has not answered' : 'no new evidence has arrived';
  const message = `${what} for ${formatDuration(held)} (holdDeadline ${analysis.holdDeadline}) at ${status.canaryWeight ?? 0}%: ${summary}`;
  if (analysis.onHoldDeadline === 'Rollback') {
    rollback(d, 'HoldDeadlineExceeded', `rolled back: ${message}`);
    return 'rolledBack';
  }
  status.phase = 'Paused';
  if (pausedBy(d) !== 'HoldDeadlineExceeded') {
    const text = `paused: ${message}; it goes on by itself once evidence arrives, or abort it`;
    setPaused(d, 'HoldDeadlineExceeded', text);
    d.record('Pause', 'HoldDeadlineExceeded', text, evidence, { warning: true });
  }
  return 'paused';
}

/** Holds that count against the progress deadline; past it the release rolls back. */
function holdForProgress(d: Draft, reason: string, message: string): void {
  const { status, spec } = d;
  // a patch or a pod start usually lands within a reconcile or two: explain only holds that last
  const lasting = status.holdingSince !== undefined;
  status.holdingSince ??= d.nowIso;
  const deadline = parseDuration(spec.progressDeadline) ?? 600_000;
  const since = ms(status.holdingSince) ?? d.now.getTime();
  if (d.now.getTime() - since >= deadline) {
    rollback(
      d,
      'ProgressDeadlineExceeded',
      `no progress for ${formatDuration(d.now.getTime() - since)} (deadline ${spec.progressDeadline}): ${message}`,
    );
    return;
  }
  d.wakeAtTime(since + deadline);
  d.wake(IDLE_RECHECK_MS);
  if (lasting && d.lastDecision()?.reason !== reason) d.record('Hold', reason, message);
  else status.message = message;
}

function progress(d: Draft): void {
  const { spec, status, obs } = d;
  if (analyse(d) !== 'continue') return;

  if (spec.paused) {
    status.phase = 'Paused';
    if (pausedBy(d) !== 'UserPaused') {
      const message = `paused by the user at ${status.canaryWeight ?? 0}% (step ${d.stepIndex + 1})`;
      setPaused(d, 'UserPaused', message);
      d.record('Pause', 'UserPaused', message);
    }
    return;
  }
  if (pausedBy(d) === 'UserPaused') {
    status.phase = 'Progressing';
    setPaused(d, undefined);
    d.record('Resume', 'UserResumed', `resumed by the user at step ${d.stepIndex + 1}`);
  }

  if (obs.managed) scaleCanaryUp(d, obs.managed);
  if (!obs.canaryReady) {
    holdForProgress(
      d,
      'CanaryNotReady',
      `holding at ${status.canaryWeight ?? 0}%: the canary's pods are not ready`,
    );
    return;
  }

  const step = d.steps[d.stepIndex];
  const target = routingForStep(d.steps, d.stepIndex, d.total);
  const rollbackFor = (reason: string, message: string, calls: HookCall[]) => {
    rollback(d, reason, message, undefined, calls);
  };
  for (const [type, key] of exposureGates(d, target)) {
    if (!passGate(d, type, key, rollbackFor)) return;
  }
  if (!d.ensureRouting(target)) {
    holdForProgress(
      d,
      'RoutingNotApplied',
      `waiting for ${routingSides(d.spec).shownBy} to show ${status.canaryWeight ?? 0}%`,
    );
    return;
  }
  delete status.holdingSince;
  if (!step) {
    status.phase = 'Promoting';
    promote(d);
    return;
  }

  const waiting = stepWaits(d, step);
  if (waiting === 'resume') {
    status.phase = 'Paused';
    if (pausedBy(d) !== 'WaitingForPromote') {
      const message = `step ${d.stepIndex + 1} (${describeStep(step)}) waits for promote`;
      setPaused(d, 'WaitingForPromote', message);
      d.record('Pause', 'WaitingForPromote', message);
    }
    return;
  }
  status.phase = 'Progressing';
  if (waiting !== 'done') {
    d.wakeAtTime(waiting);
    return;
  }

  if (!releaseWindowOpen(spec.releaseWindows, d.now)) {
    const message = `holding at ${status.canaryWeight ?? 0}%: outside every release window`;
    if (d.lastDecision()?.reason !== 'WindowClosed') d.record('Hold', 'WindowClosed', message);
    d.wake(60_000);
    return;
  }
  const last = status.lastAnalysis;
  if (last && spec.analysis && effectOf(last.verdict, spec.analysis) !== 'pass') {
    // the analysis already recorded why; the next one decides
    return;
  }
  if (
    d.stepIndex >= d.steps.length - 1 &&
    !passGate(d, 'confirm-promotion', 'confirm-promotion', rollbackFor)
  ) {
    return;
  }
  const reason = last ? 'AnalysisPassed' : 'StepComplete';
  const numbers = last ? ` (${last.summary})` : '';
  advance(d, 'Advance', reason, `step ${d.stepIndex + 1} (${describeStep(step)}) done${numbers}`);
}

/** How `hooks.approved` notes a pause a user approved that still waits for a gate. */
const pauseKey = (stepIndex: number) => `pause@${stepIndex}`;

/** When the current step is done: 'done', a time to look again, or 'resume' for a user to continue. */
function stepWaits(d: Draft, step: Step): 'done' | 'resume' | number {
  const { status, spec } = d;
  const stepStart = ms(status.stepStartedAt) ?? d.now.getTime();
  const windowStart = ms(status.windowStartedAt) ?? d.now.getTime();
  const until = (start: number, duration: string | undefined): 'done' | 'resume' | number => {
    if (duration === undefined) return 'resume';
    const end = start + (parseDuration(duration) ?? 0);
    return d.now.getTime() >= end ? 'done' : end;
  };
  switch (stepKind(step)) {
    case 'setWeight':
      return 'done';
    case 'pause':
      if (status.hooks?.approved?.includes(pauseKey(d.stepIndex))) return 'done';
      return until(stepStart, step.pause?.duration);
    case 'match':
      return until(windowStart, step.match?.duration);
    case 'mirror':
      return until(windowStart, step.mirror?.duration);
    case 'analysis': {
      const needed = parseDuration(step.analysis?.duration ?? spec.analysis?.interval ?? '1m') ?? 60_000;
      const last = status.lastAnalysis;
      const covered = last ? Date.parse(last.time) - Date.parse(last.windowStart) : 0;
      if (last && spec.analysis && effectOf(last.verdict, spec.analysis) === 'pass' && covered >= needed) {
        return 'done';
      }
      // not done before the window is long enough, and then not before the next analysis can pass it
      return Math.max(windowStart + needed, nextAnalysisAt(spec, status, windowStart));
    }
  }
}
