import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { percent, stepOf, type ReleaseView } from './release-view.js';
import { guarded, registerReleaseAction, runReleaseAction, type PlanAction } from './request.js';
import type { ClusterFlags } from './session.js';

/** What spec.paused changes, as the engine applies it: only a rollout between its steps holds. */
function effect(view: ReleaseView): string {
  switch (view.status.phase) {
    case 'Progressing':
    case 'Paused':
      return `the controller holds at step ${stepOf(view)} (canary ${percent(view.status.canaryWeight)}) until resumed`;
    case 'Promoting':
      return 'the promotion under way still completes; the next rollout holds at its first step until resumed';
    case 'Initializing':
    case 'Succeeded':
    case 'RolledBack':
    case 'Failed':
    case undefined:
      return 'the next rollout holds at its first step until resumed';
  }
}

export const planPause: PlanAction = (view) => {
  if (view.spec?.paused) {
    return {
      kind: 'unchanged',
      message: `already paused (spec.paused is true); to go on: kubectl canaria resume ${view.name} -n ${view.namespace}`,
    };
  }
  return {
    kind: 'patch',
    ops: guarded(view, [{ op: 'add', path: '/spec/paused', value: true }]),
    message: `pause requested (spec.paused: true): ${effect(view)}`,
  };
};

export const runPause = (name: string, flags: ClusterFlags, env: ClusterEnv): Promise<number> =>
  runReleaseAction(name, flags, env, planPause);

export const registerPause = (env: () => ClusterEnv): RegisterCommand =>
  registerReleaseAction(env, 'pause', 'hold a rollout at its current step until resumed', () => planPause);
