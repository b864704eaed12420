import type { CanaryReleaseSpec, CanaryReleaseStatus } from '../api/canary-release.js';
import { displayUrl, type HookCall, type HookType } from '../api/webhooks.js';
import type { ReleaseObservation } from '../controller/observe.js';
import { hooksDue } from '../engine/index.js';
import type { Ref } from '../kube/resources.js';
import { notificationsFor } from '../notify/message.js';
import { RELEASE_SINK_DEFAULTS } from '../notify/registry.js';
import { severityRank, type Severity } from '../notify/types.js';
import { hookAnswerAt, type Scenario } from './scenario.js';

/** How long a simulated hook takes to answer: the virtual clock does not move while it does. */
const SIMULATED_CALL_MS = 5;

/** One call the simulated controller made to a webhook. */
export interface SimulatedHookCall {
  atMs: number;
  name: string;
  type: HookType;
  /** What the call was for: the gate it opens (confirm-promotion, pre-rollout, ...) or rollout. */
  gate: string;
  statusCode: number;
  ok: boolean;
}

/**
 * The webhooks of a simulated release: the hooks the engine says are due (`hooksDue`, as the real
 * controller's HookRunner asks), answered as the scenario says, handed to the engine as observations
 * the same way. Nothing goes on the network.
 */
export class SimulatedHooks {
  readonly calls: SimulatedHookCall[] = [];

  constructor(
    private readonly scenario: Scenario,
    private readonly start: number,
  ) {}

  run(
    _ref: Ref,
    spec: CanaryReleaseSpec,
    status: CanaryReleaseStatus | undefined,
    seen: ReleaseObservation,
    now: Date,
  ): Promise<void> {
    const due = hooksDue(spec, status, now);
    if (!due.length) return Promise.resolve();
    const atMs = now.getTime() - this.start;
    seen.observations.hooks = due.map(({ hook, gate }): HookCall => {
      const statusCode = hookAnswerAt(this.scenario.hooks[hook.name], atMs);
      const ok = statusCode >= 200 && statusCode < 300;
      this.calls.push({ atMs, name: hook.name, type: hook.type, gate, statusCode, ok });
      return {
        name: hook.name,
        type: hook.type,
        url: displayUrl(hook.url),
        gate,
        ok,
        statusCode,
        durationMs: SIMULATED_CALL_MS,
        attempts: ok ? 1 : 1 + hook.retries,
        ...(ok ? {} : { body: `simulated HTTP ${statusCode}` }),
        time: now.toISOString(),
      };
    });
    return Promise.resolve();
  }
}

/** A sink the simulation tells: the release's own (spec.notifications) or an operator's. */
export interface SimulatedSink {
  name: string;
  severity: Severity;
  /** Repeats of the same reason and message within this many seconds are sent once. */
  dedupSeconds?: number;
}

/** A notification the simulated controller would send, and what each sink does with it. */
export interface SimulatedNotification {
  atMs: number;
  severity: Severity;
  kind: string;
  reason: string;
  title: string;
  /** The sinks that would receive it. */
  sentTo: string[];
  /** The sinks that would not, and why: below their severity, or a repeat within their dedup window. */
  skipped: { sink: string; why: 'filtered' | 'deduplicated' }[];
}

/**
 * The controller's notifications without a network: after each reconcile the decisions it added
 * become notifications (the same pure `notificationsFor` the controller uses), offered to every sink
 * with its severity filter and deduplication applied as the delivery does. Rate limits and retries
 * are left out: they delay a message, they do not change which are sent.
 */
export class SimulatedNotifications {
  readonly sent: SimulatedNotification[] = [];
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly operatorSinks: readonly SimulatedSink[],
    private readonly start: number,
  ) {}

  /** Whether there is anyone to tell: without sinks the simulation records no notifications. */
  static sinksOf(spec: CanaryReleaseSpec, operator: readonly SimulatedSink[]): SimulatedSink[] {
    return [
      ...operator,
      ...(spec.notifications?.sinks ?? []).map((s) => ({
        name: s.name,
        severity: s.severity,
        dedupSeconds: RELEASE_SINK_DEFAULTS.dedupSeconds,
      })),
    ];
  }

  decided(
    release: { name: string; namespace: string },
    spec: CanaryReleaseSpec | undefined,
    previous: CanaryReleaseStatus | undefined,
    next: CanaryReleaseStatus,
  ): number {
    if (!spec) return 0;
    const sinks = SimulatedNotifications.sinksOf(spec, this.operatorSinks);
    if (!sinks.length) return 0;
    const notifications = notificationsFor(release, previous, next);
    for (const n of notifications) {
      const now = Date.parse(n.time);
      const entry: SimulatedNotification = {
        atMs: now - this.start,
        severity: n.severity,
        kind: n.kind,
        reason: n.reason,
        title: n.title,
        sentTo: [],
        skipped: [],
      };
      for (const sink of sinks) {
        if (severityRank(n.severity) < severityRank(sink.severity)) {
          entry.skipped.push({ sink: sink.name, why: 'filtered' });
          continue;
        }
        const key = `${sink.name}\n${n.reason}\n${n.message}`;
        const last = this.seen.get(key);
        const window = (sink.dedupSeconds ?? RELEASE_SINK_DEFAULTS.dedupSeconds) * 1000;
        if (last !== undefined && now - last < window) {
          entry.skipped.push({ sink: sink.name, why: 'deduplicated' });
          continue;
        }
        this.seen.set(key, now);
        entry.sentTo.push(sink.name);
      }
      this.sent.push(entry);
    }
    return notifications.length * sinks.length;
  }
}
