import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseDuration } from '../../api/duration.js';
import { KubeError } from '../../kube/errors.js';
import type { JsonPatchOperation } from '../../kube/json-patch.js';
import type { KubeObject } from '../../kube/resources.js';
import type { Connection } from './connect.js';
import type { ClusterEnv } from './env.js';
import { CliError, describeFailure, explainKubeError, notFound } from './errors.js';
import type { Style } from './format.js';

/** kubectl's flags, as commander parses them on every cluster command. */
export interface ClusterFlags {
  namespace?: string;
  context?: string;
  kubeconfig?: string;
  /** False with --no-color. */
  color: boolean;
  output?: string;
}

export function addClusterFlags(command: Command, { output }: { output: boolean }): Command {
  command
    .option(
      '-n, --namespace <namespace>',
      "the release's namespace (default: the kubeconfig context's, else default)",
    )
    .option('--context <context>', 'the kubeconfig context to use')
    .option('--kubeconfig <file>', 'the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)')
    .option('--no-color', 'plain text, also the default when stdout is not a terminal');
  if (output) command.option('-o, --output <format>', 'json or yaml instead of text');
  return command;
}

type OutputFormat = 'text' | 'json' | 'yaml';

export function outputFormat(flags: ClusterFlags): OutputFormat {
  const value = flags.output;
  if (value === undefined) return 'text';
  if (value === 'json' || value === 'yaml') return value;
  throw new CliError(
    `-o/--output "${value}" is not supported; use -o json or -o yaml, or leave it out for text`,
  );
}

export function printObject(env: ClusterEnv, format: 'json' | 'yaml', object: unknown): void {
  env.io.stdout(format === 'json' ? JSON.stringify(object, null, 2) : stringify(object).trimEnd());
}

export const styleOf = (flags: ClusterFlags, env: ClusterEnv): Style => ({
  color: flags.color && env.stdoutIsTty,
});

/** A duration flag such as --timeout 10m, in milliseconds. */
export function durationFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    throw new CliError(`${flag} "${value}" is not a duration; write it as 10m, 90s or 1h30m`);
  }
  return ms;
}

/** The cluster as one command uses it: connected, in the namespace it acts in. */
export interface Cluster {
  kube: Connection;
  namespace: string;
  /** The release, from the synced cache; a clear error when it does not exist. */
  release(name: string): KubeObject;
}

/** Runs a command body; a failure anywhere becomes one line on stderr and exit code 1, never a stack trace. */
export async function reportFailures(env: ClusterEnv, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    env.io.stderr(describeFailure(err));
    return 1;
  }
}

/** Connects, runs the command in the namespace it acts in, and disconnects whatever happens. */
export async function withCluster(
  env: ClusterEnv,
  flags: ClusterFlags,
  run: (cluster: Cluster) => Promise<number>,
  allNamespaces = false,
): Promise<number> {
  const kube = await env.connect({
    ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }),
    ...(flags.context === undefined ? {} : { context: flags.context }),
    ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
    ...(allNamespaces ? { allNamespaces } : {}),
  });
  try {
    const namespace = flags.namespace ?? kube.namespace ?? 'default';
    return await run({
      kube,
      namespace,
      release: (name) => {
        const found = kube.get('CanaryRelease', { namespace, name });
        if (!found) throw notFound(namespace, name);
        return found;
      },
    });
  } finally {
    await kube.stop?.();
  }
}

/** Patches a release, turning the API server's refusals into what the user can do about them. */
export async function patchRelease(
  cluster: Cluster,
  name: string,
  ops: readonly JsonPatchOperation[],
): Promise<KubeObject> {
  try {
    return await cluster.kube.patch('CanaryRelease', { namespace: cluster.namespace, name }, ops);
  } catch (err) {
    if (err instanceof KubeError) throw explainKubeError(err, 'patch', cluster.namespace, name);
    throw err;
  }
}
