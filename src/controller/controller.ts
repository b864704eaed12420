import { schedule, type ScheduledTask } from 'node-cron';
import type { KubePort, WatchHandler } from '../kube/port.js';
import { parseRefKey, refKey, refOf, type KubeObject } from '../kube/resources.js';
import type { Logger } from '../telemetry/logger.js';
import type { ControllerMetrics } from '../telemetry/metrics.js';
import { dependents } from './dependents.js';
import { Superseded, WorkQueue, type Priority, type Run, type Timers } from './queue.js';
import type { Reconciler } from './reconciler.js';

export interface ControllerOptions {
  kube: KubePort;
  reconciler: Reconciler;
  logger: Logger;
  metrics?: ControllerMetrics;
  /** Releases reconciled at once. */
  concurrency?: number;
  /** Cron expression of the periodic resync of every release; undefined turns it off. */
  resyncSchedule?: string;
  timers?: Timers;
  /** Whether this controller's shard acts on a release; all releases when undefined. */
  owns?: (release: KubeObject) => boolean;
}

/**
 * Turns watch events into work: every change of a release, or of something a release reads, puts
 * that release on the queue; the reconciler's answer schedules the next look. A change of a
 * release's spec is a user's doing (an abort, a pause, a new strategy) and goes ahead of the
 * routine analyses.
 */
export class Controller {
  readonly queue: WorkQueue;
  private unwatch: (() => void) | undefined;
  private resync: ScheduledTask | undefined;
  /** By release: the metadata.generation last seen, to tell a spec change from any other event. */
  private readonly generations = new Map<string, number | undefined>();

  constructor(private readonly options: ControllerOptions) {
    this.queue = new WorkQueue((key, run) => this.run(key, run), {
      concurrency: options.concurrency ?? 8,
      ...(options.timers ? { timers: options.timers } : {}),
      onError: (key, error, retryInMs) => {
        options.logger.error({ release: key, err: error, retryInMs }, 'reconcile failed; retrying');
      },
    });
  }

  private readonly owns = (release: KubeObject): boolean => this.options.owns?.(release) ?? true;
  /** Releases being reconciled, and the events each got meanwhile (see `afterwards`). */
  private readonly reconciling = new Set<string>();
  private readonly heldEvents = new Map<
    string,
    { resourceVersion: string | undefined; priority: Priority; count: number }
  >();

  private async run(key: string, run: Run): Promise<number | null> {
    // queued or timed before a re-label moved it to another shard: that shard acts on it now
    if (this.options.owns) {
      const release = this.options.kube.get('CanaryRelease', parseRefKey(key));
      if (release && !this.options.owns(release)) return null;
    }
    const end = this.options.metrics?.reconcileDuration.startTimer();
    this.reconciling.add(key);
    try {
      const next = await this.options.reconciler.reconcile(key, run);
      end?.({ result: 'ok' });
      return next;
    } catch (err) {
      // a superseded reconcile is neither: the one the user's change asked for follows at once
      if (!(err instanceof Superseded)) end?.({ result: 'error' });
      throw err;
    } finally {
      this.reconciling.delete(key);
      this.afterwards(key);
      this.options.metrics?.queueDepth.set(this.queue.depth);
    }
  }

  /**
   * The events of a release that came while it was reconciled, decided once the reconcile is over:
   * its own status write may come back through the watch before the write's answer does (at once
   * from an in-memory cache, and often from the API server too), when it cannot yet be told from
   * someone else's change. One event that turns out to be that echo wakes nothing.
   */
  private afterwards(key: string): void {
    const held = this.heldEvents.get(key);
    if (!held) return;
    this.heldEvents.delete(key);
    if (held.count === 1 && this.options.reconciler.echoOf(key, held.resourceVersion)) return;
    this.queue.add(key, held.priority);
  }

  start(): void {
    const { kube, logger } = this.options;
    this.unwatch = kube.watch((kind, object, change) => {
      if (kind === 'CanaryRelease' && !this.owns(object)) {
        this.queue.forget(refKey(refOf(object)));
        this.generations.delete(refKey(refOf(object)));
        return;
      }
      // our own status write coming back: the reconcile that wrote it has already scheduled the next look
      if (
        kind === 'CanaryRelease' &&
        change !== 'deleted' &&
        this.options.reconciler.echoOf(refKey(refOf(object)), object.metadata.resourceVersion)
      ) {
        return;
      }
      const priority = kind === 'CanaryRelease' ? this.releasePriority(object, change) : 'low';
      if (kind === 'CanaryRelease' && change !== 'deleted') {
        const key = refKey(refOf(object));
        // a spec change is never our own write: it goes to the queue at once, which stops a
        // reconcile waiting for its batch and runs the release again ahead of the routine work
        if (this.reconciling.has(key) && priority !== 'high') {
          const held = this.heldEvents.get(key);
          this.heldEvents.set(key, {
            resourceVersion: object.metadata.resourceVersion,
            priority: held?.priority === 'high' ? 'high' : priority,
            count: (held?.count ?? 0) + 1,
          });
          return;
        }
      }
      for (const key of dependents(kube, kind, object, this.owns, (k) =>
        this.options.reconciler.interestOf(k),
      )) {
        if (kind === 'CanaryRelease' && change === 'deleted') this.queue.forget(key);
        this.queue.add(key, priority);
      }
      this.options.metrics?.queueDepth.set(this.queue.depth);
    });
    this.resyncAll();
    if (this.options.resyncSchedule) {
      this.resync = schedule(this.options.resyncSchedule, () => {
        this.resyncAll();
      });
    }
    logger.info({ releases: kube.list('CanaryRelease').length }, 'controller started');
  }

  /**
   * High when the release's generation moved since it was last seen: the API server counts spec
   * changes only, so a status write, a label or a resync's replay stays routine. A release seen for
   * the first time is routine too: a new rollout starts at weight 0 and is in no hurry.
   */
  private releasePriority(release: KubeObject, change: Parameters<WatchHandler>[2]): Priority {
    const key = refKey(refOf(release));
    if (change === 'deleted') {
      this.generations.delete(key);
      return 'low';
    }
    const generation = release.metadata.generation;
    const known = this.generations.has(key);
    const before = this.generations.get(key);
    this.generations.set(key, generation);
    return known && generation !== before ? 'high' : 'low';
  }

  /** Puts every release on the queue: the safety net under the watches. */
  resyncAll(): void {
    for (const release of this.options.kube.list('CanaryRelease')) {
      if (!this.owns(release)) continue;
      const key = refKey(refOf(release));
      // first sightings only: a generation the watch has not brought yet is a change when it does
      if (!this.generations.has(key)) this.generations.set(key, release.metadata.generation);
      this.queue.add(key);
    }
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    await this.resync?.stop();
    await this.queue.stop();
  }
}
