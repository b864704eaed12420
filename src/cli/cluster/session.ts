import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseDuration } from '../../api/duration.js';
import { KubeError } from '../../kube/errors.js';
import type { JsonPatchOperation } from '../../kube/json-patch.js';
import type { Kind, KubeObject } from '../../kube/resources.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, type Connection } from './connection.js';
import type { ClusterEnv } from './env.js';
import { describeFailure, exitCodeOf, explainKubeError, notFound, usageError } from './errors.js';
import type { Style } from './format.js';

/** kubectl's flags, as commander parses them on every cluster command. */
export interface ClusterFlags {
  namespace?: string;
  context?: string;
  kubeconfig?: string;
  /** False with --no-color. */
  color: boolean;
  output?: string;
  /** kubectl's --request-timeout: how long connecting and each call may take. */
  requestTimeout?: string;
}

/** The -o formats: every command prints json and yaml; lists also print wide and name. */
export type OutputFormat = 'text' | 'wide' | 'name' | 'json' | 'yaml';

export function addClusterFlags(
  command: Command,
  { output }: { output: false | readonly OutputFormat[] },
): Command {
  command
    .option(
      '-n, --namespace <namespace>',
      "the release's namespace (default: the kubeconfig context's, else default)",
    )
    .option('--context <context>', 'the kubeconfig context to use')
    .option('--kubeconfig <file>', 'the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)')
    .option(
      '--request-timeout <duration>',
      `give up connecting, and each call, after this long (default ${DEFAULT_REQUEST_TIMEOUT_MS / 1000}s)`,
    )
    .option(
      '--no-color',
      'plain text; also without a terminal, or with NO_COLOR set (FORCE_COLOR forces colours)',
    );
  if (output) {
    const formats = output.filter((f) => f !== 'text');
    command.option('-o, --output <format>', `${formats.join(', ')} instead of the text`);
  }
  return command;
}

const OBJECT_FORMATS = ['text', 'json', 'yaml'] as const;

export function outputFormat<F extends OutputFormat = (typeof OBJECT_FORMATS)[number]>(
  flags: ClusterFlags,
  allowed: readonly F[] = OBJECT_FORMATS as unknown as readonly F[],
): F | 'text' {
  const value = flags.output;
  if (value === undefined) return 'text';
  if ((allowed as readonly string[]).includes(value) && value !== 'text') return value as F;
  const formats = allowed.filter((f) => f !== 'text');
  throw usageError(
    `-o/--output "${value}" is not supported here; use ${formats.map((f) => `-o ${f}`).join(', ')}, or leave it out for text`,
  );
}

export function printObject(env: ClusterEnv, format: 'json' | 'yaml', object: unknown): void {
  env.io.stdout(format === 'json' ? JSON.stringify(object, null, 2) : stringify(object).trimEnd());
}

export const styleOf = (flags: ClusterFlags, env: ClusterEnv): Style => ({
  color: flags.color && env.colorByDefault,
});

/** A duration flag such as --timeout 10m, in milliseconds. */
export function durationFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    throw usageError(`${flag} "${value}" is not a duration; write it as 10m, 90s or 1h30m`);
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

/**
 * Runs a command body; a failure anywhere becomes one line on stderr and the exit code of its kind
 * (64 usage, 3 could not tell, 1 refused), never a stack trace.
 */
export async function reportFailures(env: ClusterEnv, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    env.io.stderr(describeFailure(err));
    return exitCodeOf(err);
  }
}

export interface ClusterOptions {
  allNamespaces?: boolean;
  /** Kinds to cache besides CanaryReleases. */
  kinds?: Kind[];
  /** The command's own deadline (status --timeout): connecting must not take longer either. */
  timeoutMs?: number | undefined;
}

/** Connects, runs the command in the namespace it acts in, and disconnects whatever happens. */
export async function withCluster(
  env: ClusterEnv,
  flags: ClusterFlags,
  run: (cluster: Cluster) => Promise<number>,
  options: ClusterOptions = {},
): Promise<number> {
  const requestTimeoutMs =
    durationFlag('--request-timeout', flags.requestTimeout) ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const kube = await env.connect({
    ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }),
    ...(flags.context === undefined ? {} : { context: flags.context }),
    ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
    ...(options.allNamespaces ? { allNamespaces: true } : {}),
    ...(options.kinds ? { kinds: ['CanaryRelease', ...options.kinds] } : {}),
    timeoutMs: Math.min(requestTimeoutMs, options.timeoutMs ?? Infinity),
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
