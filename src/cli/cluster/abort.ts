import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import {
  planRequest,
  registerReleaseAction,
  requirePhase,
  runReleaseAction,
  type PlanAction,
} from './request.js';
import type { ClusterFlags } from './session.js';

export const planAbort: PlanAction = (view, newRequestId) => {
  requirePhase(
    view,
    ['Initializing', 'Progressing', 'Paused', 'Promoting'],
    (phase) => `it is ${phase}, not rolling out: nothing to abort`,
  );
  return planRequest(
    view,
    'Abort',
    newRequestId,
    (id) => `abort requested (id ${id}): the controller sends all traffic back to the stable revision`,
  );
};

export const runAbort = (name: string, flags: ClusterFlags, env: ClusterEnv): Promise<number> =>
  runReleaseAction(name, flags, env, planAbort);

export const registerAbort = (env: () => ClusterEnv): RegisterCommand =>
  registerReleaseAction(
    env,
    'abort',
    'stop a rollout and send all traffic back to the stable revision',
    () => planAbort,
  );
