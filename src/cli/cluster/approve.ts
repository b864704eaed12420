import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { CliError, releaseName } from './errors.js';
import { stepOf, type ReleaseView } from './release-view.js';
import {
  planRequest,
  registerReleaseAction,
  requirePhase,
  runReleaseAction,
  type PlanAction,
} from './request.js';
import type { ClusterFlags } from './session.js';

/** The gate the release waits at, as the engine reports it; undefined when it waits at none. */
function gateOf(view: ReleaseView): string | undefined {
  const waiting = view.status.hooks?.waiting;
  if (waiting) return `the ${waiting.type} gate`;
  if (view.pausedBy === 'WaitingForPromote') return `the pause at step ${stepOf(view)}`;
  return undefined;
}

/**
 * Opens the gate a release waits at (a confirm-* or pre-rollout hook, or a pause without duration)
 * through spec.request, as promote does, so the controller records who opened it and when.
 */
export const planApprove: PlanAction = (view, newRequestId) => {
  requirePhase(view, ['Progressing', 'Paused'], (phase) => `no gate to approve while it is ${phase}`);
  const gate = gateOf(view);
  if (!gate) {
    throw new CliError(
      `${releaseName(view.namespace, view.name)} waits at no gate (no confirm or pre-rollout hook waiting, no pause without duration); to skip a step: kubectl canaria promote ${view.name} -n ${view.namespace}`,
      { kind: 'refused' },
    );
  }
  return planRequest(
    view,
    'Approve',
    newRequestId,
    (id) => `approve requested (id ${id}): the controller opens ${gate}`,
  );
};

export const runApprove = (name: string, flags: ClusterFlags, env: ClusterEnv): Promise<number> =>
  runReleaseAction(name, flags, env, planApprove);

export const registerApprove = (env: () => ClusterEnv): RegisterCommand =>
  registerReleaseAction(
    env,
    'approve',
    'open the gate a rollout waits at: a confirm-* or pre-rollout webhook, or a pause without duration',
    () => planApprove,
  );
