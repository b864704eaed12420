import { readFile } from 'node:fs/promises';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import { SinkDelivery, type DeliveryHooks, type DeliveryOptions } from './delivery.js';
import { notificationsFor, type ReleaseIdentity } from './message.js';
import { RELEASE_SINK_DEFAULTS, notifier, type OperatorSink, type ReleaseSink } from './registry.js';
import type { SecretReader } from './secrets.js';

export interface NotificationsDeps extends DeliveryOptions {
  sinks: readonly OperatorSink[];
  /** Reads a release's Secret; without it, releases' own sinks are ignored (and logged). */
  secrets?: SecretReader;
  /** canaria_notifications_total and friends; also the delivery hooks unless `hooks` is given. */
  metrics?: DeliveryHooks & { register(sink: string): void };
}

/**
 * The controller's notifications: after each reconcile, the decisions it added become notifications
 * offered to every operator sink and to the release's own sinks. `decided` is synchronous and never
 * throws: it only enqueues; the sending happens on each sink's own loop.
 */
export class Notifications {
  private readonly operator: SinkDelivery[];
  private readonly releaseSinks = new Map<string, { config: string; delivery: SinkDelivery }>();

  private readonly options: DeliveryOptions;

  constructor(private readonly deps: NotificationsDeps) {
    this.options = {
      ...deps,
      ...((deps.hooks ?? deps.metrics) ? { hooks: deps.hooks ?? deps.metrics } : {}),
    };
    this.operator = deps.sinks.map((sink) => {
      deps.metrics?.register(sink.name);
      return new SinkDelivery(
        {
          sink: sink.name,
          notifier: notifier(sink.type),
          settings: sink,
          url: async () => (await readFile(sink.urlFile, 'utf8')).trim() || undefined,
        },
        this.options,
      );
    });
  }

  /** Offers the notifications `next` calls for; returns how many it offered (to how many sinks). */
  decided(
    release: ReleaseIdentity,
    spec: { notifications?: { sinks: readonly ReleaseSink[] } | undefined } | undefined,
    previous: CanaryReleaseStatus | undefined,
    next: CanaryReleaseStatus,
  ): number {
    try {
      const notifications = notificationsFor(release, previous, next);
      if (!notifications.length) return 0;
      const sinks = [...this.operator, ...this.forRelease(release, spec?.notifications?.sinks ?? [])];
      for (const n of notifications) for (const sink of sinks) sink.offer(n);
      return notifications.length * sinks.length;
    } catch (err) {
      // a notification is news, not state: nothing here may fail a reconcile
      this.deps.logger.error({ err }, 'could not queue the notifications');
      return 0;
    }
  }

  /**
   * A release is gone: its own sinks deliver what they hold, then go, so a controller that outlives
   * many releases does not keep a queue for each of them.
   */
  forget(release: ReleaseIdentity): void {
    const prefix = `${release.namespace}/${release.name}/`;
    for (const [key, { delivery }] of this.releaseSinks) {
      if (!key.startsWith(prefix)) continue;
      this.releaseSinks.delete(key);
      void delivery.idle().then(() => delivery.close());
    }
  }

  /** How many release sinks are kept (tests). */
  get releaseSinkCount(): number {
    return this.releaseSinks.size;
  }

  async idle(): Promise<void> {
    await Promise.all(this.all().map((s) => s.idle()));
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((s) => s.close()));
  }

  private all(): SinkDelivery[] {
    return [...this.operator, ...[...this.releaseSinks.values()].map((s) => s.delivery)];
  }

  /**
   * The release's own sinks. Their URL is read only from the Secret the sink names, in the release's
   * namespace: a release can never point an operator's sink (or its credentials) at an address of its
   * choosing, nor read a Secret of another namespace.
   */
  private forRelease(release: ReleaseIdentity, sinks: readonly ReleaseSink[]): SinkDelivery[] {
    const { secrets } = this.deps;
    if (!sinks.length) return [];
    if (!secrets) {
      this.deps.logger.warn(
        { release: `${release.namespace}/${release.name}` },
        'release sinks need Secret access; ignored',
      );
      return [];
    }
    return sinks.map((sink) => {
      const key = `${release.namespace}/${release.name}/${sink.name}`;
      const config = JSON.stringify(sink);
      const known = this.releaseSinks.get(key);
      if (known?.config === config) return known.delivery;
      if (known) void known.delivery.close();
      this.deps.metrics?.register(key);
      const delivery = new SinkDelivery(
        {
          sink: key,
          notifier: notifier(sink.type),
          settings: { ...RELEASE_SINK_DEFAULTS, severity: sink.severity },
          url: (signal) => secrets(release.namespace, sink.secretRef.name, sink.secretRef.key, signal),
        },
        this.options,
      );
      this.releaseSinks.set(key, { config, delivery });
      return delivery;
    });
  }
}
