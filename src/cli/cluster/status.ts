import type { Command } from 'commander';
import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { releaseName } from './errors.js';
import { exitCodeOfFollow, followRelease } from './follow.js';
import { paintPhase } from './format.js';
import { NO_STATUS, percent, stepOf, type ReleaseView } from './release-view.js';
import {
  addClusterFlags,
  durationFlag,
  reportFailures,
  styleOf,
  withCluster,
  type ClusterFlags,
} from './session.js';

export interface StatusFlags extends ClusterFlags {
  timeout?: string;
}

function phaseLine(view: ReleaseView, flags: StatusFlags, env: ClusterEnv): string {
  const s = view.status;
  const subject = releaseName(view.namespace, view.name);
  if (s.phase === undefined) return `${subject}: ${NO_STATUS}`;
  const phase = paintPhase(styleOf(flags, env), s.phase);
  const where = view.step ? ` at step ${stepOf(view)} (${view.step.description})` : '';
  const message = s.message ? `: ${s.message}` : '';
  return `${subject}: ${phase}${where}, canary ${percent(s.canaryWeight)}${message}`;
}

/**
 * `status NAME`, for CI pipelines: waits until the release is promoted (exit 0), rolled back or
 * failed (1), or the timeout passes (2); one line per phase it goes through.
 */
export function runStatus(name: string, flags: StatusFlags, env: ClusterEnv): Promise<number> {
  return reportFailures(env, async () => {
    const timeoutMs = durationFlag('--timeout', flags.timeout);
    return withCluster(env, flags, async (cluster) => {
      let phase: string | undefined;
      const end = await followRelease(cluster, name, env, {
        timeoutMs,
        onChange: (_, view) => {
          const now = view.status.phase ?? '';
          if (now === phase) return;
          phase = now;
          env.io.stdout(phaseLine(view, flags, env));
        },
      });
      return exitCodeOfFollow(end, env, timeoutMs);
    });
  });
}

export function registerStatus(env: () => ClusterEnv): RegisterCommand {
  return (program: Command) => {
    const command = program
      .command('status')
      .description(
        'wait for a release to finish: exit 0 when promoted, 1 when rolled back or failed, 2 on timeout',
      )
      .argument('<name>', 'the CanaryRelease')
      .option(
        '--timeout <duration>',
        'give up after this long, e.g. 10m (default: wait as long as it takes)',
      );
    addClusterFlags(command, { output: false }).action(async (name: string, flags: StatusFlags) => {
      process.exitCode = await runStatus(name, flags, env());
    });
  };
}
