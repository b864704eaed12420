import type { KubeObject } from '../../kube/resources.js';
import { formatDuration } from '../../api/duration.js';
import type { ClusterEnv } from './env.js';
import { EXIT } from '../exit-codes.js';
import { releaseName } from './errors.js';
import { percent, settled, shortRevision, stepOf, viewRelease, type ReleaseView } from './release-view.js';
import type { Cluster } from './session.js';

export type FollowEnd =
  | { kind: 'settled'; view: ReleaseView }
  | { kind: 'timeout'; view: ReleaseView }
  | { kind: 'interrupted' }
  | { kind: 'deleted'; namespace: string; name: string };

/**
 * Reports the release now and after every change the watch delivers, until it settles, is deleted,
 * the timeout passes or the user presses Ctrl-C.
 */
export function followRelease(
  cluster: Cluster,
  name: string,
  env: ClusterEnv,
  options: {
    timeoutMs?: number | undefined;
    /** Only a release on this canary revision (or one starting with it) counts as settled. */
    revision?: string | undefined;
    onChange(object: KubeObject, view: ReleaseView): void;
  },
): Promise<FollowEnd> {
  // read and subscribe in one synchronous stretch: no change can slip in between
  const first = cluster.release(name);
  return new Promise((resolve) => {
    const cleanups: (() => void)[] = [];
    let latest = viewRelease(first);
    let done = false;
    const finish = (end: FollowEnd) => {
      if (done) return;
      done = true;
      for (const cleanup of cleanups) cleanup();
      resolve(end);
    };
    const see = (object: KubeObject) => {
      latest = viewRelease(object);
      options.onChange(object, latest);
      if (settled(latest) && onRevision(latest, options.revision)) finish({ kind: 'settled', view: latest });
    };
    cleanups.push(
      cluster.kube.watch((kind, object, change) => {
        if (kind !== 'CanaryRelease' || object.metadata.name !== name) return;
        if ((object.metadata.namespace ?? '') !== cluster.namespace) return;
        if (change === 'deleted') finish({ kind: 'deleted', namespace: cluster.namespace, name });
        else see(object);
      }),
    );
    cleanups.push(
      env.onInterrupt(() => {
        finish({ kind: 'interrupted' });
      }),
    );
    if (options.timeoutMs !== undefined) {
      const handle = env.timers.setTimeout(() => {
        finish({ kind: 'timeout', view: latest });
      }, options.timeoutMs);
      cleanups.push(() => {
        env.timers.clearTimeout(handle);
      });
    }
    see(first);
  });
}

/** Whether the release reports the canary revision asked for (a prefix is enough, as `get` shortens them). */
export function onRevision(view: ReleaseView, revision: string | undefined): boolean {
  if (revision === undefined) return true;
  const reported = view.status.canaryRevision;
  return reported !== undefined && reported.startsWith(revision);
}

function timedOut(view: ReleaseView, timeoutMs: number, revision: string | undefined): string {
  if (!onRevision(view, revision)) {
    return `timed out after ${formatDuration(timeoutMs)}: ${releaseName(view.namespace, view.name)} still reports canary revision ${shortRevision(view.status.canaryRevision)} (${view.status.phase ?? 'without status'}); the controller has not taken up revision ${revision ?? ''} yet (is it running?)`;
  }
  const where = view.step ? ` at step ${stepOf(view)} (canary ${percent(view.status.canaryWeight)})` : '';
  return `timed out after ${formatDuration(timeoutMs)}: ${releaseName(view.namespace, view.name)} is still ${view.status.phase ?? 'without status'}${where}`;
}

/**
 * The exit code of a follow, for CI pipelines: 0 promoted, 1 rolled back or failed, 2 on timeout,
 * 3 when the release was deleted (nobody can tell how it ended), 130 on Ctrl-C as shells report
 * SIGINT. What went wrong goes to stderr.
 */
export function exitCodeOfFollow(
  end: FollowEnd,
  env: ClusterEnv,
  timeoutMs: number | undefined,
  revision?: string,
): number {
  switch (end.kind) {
    case 'settled':
      return end.view.status.phase === 'Succeeded' ? EXIT.ok : EXIT.failed;
    case 'timeout':
      env.io.stderr(timedOut(end.view, timeoutMs ?? 0, revision));
      return EXIT.timedOut;
    case 'interrupted':
      return EXIT.interrupted;
    case 'deleted':
      env.io.stderr(`${releaseName(end.namespace, end.name)} was deleted before it settled`);
      return EXIT.unknown;
  }
}
