import type { JsonPatchOperation } from '../../kube/json-patch.js';
import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { stepOf } from './release-view.js';
import { guarded, planRequest, registerReleaseAction, runReleaseAction, type PlanAction } from './request.js';
import type { ClusterFlags } from './session.js';

/**
 * Clears spec.paused. A release waiting at a pause without duration (or an A/B stage without one)
 * is not paused by the user but waits for a promote, so resume asks for that too.
 */
export const planResume: PlanAction = (view, newRequestId) => {
  const userPaused = view.spec?.paused === true;
  const waiting = view.status.phase === 'Paused' && view.pausedBy === 'WaitingForPromote';
  if (!userPaused && !waiting) {
    return { kind: 'unchanged', message: 'not paused (spec.paused is false); nothing to resume' };
  }
  const unpause: JsonPatchOperation[] = userPaused ? [{ op: 'add', path: '/spec/paused', value: false }] : [];
  const resumed = userPaused ? 'resume requested (spec.paused: false)' : 'resume requested';
  if (!waiting) return { kind: 'patch', ops: guarded(view, unpause), message: resumed };
  const step = view.step ? `step ${stepOf(view)} (${view.step.description})` : 'the current step';
  const promote = planRequest(
    view,
    'Promote',
    newRequestId,
    (id) => `${resumed}; ${step} waits for promote, so promote requested too (id ${id})`,
  );
  if (promote.kind === 'patch') return { ...promote, ops: [...promote.ops, ...unpause] };
  return unpause.length
    ? { kind: 'patch', ops: guarded(view, unpause), message: `${resumed}; ${promote.message}` }
    : promote;
};

export const runResume = (name: string, flags: ClusterFlags, env: ClusterEnv): Promise<number> =>
  runReleaseAction(name, flags, env, planResume);

export const registerResume = (env: () => ClusterEnv): RegisterCommand =>
  registerReleaseAction(
    env,
    'resume',
    'go on with a paused rollout, or one waiting at a pause without duration',
    () => planResume,
  );
