import type { Command } from 'commander';
import { observeRelease } from '../../controller/observe.js';
import { KubeError } from '../../kube/errors.js';
import type { Kind } from '../../kube/resources.js';
import { EXIT } from '../exit-codes.js';
import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { CliError, releaseName, usageError } from './errors.js';
import { exitCodeOfFollow, followRelease, onRevision } from './follow.js';
import { paintPhase } from './format.js';
import { NO_STATUS, percent, shortRevision, stepOf, viewRelease, type ReleaseView } from './release-view.js';
import {
  addClusterFlags,
  durationFlag,
  reportFailures,
  styleOf,
  withCluster,
  type Cluster,
  type ClusterFlags,
} from './session.js';

export interface StatusFlags extends ClusterFlags {
  timeout?: string;
  /** Wait for this canary revision (or one starting with it) instead of the one deployed now. */
  revision?: string;
}

function phaseLine(view: ReleaseView, flags: StatusFlags, env: ClusterEnv): string {
  const s = view.status;
  const subject = releaseName(view.namespace, view.name);
  if (s.phase === undefined) return `${subject}: ${NO_STATUS}`;
  const phase = paintPhase(styleOf(flags, env), s.phase);
  const where = view.step ? ` at step ${stepOf(view)} (${view.step.description})` : '';
  const actual =
    s.actualCanaryWeight !== undefined && s.actualCanaryWeight !== s.canaryWeight
      ? ` (actual ${percent(s.actualCanaryWeight)})`
      : '';
  const message = s.message ? `: ${s.message}` : '';
  return `${subject}: ${phase}${where}, canary ${percent(s.canaryWeight)}${actual}${message}`;
}

/** What a new line is printed for: a phase, a step, a weight or a revision that changed. */
const progressKey = (view: ReleaseView): string =>
  JSON.stringify([
    view.status.phase,
    view.step?.number,
    view.status.canaryWeight,
    view.status.actualCanaryWeight,
    view.status.canaryRevision,
  ]);

/** Besides releases, what `status` reads to know the canary revision deployed now (subsets mode). */
const REVISION_KINDS: Kind[] = ['DestinationRule', 'Deployment'];

/**
 * The canary revision deployed now, computed as the controller computes it: the pod template of
 * the canary subset's Deployment. Managed mode folds in ConfigMaps (and maybe Secrets) the CLI does
 * not read, so there only --revision says what to wait for.
 */
function deployedRevision(cluster: Cluster, view: ReleaseView): string | undefined {
  if (!view.spec?.subsets) return undefined;
  return observeRelease(cluster.kube, cluster.namespace, view.spec).observations.canaryRevision;
}

/** Connects with the Deployments when RBAC allows it, else with the releases alone and a note. */
async function withStatusCluster(
  env: ClusterEnv,
  flags: StatusFlags,
  timeoutMs: number | undefined,
  run: (cluster: Cluster, readsDeployments: boolean) => Promise<number>,
): Promise<number> {
  if (flags.revision !== undefined) return withCluster(env, flags, (c) => run(c, false), { timeoutMs });
  try {
    return await withCluster(env, flags, (c) => run(c, true), { timeoutMs, kinds: REVISION_KINDS });
  } catch (err) {
    const cause = err instanceof CliError ? err.cause : undefined;
    const refusedExtra =
      cause instanceof KubeError && cause.code === 'Forbidden' && !cause.message.includes('canaryreleases');
    if (!refusedExtra) throw err;
    env.io.stderr(
      'note: you may not list Deployments or DestinationRules here, so status cannot tell which canary revision is deployed now; it waits for the revision the release shows (pass --revision to name one)',
    );
    return withCluster(env, flags, (c) => run(c, false), { timeoutMs });
  }
}

/**
 * `status NAME`, for CI pipelines: waits until the release is promoted (exit 0), rolled back or
 * failed (1), or the timeout passes (2); 3 when it cannot tell (no cluster, no release). In subsets
 * mode it waits for the canary revision deployed now, so the previous rollout's Succeeded does not
 * count before the controller has seen the new Deployment. One line per phase, step, weight or
 * revision it goes through.
 */
export function runStatus(name: string, flags: StatusFlags, env: ClusterEnv): Promise<number> {
  return reportFailures(env, async () => {
    const started = env.timers.now();
    const timeoutMs = durationFlag('--timeout', flags.timeout);
    if (flags.revision !== undefined && !/^[0-9a-zA-Z._-]+$/.test(flags.revision)) {
      throw usageError(
        `--revision "${flags.revision}" is not a revision; use the CANARY column of kubectl canaria get`,
      );
    }
    return withStatusCluster(env, flags, timeoutMs, async (cluster, readsDeployments) => {
      const view = viewRelease(cluster.release(name));
      const revision = flags.revision ?? (readsDeployments ? deployedRevision(cluster, view) : undefined);
      if (revision !== undefined && view.status.phase !== undefined && !onRevision(view, revision)) {
        env.io.stdout(
          `${releaseName(view.namespace, view.name)}: waiting for the controller to take up canary revision ${shortRevision(revision)}; the release still reports ${shortRevision(view.status.canaryRevision)} (${view.status.phase})`,
        );
      }
      let shown: string | undefined;
      const remaining =
        timeoutMs === undefined ? undefined : Math.max(0, timeoutMs - (env.timers.now() - started));
      const end = await followRelease(cluster, name, env, {
        timeoutMs: remaining,
        revision,
        onChange: (_, now) => {
          const key = progressKey(now);
          if (key === shown) return;
          shown = key;
          env.io.stdout(phaseLine(now, flags, env));
        },
      });
      return exitCodeOfFollow(end, env, timeoutMs, revision);
    });
  });
}

export function registerStatus(env: () => ClusterEnv): RegisterCommand {
  return (program: Command) => {
    const command = program
      .command('status')
      .description(
        `wait for a release to finish: exit ${EXIT.ok} promoted, ${EXIT.failed} rolled back or failed, ${EXIT.timedOut} timed out, ${EXIT.unknown} could not tell`,
      )
      .argument('<name>', 'the CanaryRelease')
      .option('--timeout <duration>', 'give up after this long, e.g. 10m (default: wait as long as it takes)')
      .option(
        '--revision <revision>',
        'wait for this canary revision (default in subsets mode: the one the canary Deployment runs now)',
      );
    addClusterFlags(command, { output: false }).action(async (name: string, flags: StatusFlags) => {
      process.exitCode = await runStatus(name, flags, env());
    });
  };
}
