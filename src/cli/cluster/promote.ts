import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { stepOf } from './release-view.js';
import {
  planRequest,
  registerReleaseAction,
  requirePhase,
  runReleaseAction,
  type PlanAction,
} from './request.js';
import type { ClusterFlags } from './session.js';

export interface PromoteFlags extends ClusterFlags {
  full?: boolean;
}

export const planPromote =
  (full: boolean): PlanAction =>
  (view, newRequestId) => {
    requirePhase(view, ['Progressing', 'Paused'], (phase) => `nothing to promote while it is ${phase}`);
    if (full) {
      return planRequest(
        view,
        'PromoteFull',
        newRequestId,
        (id) =>
          `full promotion requested (id ${id}): the controller sends all traffic to the canary and skips the remaining steps`,
      );
    }
    const stillPaused = view.spec?.paused
      ? '; the release stays paused (spec.paused is true): resume it to go on'
      : '';
    const step = view.step ? ` step ${stepOf(view)} (${view.step.description})` : ' the current step';
    return planRequest(
      view,
      'Promote',
      newRequestId,
      (id) => `promote requested (id ${id}): the controller skips${step}${stillPaused}`,
    );
  };

export const runPromote = (name: string, flags: PromoteFlags, env: ClusterEnv): Promise<number> =>
  runReleaseAction(name, flags, env, planPromote(flags.full === true));

export const registerPromote = (env: () => ClusterEnv): RegisterCommand =>
  registerReleaseAction(
    env,
    'promote',
    'skip the current step of a rollout; with --full, send all traffic to the canary at once',
    (flags) => planPromote(flags.full === true),
    (command) => command.option('--full', 'skip every remaining step and promote the canary now'),
  );
