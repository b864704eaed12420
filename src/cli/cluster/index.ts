import type { RegisterCommand } from '../commands/index.js';
import { registerAbort } from './abort.js';
import { registerApprove } from './approve.js';
import { registerDescribe } from './describe.js';
import { processClusterEnv, type ClusterEnv } from './env.js';
import { registerGet } from './get.js';
import { registerPause } from './pause.js';
import { registerPromote } from './promote.js';
import { registerResume } from './resume.js';
import { registerRetry } from './retry.js';
import { registerStatus } from './status.js';

/**
 * The commands that talk to a cluster, with kubectl's flags. `env` is read when a command runs, so
 * registering them touches neither the terminal nor the kubeconfig.
 */
export function clusterCommands(env: () => ClusterEnv = processClusterEnv): RegisterCommand[] {
  return [
    registerGet(env),
    registerStatus(env),
    registerDescribe(env),
    registerPromote(env),
    registerApprove(env),
    registerAbort(env),
    registerPause(env),
    registerResume(env),
    registerRetry(env),
  ];
}
