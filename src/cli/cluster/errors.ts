import { KINDS } from '../../kube/resources.js';
import { KubeError } from '../../kube/errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

/** What kind of failure a CliError is, and so the exit code it ends the command with. */
export type FailureKind = 'usage' | 'unknown' | 'refused';

const EXIT_OF: Record<FailureKind, ExitCode> = {
  usage: EXIT.usage,
  unknown: EXIT.unknown,
  refused: EXIT.failed,
};

/**
 * A failure the user can act on, told in one line on stderr. `kind` picks the exit code: a usage
 * error (bad flag), "could not tell" (the cluster did not let us look) or a refusal (the release is
 * in a phase where the action makes no sense). `retryable` says whether running the same command
 * again may succeed (a concurrent edit, a cluster that was briefly unreachable).
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly kind: FailureKind;
  readonly retryable: boolean;
  constructor(message: string, options: { kind?: FailureKind; retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = options.kind ?? 'unknown';
    this.retryable = options.retryable ?? false;
  }

  get exitCode(): ExitCode {
    return EXIT_OF[this.kind];
  }
}

/** A bad flag or argument: exit 64, nothing was asked of the cluster. */
export const usageError = (message: string): CliError => new CliError(message, { kind: 'usage' });

const RELEASES = `${KINDS.CanaryRelease.plural}.${KINDS.CanaryRelease.group}`;

/** How to install the CRDs, said wherever a 404 shows they are missing. */
export const INSTALL_CRDS =
  'install them with the chart (helm install canaria charts/canaria -n canaria-system --create-namespace) or alone (kubectl apply --server-side -f charts/canaria/files/crds/)';

/** `canaryrelease default/reviews`, the way every line of the cluster commands names a release. */
export const releaseName = (namespace: string, name: string): string => `canaryrelease ${namespace}/${name}`;

export function notFound(namespace: string, name: string): CliError {
  return new CliError(
    `${releaseName(namespace, name)} not found; check the name and the namespace (-n), or list them with: kubectl canaria get -n ${namespace}`,
  );
}

/** What an API server refusal means for a `verb` on a release, in the user's terms. */
export function explainKubeError(err: KubeError, verb: string, namespace: string, name: string): CliError {
  const subject = releaseName(namespace, name);
  switch (err.code) {
    case 'Forbidden':
      return new CliError(
        `forbidden: you may not ${verb} ${RELEASES} in namespace ${namespace} (needed for ${subject}); ask for RBAC verb "${verb}" on ${RELEASES}. The API server said: ${err.message}`,
        { cause: err },
      );
    case 'NotFound':
      return new CliError(notFound(namespace, name).message, { cause: err });
    case 'Conflict':
      return new CliError(`${subject} changed while the request was being made; run the command again`, {
        retryable: true,
        cause: err,
      });
    case 'Invalid':
      return new CliError(`the API server rejected the ${verb} of ${subject}: ${err.message}`, {
        kind: 'refused',
        cause: err,
      });
    case 'Unavailable':
    case 'Timeout':
      return new CliError(
        `the API server did not complete the ${verb} of ${subject} (${err.message}); run the command again`,
        { retryable: true, cause: err },
      );
  }
}

/** The one line a failed command prints: never a stack trace. */
export function describeFailure(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof KubeError) return `the API server answered ${err.code}: ${err.message}`;
  return `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
}

/** The exit code of a failure: its own for a CliError, "could not tell" for anything else. */
export const exitCodeOf = (err: unknown): ExitCode => (err instanceof CliError ? err.exitCode : EXIT.unknown);

/**
 * The canaria or Istio kind a 404 from the API server is about, read from the path or the list
 * the message names (`cannot list canaryreleases.canaria.dev ...`, `GET /apis/canaria.dev/...`).
 */
export function missingKind(err: unknown): { resource: string; owner: 'canaria' | 'Istio' } | undefined {
  if (!(err instanceof KubeError) || err.code !== 'NotFound') return undefined;
  for (const kind of Object.values(KINDS)) {
    if (!kind.group) continue;
    const resource = `${kind.plural}.${kind.group}`;
    const group = kind.group.replace(/\./g, '\\.');
    const inPath = new RegExp(`/apis/${group}/[^/\\s]+/(?:namespaces/[^/\\s]+/)?${kind.plural}\\b`);
    if (err.message.includes(resource) || inPath.test(err.message)) {
      if (kind.group === 'canaria.dev') return { resource, owner: 'canaria' };
      if (kind.group.endsWith('istio.io')) return { resource, owner: 'Istio' };
    }
  }
  return undefined;
}

/** A 404 on a kind the controller or the CLI needs, told as the CRDs that are not installed. */
export function explainMissingKind(err: unknown, cluster: string): string | undefined {
  const missing = missingKind(err);
  if (!missing) return undefined;
  if (missing.owner === 'canaria') {
    return `canaria's CRDs are not installed in ${cluster}: it does not serve ${missing.resource}; ${INSTALL_CRDS}`;
  }
  return `Istio's CRDs are not installed in ${cluster}: it does not serve ${missing.resource}; install Istio (istioctl install, or its base chart) first`;
}
