import type { CanaryReleaseSpec, CanaryReleaseStatus, RoutingState } from '../api/canary-release.js';
import { formatDuration, parseDuration } from '../api/duration.js';
import {
  displayUrl,
  type GateType,
  type HookCall,
  type HooksStatus,
  type HookType,
  type Webhook,
} from '../api/webhooks.js';
import { analysisWindow } from './decide.js';
import type { Draft } from './draft.js';

/** A hook the controller should call now, and the gate (or purpose) its answer is for. */
export interface DueHook {
  hook: Webhook;
  gate: string;
}

/** How often a closed gate is asked again: the analysis interval, within [1s, 60s]; 10s without one. */
export function gateRecheckMs(spec: CanaryReleaseSpec): number {
  const interval = spec.analysis ? parseDuration(spec.analysis.interval) : undefined;
  return Math.min(60_000, Math.max(1_000, interval ?? 10_000));
}

const hooksOf = (spec: CanaryReleaseSpec, type: HookType): Webhook[] =>
  (spec.webhooks ?? []).filter((h) => h.type === type);

const lastCall = (hooks: HooksStatus | undefined, name: string, gate: string): HookCall | undefined =>
  hooks?.calls?.find((c) => c.name === name && c.gate === gate);

/**
 * The hooks to call now, decided from the status alone so that the controller calls only those:
 * the hooks of the gate the release waits at (again once `gateRecheckMs` passed since a failure),
 * the rollout hooks when an analysis is due, and the informational hooks once, at the end.
 */
export function hooksDue(
  spec: CanaryReleaseSpec,
  status: CanaryReleaseStatus | undefined,
  now: Date,
): DueHook[] {
  if (!spec.webhooks?.length || !status) return [];
  const hooks = status.hooks;
  const due: DueHook[] = [];
  switch (status.phase) {
    case 'Progressing':
    case 'Paused': {
      const waiting = hooks?.waiting;
      if (waiting) {
        for (const hook of hooksOf(spec, waiting.type)) {
          const call = lastCall(hooks, hook.name, waiting.key);
          if (!call || (!call.ok && now.getTime() >= Date.parse(call.time) + gateRecheckMs(spec))) {
            due.push({ hook, gate: waiting.key });
          }
        }
      }
      // rollout hooks drive and check the canary's traffic: none before it has any
      const exposed = (status.routing?.canaryWeight ?? 0) > 0 || status.routing?.match !== undefined;
      if (exposed && analysisWindow(spec, status, now)) {
        for (const hook of hooksOf(spec, 'rollout')) due.push({ hook, gate: 'rollout' });
      }
      break;
    }
    case 'Succeeded':
    case 'RolledBack': {
      const type = status.phase === 'Succeeded' ? 'post-rollout' : 'rollback';
      if (!hooks?.informed?.includes(type)) {
        for (const hook of hooksOf(spec, type)) due.push({ hook, gate: type });
      }
      break;
    }
    case 'Initializing':
    case 'Promoting':
    case 'Failed':
    case undefined:
      break;
  }
  return due;
}

/** Keeps the latest call of each hook from what the controller observed; marks informational types told. */
export function noteHookCalls(d: Draft): void {
  // hooks are not part of the rollout's fingerprint: a gate whose hooks were removed no longer holds
  const waiting = d.status.hooks?.waiting;
  if (waiting && d.status.hooks && !hooksOf(d.spec, waiting.type).length) delete d.status.hooks.waiting;
  // a token in a query string must not reach the status, whoever built the observation
  const calls = d.obs.hooks?.map((c) => ({ ...c, url: displayUrl(c.url) }));
  if (!calls?.length) return;
  const hooks = (d.status.hooks ??= {});
  const names = new Set(calls.map((c) => c.name));
  hooks.calls = [...(hooks.calls ?? []).filter((c) => !names.has(c.name)), ...calls];
  for (const call of calls) {
    if ((call.type === 'post-rollout' || call.type === 'rollback') && !hooks.informed?.includes(call.type)) {
      hooks.informed = [...(hooks.informed ?? []), call.type];
    }
  }
}

/**
 * A release that has just ended with informational hooks to tell looks again at once: they are due
 * only from the status that says it ended, and the write of that status wakes nothing (the
 * controller does not reconcile its own writes), so they would otherwise wait for the next resync.
 */
