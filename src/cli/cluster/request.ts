import type { Command } from 'commander';
import type { Phase, UserAction } from '../../api/canary-release.js';
import type { JsonPatchOperation } from '../../kube/json-patch.js';
import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { CliError, releaseName } from './errors.js';
import { NO_STATUS, viewRelease, type ReleaseView } from './release-view.js';
import {
  addClusterFlags,
  outputFormat,
  patchRelease,
  printObject,
  reportFailures,
  withCluster,
  type ClusterFlags,
} from './session.js';

/** What a user action does to a release: a patch and what to tell the user, or nothing and why. */
export type ActionPlan =
  { kind: 'patch'; ops: JsonPatchOperation[]; message: string } | { kind: 'unchanged'; message: string };

/** Plans an action on the release as the cache shows it; throws a CliError when it makes no sense. */
export type PlanAction = (view: ReleaseView, newRequestId: () => string) => ActionPlan;

/** Sortable by time, unique by the random part: `20260101T000000Z-k3j2h1`. */
function requestId(now: number, random: () => number): string {
  const time = new Date(now)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
  const suffix = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, '0');
  return `${time}-${suffix}`;
}

/**
 * Guards a spec patch with the generation it was planned on: a concurrent spec edit (another
 * request, a GitOps sync) makes the API server refuse it instead of being overwritten.
 */
export function guarded(view: ReleaseView, ops: JsonPatchOperation[]): JsonPatchOperation[] {
  return view.generation === undefined
    ? ops
    : [{ op: 'test', path: '/metadata/generation', value: view.generation }, ...ops];
}

/** A request the controller has not handled yet. */
function pendingRequest(view: ReleaseView): { action: UserAction; id: string } | undefined {
  const request = view.spec?.request;
  return request && request.id !== view.status.handledRequestId ? request : undefined;
}

/** Refuses an action the engine would ignore in this phase, with the engine's reason. */
export function requirePhase(
  view: ReleaseView,
  allowed: readonly Phase[],
  why: (phase: Phase) => string,
): void {
  const phase = view.status.phase;
  if (phase === undefined) {
    throw new CliError(`${releaseName(view.namespace, view.name)} has ${NO_STATUS}`, { kind: 'refused' });
  }
  if (!allowed.includes(phase)) {
    throw new CliError(`${releaseName(view.namespace, view.name)}: ${why(phase)}`, { kind: 'refused' });
  }
}

/**
 * A one-shot request in spec.request. The same action still waiting for the controller is not
 * sent twice; another one replaces it, and the user is told.
 */
export function planRequest(
  view: ReleaseView,
  action: UserAction,
  newRequestId: () => string,
  describe: (id: string) => string,
): ActionPlan {
  const pending = pendingRequest(view);
  if (pending?.action === action) {
    return {
      kind: 'unchanged',
      message: `${action} was already requested (id ${pending.id}) and waits for the canaria controller (is it running?)`,
    };
  }
  const id = newRequestId();
  const replaces = pending
    ? `; this replaces the ${pending.action} request ${pending.id}, which the controller had not handled yet`
    : '';
  return {
    kind: 'patch',
    ops: guarded(view, [{ op: 'add', path: '/spec/request', value: { action, id } }]),
    message: `${describe(id)}${replaces}`,
  };
}

/** Connects, plans the action on the cached release, patches it and says what was asked. */
export function runReleaseAction(
  name: string,
  flags: ClusterFlags,
  env: ClusterEnv,
  plan: PlanAction,
): Promise<number> {
  return reportFailures(env, async () => {
    const format = outputFormat(flags);
    return withCluster(env, flags, async (cluster) => {
      const object = cluster.release(name);
      const planned = plan(viewRelease(object), () => requestId(env.timers.now(), () => env.random()));
      const result = planned.kind === 'patch' ? await patchRelease(cluster, name, planned.ops) : object;
      if (format === 'text') env.io.stdout(`${releaseName(cluster.namespace, name)}: ${planned.message}`);
      else printObject(env, format, result);
      return 0;
    });
  });
}

/** Registers `canaria <verb> NAME` with kubectl's flags around a planner. */
export function registerReleaseAction(
  env: () => ClusterEnv,
  verb: string,
  description: string,
  plan: (flags: ClusterFlags & Record<string, unknown>) => PlanAction,
  configure: (command: Command) => void = () => undefined,
): RegisterCommand {
  return (program: Command) => {
    const command = program.command(verb).description(description).argument('<name>', 'the CanaryRelease');
    configure(command);
    addClusterFlags(command, { output: ['text', 'json', 'yaml'] }).action(
      async (name: string, flags: ClusterFlags & Record<string, unknown>) => {
        process.exitCode = await runReleaseAction(name, flags, env(), plan(flags));
      },
    );
  };
}
