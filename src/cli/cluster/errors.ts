import { KINDS } from '../../kube/resources.js';
import { KubeError } from '../../kube/errors.js';

/**
 * A failure the user can act on, told in one line on stderr. `retryable` says whether running the
 * same command again may succeed (a concurrent edit, a cluster that was briefly unreachable).
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const RELEASES = `${KINDS.CanaryRelease.plural}.${KINDS.CanaryRelease.group}`;

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
        false,
        { cause: err },
      );
    case 'NotFound':
      return new CliError(notFound(namespace, name).message, false, { cause: err });
    case 'Conflict':
      return new CliError(
        `${subject} changed while the request was being made; run the command again`,
        true,
        { cause: err },
      );
    case 'Invalid':
      return new CliError(`the API server rejected the ${verb} of ${subject}: ${err.message}`, false, {
        cause: err,
      });
    case 'Unavailable':
    case 'Timeout':
      return new CliError(
        `the API server did not complete the ${verb} of ${subject} (${err.message}); run the command again`,
        true,
        { cause: err },
      );
  }
}

/** The one line a failed command prints: never a stack trace. */
export function describeFailure(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof KubeError) return `the API server answered ${err.code}: ${err.message}`;
  return `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
}
