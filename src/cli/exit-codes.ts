/**
 * What a canaria command's exit status means, so a CI job can branch on it. 0, 1 and 2 keep what
 * `status` always said (promoted, rolled back, timed out); "could not tell" and usage errors have
 * codes of their own, so an unreachable cluster never reads as a rollback.
 */
export const EXIT = {
  /** Done: the release was promoted, the command did what was asked, lint found no error. */
  ok: 0,
  /** The answer is no: rolled back or Failed, lint errors, a simulated release that ended Failed. */
  failed: 1,
  /** `status`/`get --watch`: the release was still rolling out when --timeout passed. */
  timedOut: 2,
  /**
   * Could not tell: no kubeconfig, an unreachable or silent API server, credentials or RBAC refused,
   * canaria's CRDs not installed, the release not found or deleted while waiting.
   */
  unknown: 3,
  /** A bad flag, argument or input file: nothing was asked of the cluster (sysexits' EX_USAGE). */
  usage: 64,
  /** Ctrl-C, as shells report SIGINT. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The table the README shows, from the same source. */
export const EXIT_CODE_TABLE: readonly [ExitCode, string][] = [
  [EXIT.ok, 'promoted; or the command did what was asked'],
  [EXIT.failed, 'rolled back or Failed; lint found errors; the action is refused in this phase'],
  [EXIT.timedOut, 'still rolling out when --timeout passed'],
  [
    EXIT.unknown,
    'could not tell: cluster unreachable or silent, no kubeconfig, refused, CRDs missing, release not found',
  ],
  [EXIT.usage, 'usage error: a bad flag, argument or file'],
  [EXIT.interrupted, 'interrupted (Ctrl-C)'],
];
