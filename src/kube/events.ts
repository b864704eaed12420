import type { KubeEvent } from './port.js';
import type { KubeObject } from './resources.js';

/**
 * Events are aggregated as client-go's EventCorrelator does: an Event with the same type, reason and
 * message about the same object as one recorded before is not a new Event but a repeat of that one,
 * so the adapter bumps its `count` and `lastTimestamp`. A hold that says the same thing every
 * interval for ten hours is then one Event with a count, not 600, and `kubectl describe` shows
 * "x600 over 10h". The memory is per process and bounded, as client-go's LRU is: after a restart, or
 * once a key is evicted, the next repeat starts a new Event.
 */
export const EVENT_CACHE_SIZE = 4096;

/** What is known of an Event already stored: its name, to patch it, and how often it happened. */
export interface RecordedEvent {
  name: string;
  count: number;
  firstTimestamp: string;
}

/** What to do for one occurrence. */
export type EventPlan =
  | { op: 'create'; key: string }
  | { op: 'update'; key: string; name: string; count: number; firstTimestamp: string };

export class EventCorrelator {
  /** Insertion order is recency: a hit moves the key to the end, the oldest key is evicted first. */
  private readonly recorded = new Map<string, RecordedEvent>();

  constructor(private readonly capacity = EVENT_CACHE_SIZE) {}

  /** The same object (by uid when it has one), type, reason and message is the same Event. */
  static keyOf(object: KubeObject, event: KubeEvent, message = event.message): string {
    const { namespace = '', name, uid } = object.metadata;
    return JSON.stringify([
      object.kind ?? '',
      namespace,
      name,
      uid ?? '',
      event.severity,
      event.reason,
      message,
    ]);
  }

  plan(object: KubeObject, event: KubeEvent, message = event.message): EventPlan {
    const key = EventCorrelator.keyOf(object, event, message);
    const known = this.recorded.get(key);
    if (!known) return { op: 'create', key };
    return {
      op: 'update',
      key,
      name: known.name,
      count: known.count + 1,
      firstTimestamp: known.firstTimestamp,
    };
  }

  /** Remembers what was stored for `key` (after a create or an update reached the API server). */
  stored(key: string, event: RecordedEvent): void {
    this.recorded.delete(key);
    this.recorded.set(key, event);
    while (this.recorded.size > this.capacity) {
      const oldest = this.recorded.keys().next();
      if (oldest.done) break;
      this.recorded.delete(oldest.value);
    }
  }

  /** Forgets an Event the API server no longer has (Events expire, one hour by default). */
  forget(key: string): void {
    this.recorded.delete(key);
  }
}
