import { Counter, Histogram, type Registry } from 'prom-client';
import { HOOK_TYPES, type HookCall, type HookType } from '../api/webhooks.js';

/** What became of a hook call: a 2xx, another answer, or none (timeout, refused, no Secret). */
export const HOOK_OUTCOMES = ['ok', 'failed', 'unanswered'] as const;
export type HookOutcome = (typeof HOOK_OUTCOMES)[number];

export const outcomeOf = (call: HookCall): HookOutcome =>
  call.ok ? 'ok' : call.statusCode !== undefined ? 'failed' : 'unanswered';

/** Prometheus series of webhook calls, by type (never by URL or release: the label sets stay small). */
export class HookMetrics {
  private readonly total: Counter<'type' | 'outcome'>;
  private readonly duration: Histogram<'type'>;

  constructor(registry: Registry) {
    this.total = new Counter({
      name: 'canaria_webhook_calls_total',
      help: 'Webhook calls by hook type and outcome: ok (2xx), failed (another status), unanswered (timeout, refused, missing Secret).',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'canaria_webhook_call_duration_seconds',
      help: 'Duration of one webhook call, retries included, by hook type.',
      labelNames: ['type'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    for (const type of HOOK_TYPES) for (const outcome of HOOK_OUTCOMES) this.total.inc({ type, outcome }, 0);
  }

  called(type: HookType, call: HookCall): void {
    this.total.inc({ type, outcome: outcomeOf(call) });
    this.duration.observe({ type }, call.durationMs / 1000);
  }
}
