import { schedule, type ScheduledTask } from 'node-cron';
import type { IstioRouting } from '../api/canary-release.js';
import type { KubePort } from '../kube/port.js';
import { refKey, refOf, type Kind, type KubeObject } from '../kube/resources.js';
import type { Logger } from '../telemetry/logger.js';
import type { ControllerMetrics } from '../telemetry/metrics.js';
import { WorkQueue, type Timers } from './queue.js';
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
}

/** The releases in a namespace that may care about a change of `object`. */
function dependents(kube: KubePort, kind: Kind, object: KubeObject): string[] {
  const namespace = object.metadata.namespace ?? '';
  if (kind === 'CanaryRelease') return [refKey({ namespace, name: object.metadata.name })];
  const releases =
    kind === 'ClusterAnalysisTemplate' ? kube.list('CanaryRelease') : kube.list('CanaryRelease', namespace);
  return releases
    .filter((release) => {
      // a spec may not parse yet; a loose look is enough to route the event
      const istio = (release.spec as { trafficRouting?: { istio?: Partial<IstioRouting> } } | undefined)
        ?.trafficRouting?.istio;
      if (kind === 'VirtualService') return istio?.virtualService?.name === object.metadata.name;
      if (kind === 'DestinationRule') return istio?.destinationRule?.name === object.metadata.name;
      // Deployments and templates: cheap to over-approximate, reconciles are idempotent
      return true;
    })
    .map((release) => refKey(refOf(release)));
}

/**
 * Turns watch events into work: every change of a release, or of something a release reads, puts
 * that release on the queue; the reconciler's answer schedules the next look.
 */
export class Controller {
  readonly queue: WorkQueue;
  private unwatch: (() => void) | undefined;
  private resync: ScheduledTask | undefined;

  constructor(private readonly options: ControllerOptions) {
    this.queue = new WorkQueue((key) => this.run(key), {
      concurrency: options.concurrency ?? 8,
      ...(options.timers ? { timers: options.timers } : {}),
      onError: (key, error, retryInMs) => {
        options.logger.error({ release: key, err: error, retryInMs }, 'reconcile failed; retrying');
      },
    });
  }

  private async run(key: string): Promise<number | null> {
    const end = this.options.metrics?.reconcileDuration.startTimer();
    try {
      const next = await this.options.reconciler.reconcile(key);
      end?.({ result: 'ok' });
      return next;
    } catch (err) {
      end?.({ result: 'error' });
      throw err;
    } finally {
      this.options.metrics?.queueDepth.set(this.queue.depth);
    }
  }

  start(): void {
    const { kube, logger } = this.options;
    this.unwatch = kube.watch((kind, object, change) => {
      for (const key of dependents(kube, kind, object)) {
        if (kind === 'CanaryRelease' && change === 'deleted') this.queue.forget(key);
        this.queue.add(key);
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

  /** Puts every release on the queue: the safety net under the watches. */
  resyncAll(): void {
    for (const release of this.options.kube.list('CanaryRelease')) {
      this.queue.add(refKey(refOf(release)));
    }
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    await this.resync?.stop();
    await this.queue.stop();
  }
}
