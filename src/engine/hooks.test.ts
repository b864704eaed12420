import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { WebhookInput } from '../api/webhooks.js';
import { aSpec, counts, errorRatioAnalysis, requests } from '../../test/builders/release.js';
import { World } from '../../test/builders/world.js';
import { decide } from './decide.js';
import { hooksDue } from './hooks.js';

const hook = (type: WebhookInput['type'], extra: Partial<WebhookInput> = {}): WebhookInput => ({
  name: `${type}-hook`,
  type,
  url: `http://receiver.test/${type}?token=secret`,
  ...extra,
});
const healthy = () => new Map([['error-ratio', requests(counts(1000, 2), counts(9000, 20))]]);
const weightsOf = (world: World) =>
  world.history.flatMap((d) =>
    d.actions.flatMap((a) => (a.type === 'setRouting' ? [a.routing.canaryWeight] : [])),
  );
const last = (s: CanaryReleaseStatus | undefined) => s?.decisions?.at(-1);

describe('hooks: pre-rollout', () => {
  it('a failing pre-rollout hook holds at 0 % and never moves traffic, and says why with the call', () => {
    const world = new World(aSpec({ webhooks: [hook('pre-rollout')] }));
    world.answer = () => 503;
    world.runFor(40);
    expect(weightsOf(world).every((w) => w === 0)).toBe(true);
    expect(world.status?.phase).toBe('Progressing');
    expect(world.status?.canaryWeight).toBe(0);
    const hold = last(world.status);
    expect(hold).toMatchObject({ action: 'Hold', reason: 'WaitingForHook' });
    expect(hold?.message).toMatch(
      /waiting for pre-rollout hook pre-rollout-hook: HTTP 503 from http:\/\/receiver.test\/pre-rollout in/,
    );
    expect(hold?.message).not.toMatch(/token/);
    expect(hold?.hooks?.[0]).toMatchObject({ statusCode: 503, ok: false, body: 'denied' });
    // one record for the whole wait, called again at most every gate recheck (10 s without analysis)
    expect(hold?.count).toBeGreaterThan(1);
    const times = world.calls.map((c) => Date.parse(c.time));
    for (let i = 1; i < times.length; i++)
      expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(10_000);
  });

  it('with onFailure: rollback, the first failure rolls back, and the rollback hook is told once', () => {
    const world = new World(
      aSpec({ webhooks: [hook('pre-rollout', { onFailure: 'rollback' }), hook('rollback')] }),
    );
    world.answer = (due) => (due.hook.type === 'pre-rollout' ? null : 200);
    world.run((s) => s.phase === 'RolledBack' && (s.hooks?.informed?.length ?? 0) > 0);
    expect(weightsOf(world).every((w) => w === 0)).toBe(true);
    const rollback = world.status?.decisions?.find((d) => d.action === 'Rollback');
    expect(rollback?.reason).toBe('PreRolloutHookFailed');
    expect(rollback?.message).toMatch(/timed out after 10s/);
    world.runFor(5);
    expect(world.calls.filter((c) => c.type === 'rollback')).toHaveLength(1);
  });

  it('a passing pre-rollout hook is called once, then the rollout runs as without it', () => {
    const world = new World(aSpec({ webhooks: [hook('pre-rollout'), hook('post-rollout')] }));
    world.answer = () => 200;
    world.run((s) => s.phase === 'Succeeded' && (s.hooks?.informed?.length ?? 0) > 0);
    expect(world.calls.map((c) => c.type)).toEqual(['pre-rollout', 'post-rollout']);
    expect(world.status?.hooks?.passed).toEqual(['pre-rollout']);
    expect(world.status?.hooks?.calls?.map((c) => c.url)).toContain('http://receiver.test/pre-rollout');
  });
});