export function wakeToInform(d: Draft, phaseBefore: CanaryReleaseStatus['phase']): void {
  const phase = d.status.phase;
  if (phase === phaseBefore || (phase !== 'Succeeded' && phase !== 'RolledBack')) return;
  const type = phase === 'Succeeded' ? 'post-rollout' : 'rollback';
  if (hooksOf(d.spec, type).length && !d.status.hooks?.informed?.includes(type)) d.wake(0);
}

/** One line about a call: what answered, or why nothing did. */
export function describeCall(call: HookCall): string {
  const took = formatDuration(call.durationMs);
  if (call.statusCode !== undefined) {
    const body = call.body ? `: ${call.body}` : '';
    return `HTTP ${call.statusCode} from ${call.url} in ${took}${call.ok ? '' : body}`;
  }
  return `${call.error ?? 'no answer'} (${call.url}, after ${took})`;
}

/**
 * The gate `key` of `type`: open when the release has no hook of that type, when it opened before in
 * this rollout, or when every hook of the type answered 2xx to its latest call for this gate. A
 * closed gate records why the release waits (one Hold record for the whole wait), and a failed
 * pre-rollout hook with onFailure: rollback rolls the release back through `rollback`.
 */
export function passGate(
  d: Draft,
  type: GateType,
  key: string,
  rollback: (reason: string, message: string, calls: HookCall[]) => void,
): boolean {
  const hooks = hooksOf(d.spec, type);
  if (!hooks.length) return true;
  const status = (d.status.hooks ??= {});
  if (status.passed?.includes(key)) return true;
  const calls = hooks.map((hook) => ({ hook, call: lastCall(status, hook.name, key) }));
  const evidence = calls.flatMap(({ call }) => (call ? [call] : []));
  if (calls.every(({ call }) => call?.ok)) {
    status.passed = [...(status.passed ?? []), key];
    delete status.waiting;
    return true;
  }
  if (status.waiting?.key !== key) status.waiting = { type, key, since: d.nowIso };
  const failed = calls.find(({ call }) => call && !call.ok);
  if (type === 'pre-rollout' && failed?.call && failed.hook.onFailure === 'rollback') {
    rollback(
      'PreRolloutHookFailed',
      `rolled back before any traffic moved: pre-rollout hook ${failed.hook.name} failed: ${describeCall(failed.call)}`,
      evidence,
    );
    return false;
  }
  const closed = failed ?? calls.find(({ call }) => !call?.ok);
  const why = closed?.call ? describeCall(closed.call) : 'not called yet';
  const since = Date.parse(status.waiting.since);
  const waited = d.now.getTime() - since;
  const message = `waiting for ${type} hook ${closed?.hook.name ?? ''}: ${why}${waited > 0 ? ` (for ${formatDuration(waited)})` : ''}; it opens on a 2xx answer, or run kubectl canaria approve`;
  d.record('Hold', 'WaitingForHook', message, { hooks: evidence });
  const times = evidence.filter((c) => !c.ok).map((c) => Date.parse(c.time) + gateRecheckMs(d.spec));
  // a hook not called yet is called on the next reconcile
  if (evidence.length < hooks.length || !times.length) d.wake(1_000);
  else d.wakeAtTime(Math.min(...times));
  return false;
}

/**
 * The gates before `target` exposes the canary to more traffic than now: confirm-rollout and
 * pre-rollout before the first exposure of the rollout, confirm-traffic-increase before each.
 */
export function exposureGates(d: Draft, target: RoutingState): [GateType, string][] {
  const current = d.status.routing;
  const exposed = (r: RoutingState | undefined) =>
    (r?.canaryWeight ?? 0) > 0 || r?.match !== undefined || (r?.mirrorPercent ?? 0) > 0;
  const more = target.canaryWeight > (current?.canaryWeight ?? 0) || (!exposed(current) && exposed(target));
  if (!more) return [];
  const first: [GateType, string][] = exposed(current)
    ? []
    : [
        ['confirm-rollout', 'confirm-rollout'],
        ['pre-rollout', 'pre-rollout'],
      ];
  return [...first, ['confirm-traffic-increase', `confirm-traffic-increase@${d.stepIndex}`]];
}
