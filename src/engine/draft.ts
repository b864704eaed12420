import type {
  CanaryReleaseSpec,
  CanaryReleaseStatus,
  Condition,
  DecisionAction,
  DecisionRecord,
  MetricEvidence,
  RoutingState,
  Step,
} from '../api/canary-release.js';
import type { HookCall } from '../api/webhooks.js';
import { routingSides } from '../api/routing.js';
import { expandSteps, sameRouting, stepLabel, unitsToPercent } from './steps.js';
import type { Action, Decision, Observations } from './types.js';

/** Decisions kept in status: enough to explain the last few minutes of a rollout. */
export const DECISION_HISTORY = 20;
/** How soon to look again while waiting for the routing to show what was patched. */
export const ROUTING_RECHECK_MS = 5_000;
/** How soon to look again while waiting for a workload to appear or a window to open. */
export const IDLE_RECHECK_MS = 30_000;

/**
 * Holds that are one streak though their reason alternates: at low traffic an analysis with no new
 * canary request (Inconclusive) falls between ones that collect evidence.
 */
const WAITING_FOR_EVIDENCE = new Set(['Inconclusive', 'CollectingEvidence']);
const sameHold = (a: string, b: string) =>
  a === b || (WAITING_FOR_EVIDENCE.has(a) && WAITING_FOR_EVIDENCE.has(b));

/** A status being rewritten, the actions it implies, and when to look again. */
export class StatusDraft {
  readonly status: CanaryReleaseStatus;
  readonly actions: Action[] = [];
  private readonly wakeAt: number[] = [];
  readonly nowIso: string;

  constructor(
    current: CanaryReleaseStatus | undefined,
    readonly now: Date,
  ) {
    this.status = structuredClone(current ?? {});
    this.nowIso = now.toISOString();
  }

  get stepIndex(): number {
    return this.status.currentStepIndex ?? 0;
  }

  wake(afterMs: number): void {
    this.wakeAt.push(this.now.getTime() + Math.max(0, afterMs));
  }

  wakeAtTime(time: number): void {
    this.wakeAt.push(Math.max(time, this.now.getTime()));
  }

  /**
   * Records a decision, and an Event for it. A hold for the same reason as the decision before it
   * (at the same step and weight; waiting for evidence counts as one reason) does not add a record:
   * it updates that one, counts it and keeps when the streak began, so a long hold is one entry and
   * one Event rather than one per analysis.
   */
  record(
    action: DecisionAction,
    reason: string,
    message: string,
    evidence?: { verdict?: DecisionRecord['verdict']; metrics?: MetricEvidence[]; hooks?: HookCall[] },
    options: { warning?: boolean } = {},
  ): void {
    const record: DecisionRecord = {
      time: this.nowIso,
      action,
      reason,
      message,
      step: this.stepIndex,
      canaryWeight: this.status.canaryWeight ?? 0,
      ...(evidence?.verdict ? { verdict: evidence.verdict } : {}),
      ...(evidence?.metrics?.length ? { metrics: evidence.metrics } : {}),
      ...(evidence?.hooks?.length ? { hooks: evidence.hooks } : {}),
    };
    const decisions = this.status.decisions ?? [];
    const last = decisions.at(-1);
    this.status.message = message;
    if (
      action === 'Hold' &&
      last?.action === 'Hold' &&
      sameHold(last.reason, reason) &&
      last.step === record.step &&
      last.canaryWeight === record.canaryWeight
    ) {
      record.count = (last.count ?? 1) + 1;
      record.firstTime = last.firstTime ?? last.time;
      this.status.decisions = [...decisions.slice(0, -1), record];
      return;
    }
    this.status.decisions = [...decisions, record].slice(-DECISION_HISTORY);
    const warning = options.warning === true || action === 'Rollback' || action === 'Fail';
    this.actions.push({ type: 'event', severity: warning ? 'Warning' : 'Normal', reason, message });
  }

  lastDecision(): DecisionRecord | undefined {
    return this.status.decisions?.at(-1);
  }

  condition(type: string, status: Condition['status'], reason: string, message: string): void {
    const conditions = this.status.conditions ?? [];
    const existing = conditions.find((c) => c.type === type);
    const lastTransitionTime =
      existing && existing.status === status ? existing.lastTransitionTime : this.nowIso;
    this.status.conditions = [
      ...conditions.filter((c) => c.type !== type),
      { type, status, reason, message, lastTransitionTime },
    ];
  }

  result(): Decision {
    const next = this.wakeAt.length ? Math.min(...this.wakeAt) - this.now.getTime() : null;
    return { status: this.status, actions: this.actions, requeueAfterMs: next };
  }
}

/** The state of one reconcile of a valid spec while it is being decided. */
export class Draft extends StatusDraft {
  readonly steps: Step[];
  readonly total: number;

  constructor(
    readonly spec: CanaryReleaseSpec,
    current: CanaryReleaseStatus | undefined,
    readonly obs: Observations,
    now: Date,
  ) {
    super(current, now);
    this.steps = expandSteps(spec.strategy);
    this.total = routingSides(spec).weightTotal;
  }

  /** Asks for `routing`; true once the routing shows it. */
  ensureRouting(routing: RoutingState): boolean {
    if (!sameRouting(this.status.routing, routing)) {
      this.status.routing = routing;
      this.status.canaryWeight = unitsToPercent(routing.canaryWeight, routing.total);
      // a new traffic split is a new experiment: its window starts when the split takes effect
      delete this.status.windowStartedAt;
      delete this.status.lastAnalysis;
    }
    const actual = this.obs.actualRouting;
    const applied =
      actual !== undefined &&
      actual.canaryWeight === routing.canaryWeight &&
      actual.stableWeight === routing.stableWeight &&
      actual.match === (routing.match !== undefined) &&
      (actual.mirrorPercent ?? 0) === (routing.mirrorPercent ?? 0);
    if (!applied) {
      this.actions.push({ type: 'setRouting', routing });
      this.wake(ROUTING_RECHECK_MS);
      return false;
    }
    this.status.windowStartedAt ??= this.nowIso;
    return true;
  }

  /** The 1-based step is derived here, once, so that it can never disagree with the index. */
  override result(): Decision {
    if (this.status.phase === undefined) delete this.status.currentStep;
    else this.status.currentStep = stepLabel(this.stepIndex, this.steps.length);
    return super.result();
  }
}

export const ms = (iso: string | undefined): number | undefined =>
  iso === undefined ? undefined : Date.parse(iso);