describe('hooks: informational', () => {
  it('a release that has just ended looks again at once to tell them: the write of its status wakes nothing', () => {
    const world = new World(aSpec({ webhooks: [hook('post-rollout')] }));
    world.answer = () => 200;
    world.run((s) => s.phase === 'Succeeded');
    expect(world.history.at(-1)?.requeueAfterMs).toBe(0);
    expect(world.calls).toEqual([]);
    const told = world.step();
    expect(world.calls.map((c) => c.type)).toEqual(['post-rollout']);
    expect(told.status.hooks?.informed).toEqual(['post-rollout']);
    expect(told.requeueAfterMs).toBeNull();
  });

  it('so does a release that has just been rolled back, once', () => {
    const world = new World(
      aSpec({ webhooks: [hook('pre-rollout', { onFailure: 'rollback' }), hook('rollback')] }),
    );
    world.answer = (due) => (due.hook.type === 'pre-rollout' ? null : 200);
    world.run((s) => s.phase === 'RolledBack');
    expect(world.history.at(-1)?.requeueAfterMs).toBe(0);
    world.step();
    expect(world.calls.filter((c) => c.type === 'rollback')).toHaveLength(1);
  });
});

describe('hooks: rollout', () => {
  const spec = () =>
    aSpec({
      analysis: errorRatioAnalysis({ failureLimit: 2 }),
      strategy: { steps: [{ setWeight: 10 }, { analysis: { duration: '3m' } }] },
      webhooks: [hook('rollout')],
    });

  it('is called with each analysis and its answer is part of the analysis evidence', () => {
    const world = new World(spec(), healthy);
    world.answer = () => 200;
    world.run();
    expect(world.status?.phase).toBe('Succeeded');
    const analyses = world.history.filter((d) => d.status.lastAnalysis?.hooks !== undefined).length;
    expect(world.calls.length).toBeGreaterThanOrEqual(3);
    expect(analyses).toBeGreaterThanOrEqual(3);
    expect(world.calls.every((c) => c.gate === 'rollout')).toBe(true);
  });

  it('a failing rollout hook fails the analysis, up to failureLimit, then rolls back', () => {
    const world = new World(spec(), healthy);
    world.answer = () => 500;
    world.run();
    expect(world.status?.phase).toBe('RolledBack');
    const rollback = last(world.status);
    expect(rollback).toMatchObject({ action: 'Rollback', reason: 'AnalysisFailed', verdict: 'Fail' });
    expect(rollback?.message).toMatch(/rollout hook rollout-hook failed: HTTP 500/);
    expect(rollback?.hooks?.[0]).toMatchObject({ statusCode: 500 });
  });

  it('is not called while the canary has no traffic', () => {
    const s = spec();
    const status: CanaryReleaseStatus = {
      phase: 'Progressing',
      windowStartedAt: '2026-11-21T10:00:00Z',
      routing: { stableWeight: 100, canaryWeight: 0, total: 100 },
    };
    expect(hooksDue(s, status, new Date('2026-11-21T10:05:00Z'))).toEqual([]);
    status.routing = { stableWeight: 90, canaryWeight: 10, total: 100 };
    expect(hooksDue(s, status, new Date('2026-11-21T10:05:00Z')).map((d) => d.gate)).toEqual(['rollout']);
  });
});

