import type { Command } from 'commander';
import type { KubeObject } from '../../kube/resources.js';
import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { CliError } from './errors.js';
import { age, formatTable, paintPhase, truncate, type Cell, type Style } from './format.js';
import { percent, shortRevision, stepOf, viewRelease } from './release-view.js';
import {
  addClusterFlags,
  durationFlag,
  outputFormat,
  printObject,
  reportFailures,
  styleOf,
  withCluster,
  type ClusterFlags,
} from './session.js';
import { watchRelease } from './watch.js';

export interface GetFlags extends ClusterFlags {
  allNamespaces?: boolean;
  watch?: boolean;
  timeout?: string;
}

/** Long enough for the reason of a hold; the whole message is in `get NAME --watch` and -o yaml. */
const MESSAGE_WIDTH = 60;

const HEADER = ['NAME', 'PHASE', 'STEP', 'WEIGHT', 'ACTUAL', 'CANARY', 'STABLE', 'AGE', 'MESSAGE'];

function releaseRow(object: KubeObject, now: number, style: Style, withNamespace: boolean): Cell[] {
  const view = viewRelease(object);
  const s = view.status;
  const created = view.createdAt === undefined ? undefined : Date.parse(view.createdAt);
  const phase = s.phase ?? '-';
  const cells: Cell[] = [
    { text: view.name },
    { text: phase, paint: (padded) => paintPhase(style, s.phase, padded) },
    { text: stepOf(view) },
    { text: percent(s.canaryWeight) },
    { text: percent(s.actualCanaryWeight) },
    { text: shortRevision(s.canaryRevision) },
    { text: shortRevision(s.stableRevision) },
    { text: created === undefined ? '-' : age(now - created) },
    { text: truncate(s.message ?? (s.phase ? '' : 'waiting for the canaria controller'), MESSAGE_WIDTH) },
  ];
  return withNamespace ? [{ text: view.namespace }, ...cells] : cells;
}

/** The releases as kubectl would print them: a table, or -o json / -o yaml. */
export function formatReleases(
  objects: readonly KubeObject[],
  options: { now: number; style: Style; withNamespace: boolean },
): string[] {
  const header = options.withNamespace ? ['NAMESPACE', ...HEADER] : HEADER;
  return formatTable(
    header,
    objects.map((o) => releaseRow(o, options.now, options.style, options.withNamespace)),
  );
}

const byNamespaceAndName = (a: KubeObject, b: KubeObject) =>
  (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
  a.metadata.name.localeCompare(b.metadata.name);

/** `get [NAME]` and `get NAME --watch`; returns the exit code. */
export function runGet(name: string | undefined, flags: GetFlags, env: ClusterEnv): Promise<number> {
  return reportFailures(env, async () => {
    const format = outputFormat(flags);
    const timeoutMs = durationFlag('--timeout', flags.timeout);
    if (flags.watch && name === undefined) {
      throw new CliError('--watch follows one release: kubectl canaria get NAME --watch');
    }
    if (timeoutMs !== undefined && !flags.watch) throw new CliError('--timeout goes with --watch');
    if (flags.allNamespaces && name !== undefined) {
      throw new CliError('a release is named within one namespace: use -n NAMESPACE instead of -A');
    }
    const all = flags.allNamespaces === true;
    return withCluster(
      env,
      flags,
      (cluster) => {
        if (name !== undefined && flags.watch) return watchRelease(cluster, name, flags, env, timeoutMs);
        const objects =
          name === undefined
            ? cluster.kube.list('CanaryRelease', all ? undefined : cluster.namespace).sort(byNamespaceAndName)
            : [cluster.release(name)];
        if (format !== 'text') {
          printObject(
            env,
            format,
            name === undefined ? { apiVersion: 'v1', kind: 'List', items: objects } : objects[0],
          );
          return Promise.resolve(0);
        }
        if (!objects.length) {
          env.io.stderr(
            all ? 'No canaryreleases found.' : `No canaryreleases found in namespace ${cluster.namespace}.`,
          );
          return Promise.resolve(0);
        }
        const lines = formatReleases(objects, {
          now: env.timers.now(),
          style: styleOf(flags, env),
          withNamespace: all,
        });
        for (const line of lines) env.io.stdout(line);
        return Promise.resolve(0);
      },
      all,
    );
  });
}

export function registerGet(env: () => ClusterEnv): RegisterCommand {
  return (program: Command) => {
    const command = program
      .command('get')
      .description('list canary releases, or follow one with --watch')
      .argument('[name]', 'a CanaryRelease; all in the namespace when left out')
      .option('-A, --all-namespaces', 'list the releases of every namespace')
      .option('-w, --watch', 'print the release again on every change, until it is promoted or rolled back')
      .option('--timeout <duration>', 'with --watch: give up after this long (exit code 2), e.g. 10m');
    addClusterFlags(command, { output: true }).action(async (name: string | undefined, flags: GetFlags) => {
      process.exitCode = await runGet(name, flags, env());
    });
  };
}
