import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { OUTCOMES, type DeliveryHooks } from './delivery.js';

/** Prometheus series of notification delivery, on the controller's registry. */
export class NotificationMetrics implements DeliveryHooks {
  private readonly total: Counter<'sink' | 'outcome'>;
  private readonly retries: Counter<'sink'>;
  private readonly depth: Gauge<'sink'>;
  private readonly duration: Histogram<'sink'>;

  constructor(registry: Registry) {
    this.total = new Counter({
      name: 'canaria_notifications_total',
      help: 'Notifications by sink and what became of them: sent, failed, rejected, dropped (queue full), deduplicated, filtered (severity), unconfigured (no URL).',
      labelNames: ['sink', 'outcome'],
      registers: [registry],
    });
    this.retries = new Counter({
      name: 'canaria_notification_retries_total',
      help: 'Attempts to send a notification again after a failure, by sink.',
      labelNames: ['sink'],
      registers: [registry],
    });
    this.depth = new Gauge({
      name: 'canaria_notification_queue_depth',
      help: 'Notifications waiting to be sent, by sink.',
      labelNames: ['sink'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'canaria_notification_attempt_duration_seconds',
      help: 'Duration of one attempt to send a notification, answered or not, by sink.',
      labelNames: ['sink'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
  }

  /** A sink's series exist from the start, so rate() sees the first notification. */
  register(sink: string): void {
    for (const outcome of OUTCOMES) this.total.inc({ sink, outcome }, 0);
    this.retries.inc({ sink }, 0);
    this.depth.set({ sink }, 0);
  }

  outcome(sink: string, outcome: (typeof OUTCOMES)[number]): void {
    this.total.inc({ sink, outcome });
  }
  retry(sink: string): void {
    this.retries.inc({ sink });
  }
  queueDepth(sink: string, depth: number): void {
    this.depth.set({ sink }, depth);
  }
  attempt(sink: string, seconds: number): void {
    this.duration.observe({ sink }, seconds);
  }
}
