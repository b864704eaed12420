import type { CanaryReleaseSpec, CanaryReleaseStatus } from '../../src/api/canary-release.js';
import { emptyCatalog, resolveMetrics } from '../../src/analysis/resolve.js';
import type { Measurement } from '../../src/analysis/types.js';
import { analysisWindow, decide } from '../../src/engine/decide.js';
import { hooksDue, type DueHook } from '../../src/engine/hooks.js';
import type { HookCall } from '../../src/api/webhooks.js';
import type { Decision, ObservedRouting, Observations } from '../../src/engine/types.js';
import { observations, routingOf } from './release.js';

export type Measure = (
  window: { start: Date; end: Date },
  status: CanaryReleaseStatus,
) => Map<string, Measurement>;

/**
 * A minimal closed loop around `decide` for unit tests: routing actions take effect at once, time
 * jumps to the requested requeue, and measurements come from a function of the window.
 */
export class World {
  /** Answers the hooks `hooksDue` names, as a receiver would: an HTTP status code, or null for no answer. */
  answer?: (due: DueHook, status: CanaryReleaseStatus) => number | null;
  /** Every hook call made, in order. */
  readonly calls: HookCall[] = [];
  now: Date;
  status: CanaryReleaseStatus | undefined;
  actual: ObservedRouting;
  obs: Omit<Observations, 'actualRouting' | 'analysis'>;
  readonly history: Decision[] = [];

  constructor(
    public spec: CanaryReleaseSpec,
    private readonly measure?: Measure,
    start = new Date('2026-11-21T10:00:00Z'),
  ) {
    this.now = start;
    const { actualRouting, ...rest } = observations();
    this.actual = actualRouting ?? routingOf(100, 0);
    this.obs = rest;
  }

  observe(): Observations {
    const obs: Observations = { ...this.obs, actualRouting: this.actual };
    const window = analysisWindow(this.spec, this.status, this.now);
    if (window && this.measure && this.status) {
      const { metrics } = resolveMetrics(this.spec.analysis, emptyCatalog());
      obs.analysis = { metrics, measurements: this.measure(window, this.status) };
    }
    const answer = this.answer;
    const status = this.status;
    if (answer && status) {
      const calls = hooksDue(this.spec, status, this.now).map((due): HookCall => {
        const code = answer(due, status);
        const ok = code !== null && code >= 200 && code < 300;
        return {
          name: due.hook.name,
          type: due.hook.type,
          url: due.hook.url,
          gate: due.gate,
          ok,
          ...(code !== null ? { statusCode: code } : { error: 'timed out after 10s' }),
          ...(ok || code === null ? {} : { body: 'denied' }),
          durationMs: 12,
          time: this.now.toISOString(),
        };
      });
      this.calls.push(...calls);
      if (calls.length) obs.hooks = calls;
    }
    return obs;
  }

  /** One reconcile: decide, apply the routing, keep the status. */
  step(): Decision {
    const decision = decide(this.spec, this.status, this.observe(), this.now);
    for (const action of decision.actions) {
      if (action.type === 'setRouting') {
        const { stableWeight, canaryWeight, total, match, mirrorPercent } = action.routing;
        this.actual = {
          stableWeight,
          canaryWeight,
          total,
          match: match !== undefined,
          ...(mirrorPercent !== undefined ? { mirrorPercent } : {}),
        };
      }
    }
    this.status = decision.status;
    this.history.push(decision);
    return decision;
  }

  /** Reconciles `ticks` times, following requeues, whatever the release does meanwhile. */
  runFor(ticks: number): CanaryReleaseStatus | undefined {
    for (let i = 0; i < ticks; i++) {
      const decision = this.step();
      this.now = new Date(this.now.getTime() + Math.max(decision.requeueAfterMs ?? 60_000, 1_000));
    }
    return this.status;
  }

  /** Reconciles and follows requeues until `done` or `maxTicks`; time never stands still for long. */
  run(done: (status: CanaryReleaseStatus) => boolean = terminal, maxTicks = 500): CanaryReleaseStatus {
    for (let i = 0; i < maxTicks; i++) {
      const decision = this.step();
      if (done(decision.status)) return decision.status;
      const wait = decision.requeueAfterMs ?? 60_000;
      this.now = new Date(this.now.getTime() + Math.max(wait, 1_000));
    }
    throw new Error(`not done after ${maxTicks} reconciles; phase ${this.status?.phase ?? 'none'}`);
  }
}

export const terminal = (s: CanaryReleaseStatus): boolean =>
  s.phase === 'Succeeded' || s.phase === 'RolledBack' || s.phase === 'Failed';
