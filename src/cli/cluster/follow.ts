import type { KubeObject } from '../../kube/resources.js';
import { formatDuration } from '../../api/duration.js';
import type { ClusterEnv } from './env.js';
import { releaseName } from './errors.js';
import { percent, settled, stepOf, viewRelease, type ReleaseView } from './release-view.js';
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
  options: { timeoutMs?: number | undefined; onChange(object: KubeObject, view: ReleaseView): void },
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
      if (settled(latest)) finish({ kind: 'settled', view: latest });
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

function timedOut(view: ReleaseView, timeoutMs: number): string {
  const where = view.step ? ` at step ${stepOf(view)} (canary ${percent(view.status.canaryWeight)})` : '';
  return `timed out after ${formatDuration(timeoutMs)}: ${releaseName(view.namespace, view.name)} is still ${view.status.phase ?? 'without status'}${where}`;
}

/**
 * The exit code of a follow, for CI pipelines: 0 promoted, 1 rolled back, failed or deleted, 2 on
 * timeout, 130 on Ctrl-C as shells report SIGINT. What went wrong goes to stderr.
 */
export function exitCodeOfFollow(end: FollowEnd, env: ClusterEnv, timeoutMs: number | undefined): number {
  switch (end.kind) {
    case 'settled':
      return end.view.status.phase === 'Succeeded' ? 0 : 1;
    case 'timeout':
      env.io.stderr(timedOut(end.view, timeoutMs ?? 0));
      return 2;
    case 'interrupted':
      return 130;
    case 'deleted':
      env.io.stderr(`${releaseName(end.namespace, end.name)} was deleted`);
      return 1;
  }
}
