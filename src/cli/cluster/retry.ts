import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { shortRevision } from './release-view.js';
import {
  planRequest,
  registerReleaseAction,
  requirePhase,
  runReleaseAction,
  type PlanAction,
} from './request.js';
import type { ClusterFlags } from './session.js';

export const planRetry: PlanAction = (view, newRequestId) => {
  requirePhase(view, ['RolledBack'], (phase) => `only a rolled-back release can be retried; it is ${phase}`);
  return planRequest(
    view,
    'Retry',
    newRequestId,
    (id) =>
      `retry requested (id ${id}): the controller rolls out canary revision ${shortRevision(view.status.canaryRevision)} again from step 1`,
  );
};

export const runRetry = (name: string, flags: ClusterFlags, env: ClusterEnv): Promise<number> =>
  runReleaseAction(name, flags, env, planRetry);

export const registerRetry = (env: () => ClusterEnv): RegisterCommand =>
  registerReleaseAction(
    env,
    'retry',
    'roll out a rolled-back canary revision again from step 1',
    () => planRetry,
  );
