import type { CanaryReleaseSpec, CanaryReleaseStatus } from '../api/canary-release.js';
import { displayUrl, type HookCall, type Webhook } from '../api/webhooks.js';
import { hooksDue, type DueHook } from '../engine/index.js';
import { callHook, DEFAULT_BUDGET_MS } from '../hooks/client.js';
import { hookPayload } from '../hooks/payload.js';
import type { HookMetrics } from '../hooks/metrics.js';
import { decodeSecret, type SecretData } from '../hooks/secrets.js';
import type { KubePort } from '../kube/port.js';
import type { Ref } from '../kube/resources.js';
import type { Logger } from '../telemetry/logger.js';
import type { ReleaseObservation } from './observe.js';

export interface HookRunnerDeps {
  kube: KubePort;
  logger: Logger;
  /** Reads a Secret the cache does not hold (Secrets are watched only with --track-secrets). */
  readSecret?: SecretData;
  /** All of one release's hooks together: they run in parallel, each within this. */
  budgetMs?: number;
  fetch?: typeof fetch;
  metrics?: Pick<HookMetrics, 'called'>;
}

/**
 * Calls the hooks the engine says are due for a release, in parallel and within a time budget, and
 * hands their answers to the engine as observations. A hook never throws into the reconcile: a
 * missing Secret or an unreachable receiver is an answer like any other, with its reason.
 */
export class HookRunner {
  constructor(private readonly deps: HookRunnerDeps) {}

  async run(
    ref: Ref,
    spec: CanaryReleaseSpec,
    status: CanaryReleaseStatus | undefined,
    seen: ReleaseObservation,
    now: Date,
  ): Promise<void> {
    const due = hooksDue(spec, status, now);
    if (!due.length) return;
    const calls = await Promise.all(due.map((d) => this.call(ref, d, status)));
    seen.observations.hooks = calls;
    const log = this.deps.logger.child({ release: `${ref.namespace}/${ref.name}` });
    for (const call of calls) {
      this.deps.metrics?.called(call.type, call);
      const fields = {
        hook: call.name,
        type: call.type,
        gate: call.gate,
        url: call.url,
        statusCode: call.statusCode,
        durationMs: call.durationMs,
        attempts: call.attempts,
      };
      if (call.ok) log.info(fields, `hook ${call.name} answered ${String(call.statusCode)}`);
      else log.warn({ ...fields, error: call.error, body: call.body }, `hook ${call.name} failed`);
    }
  }

  private async call(ref: Ref, due: DueHook, status: CanaryReleaseStatus | undefined): Promise<HookCall> {
    const started = Date.now();
    let headers: Record<string, string> | undefined | null;
    try {
      headers = await this.headers(ref.namespace, due.hook);
    } catch (err) {
      return this.unsent(due, started, `could not read the headers: ${(err as Error).message}`);
    }
    if (headers === null) {
      const secret = due.hook.headersFrom?.secretRef.name ?? '';
      return this.unsent(
        due,
        started,
        `Secret ${ref.namespace}/${secret} (headersFrom) does not exist; create it or remove headersFrom`,
      );
    }
    return callHook(due.hook, due.gate, hookPayload(ref, due.hook, due.gate, status), {
      ...(headers ? { headers } : {}),
      budgetMs: this.deps.budgetMs ?? DEFAULT_BUDGET_MS,
      ...(this.deps.fetch ? { fetch: this.deps.fetch } : {}),
    });
  }

  /** The Secret's keys as headers: from the cache when Secrets are watched, else from the API. Null: no such Secret. */
  private async headers(
    namespace: string,
    hook: Webhook,
  ): Promise<Record<string, string> | undefined | null> {
    const name = hook.headersFrom?.secretRef.name;
    if (name === undefined) return undefined;
    const cached = this.deps.kube.get('Secret', { namespace, name });
    if (cached) return decodeSecret({ data: cached.data, stringData: cached.stringData });
    const read = this.deps.readSecret ? await this.deps.readSecret(namespace, name) : undefined;
    return read ?? null;
  }

  private unsent(due: DueHook, started: number, error: string): HookCall {
    return {
      name: due.hook.name,
      type: due.hook.type,
      url: displayUrl(due.hook.url),
      gate: due.gate,
      ok: false,
      error,
      durationMs: Date.now() - started,
      attempts: 0,
      time: new Date().toISOString(),
    };
  }
}