describe('hooks: confirm gates', () => {
  it('confirm-promotion holds at the last step until the hook answers 2xx', () => {
    const world = new World(aSpec({ webhooks: [hook('confirm-promotion')] }));
    let open = false;
    world.answer = () => (open ? 200 : 403);
    world.run((s) => s.hooks?.waiting !== undefined);
    world.runFor(20);
    expect(world.status?.currentStepIndex).toBe(3);
    expect(world.status?.canaryWeight).toBe(50);
    expect(world.status?.message).toMatch(
      /^waiting for confirm-promotion hook confirm-promotion-hook: HTTP 403/,
    );
    open = true;
    world.run();
    expect(world.status?.phase).toBe('Succeeded');
  });

  it('confirm-traffic-increase is asked before each weight increase, each step once', () => {
    const world = new World(aSpec({ webhooks: [hook('confirm-traffic-increase')] }));
    world.answer = () => 200;
    world.run();
    expect(world.status?.phase).toBe('Succeeded');
    expect(world.calls.map((c) => c.gate)).toEqual([
      'confirm-traffic-increase@0',
      'confirm-traffic-increase@2',
    ]);
  });

  it('confirm-rollout is asked before pre-rollout, and pre-rollout only once it opened', () => {
    const world = new World(aSpec({ webhooks: [hook('pre-rollout'), hook('confirm-rollout')] }));
    let approved = false;
    world.answer = (due) => (due.hook.type === 'confirm-rollout' && !approved ? 403 : 200);
    world.runFor(10);
    expect(world.calls.every((c) => c.type === 'confirm-rollout')).toBe(true);
    approved = true;
    world.run();
    expect(world.status?.phase).toBe('Succeeded');
    expect(world.status?.hooks?.passed).toEqual(['confirm-rollout', 'pre-rollout']);
  });

  it('removing the hooks of the gate a release waits at lets it go on, without a restart', () => {
    const world = new World(aSpec({ webhooks: [hook('confirm-promotion')] }));
    world.answer = () => 403;
    world.run((s) => s.hooks?.waiting !== undefined);
    const started = world.status?.rolloutStartedAt;
    world.spec = aSpec();
    world.run();
    expect(world.status?.phase).toBe('Succeeded');
    expect(world.status?.rolloutStartedAt).toBe(started);
    expect(world.status?.hooks?.waiting).toBeUndefined();
  });

  it('an Approve request opens the gate the release waits at, recorded with its id', () => {
    const world = new World(aSpec({ webhooks: [hook('confirm-promotion')] }));
    world.answer = () => 403;
    world.run((s) => s.hooks?.waiting !== undefined);
    world.spec = { ...world.spec, request: { action: 'Approve', id: 'r1' } };
    const d = world.step();
    expect(last(d.status)).toMatchObject({ action: 'Resume', reason: 'UserApproved' });
    expect(d.status.hooks?.approved).toEqual(['confirm-promotion']);
    world.run();
    expect(world.status?.phase).toBe('Succeeded');
  });

  it('an Approve request opens a pause without duration, and is ignored where nothing waits', () => {
    const spec = aSpec({ strategy: { steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }] } });
    const world = new World(spec);
    world.run((s) => s.phase === 'Paused');
    world.spec = { ...spec, request: { action: 'Approve', id: 'r1' } };
    world.run();
    expect(world.status?.phase).toBe('Succeeded');
    expect(world.status?.decisions?.some((d) => d.reason === 'UserApproved')).toBe(true);

    const idle = decide(
      { ...spec, request: { action: 'Approve', id: 'r2' } },
      world.status,
      world.observe(),
      world.now,
    );
    expect(last(idle.status)).toMatchObject({ action: 'Ignore', reason: 'ApproveIgnored' });
  });

  it('approving the pause of the last step still asks confirm-promotion before promoting', () => {
    const spec = aSpec({
      strategy: { steps: [{ setWeight: 10 }, { pause: {} }] },
      webhooks: [hook('confirm-promotion')],
    });
    const world = new World(spec);
    world.answer = () => 403;
    world.run((s) => s.phase === 'Paused');
    world.spec = { ...spec, request: { action: 'Approve', id: 'r1' } };
    world.runFor(5);
    expect(world.status?.phase).toBe('Progressing');
    expect(world.status?.hooks?.waiting?.type).toBe('confirm-promotion');
    expect(world.calls.some((c) => c.type === 'confirm-promotion')).toBe(true);
    expect(world.history.some((d) => d.status.phase === 'Promoting')).toBe(false);
    world.answer = () => 200;
    world.run();
    expect(world.status?.phase).toBe('Succeeded');
    expect(world.status?.hooks?.passed).toContain('confirm-promotion');
  });
});
