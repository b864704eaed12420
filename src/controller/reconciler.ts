import {
  canaryReleaseStatus,
  type CanaryReleaseSpec,
  type CanaryReleaseStatus,
} from '../api/canary-release.js';
import { parseCanaryReleaseSpec } from '../api/validation.js';
import { analysisWindow, decide, rejectSpec } from '../engine/decide.js';
import type { Action, Decision } from '../engine/types.js';
import { planRoutingPatch } from '../istio/patch.js';
import { KubeError } from '../kube/errors.js';
import { jsonEqual } from '../kube/json-patch.js';
import type { KubePort } from '../kube/port.js';
import { parseRefKey, type KubeObject, type Ref } from '../kube/resources.js';
import type { Logger } from '../telemetry/logger.js';
import type { ControllerMetrics } from '../telemetry/metrics.js';
import type { MeasureBatcher } from './measure-batcher.js';
import { observeRelease, type ReleaseObservation } from './observe.js';

export interface ReconcilerDeps {
  kube: KubePort;
  measurer: MeasureBatcher;
  clock: () => Date;
  logger: Logger;
  metrics?: ControllerMetrics;
}

/** How soon to look again after someone else changed the VirtualService under us. */
const CONFLICT_RETRY_MS = 1_000;

/**
 * One reconcile of one CanaryRelease: read it and what it points at from the caches, measure the
 * window the engine asks for, let `decide` choose, carry out the actions, write the status. Level
 * based: running it twice in a row changes nothing the second time.
 */
export class Reconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(key: string): Promise<number | null> {
    const ref = parseRefKey(key);
    const object = this.deps.kube.get('CanaryRelease', ref);
    if (!object) {
      this.deps.metrics?.forget(ref.namespace, ref.name);
      return null;
    }
    const log = this.deps.logger.child({ release: key, generation: object.metadata.generation });
    const parsedStatus = canaryReleaseStatus.safeParse(object.status ?? {});
    const status = parsedStatus.success ? parsedStatus.data : undefined;
    const now = this.deps.clock();
    const parsed = parseCanaryReleaseSpec(object.spec);

    let decision: Decision;
    let seen: ReleaseObservation | undefined;
    if (!parsed.ok) {
      decision = rejectSpec(status, parsed.issues, object.metadata.generation, now);
    } else {
      seen = observeRelease(this.deps.kube, ref.namespace, parsed.value);
      if (object.metadata.generation !== undefined) seen.observations.generation = object.metadata.generation;
      await this.measure(ref, parsed.value, status, seen, now);
      decision = decide(parsed.value, status, seen.observations, now);
    }

    let requeue = decision.requeueAfterMs;
    for (const action of decision.actions) {
      const retry = await this.carryOut(action, object, parsed.ok ? parsed.value : undefined, seen, log);
      if (retry !== null) requeue = requeue === null ? retry : Math.min(requeue, retry);
    }
    if (!jsonEqual(status ?? {}, decision.status)) {
      await this.deps.kube.writeReleaseStatus(ref, decision.status);
    }
    this.deps.metrics?.observe(ref.namespace, ref.name, status, decision.status);
    const last = decision.status.decisions?.at(-1);
    log.debug(
      {
        phase: decision.status.phase,
        step: decision.status.currentStepIndex,
        weight: decision.status.canaryWeight,
        requeueAfterMs: requeue,
      },
      last?.message ?? 'reconciled',
    );
    return requeue;
  }

  private async measure(
    ref: Ref,
    spec: CanaryReleaseSpec,
    status: CanaryReleaseStatus | undefined,
    seen: ReleaseObservation,
    now: Date,
  ): Promise<void> {
    const window = analysisWindow(spec, status, now);
    const { canary, stable } = seen.reported;
    if (!window || !seen.metrics.length || !canary || !stable || !spec.analysis) return;
    const measurements = await this.deps.measurer.measure({
      key: `${ref.namespace}/${ref.name}`,
      name: ref.name,
      namespace: ref.namespace,
      service: seen.service,
      canaryRevision: canary,
      stableRevision: stable,
      windowStart: window.start,
      now: window.end,
      metrics: seen.metrics,
      revisionLabel: spec.analysis.revisionLabel,
      reporter: spec.analysis.reporter,
    });
    seen.observations.analysis = { metrics: seen.metrics, measurements };
  }

  /** Carries out one action; returns a requeue delay when it could not be done yet. */
  private async carryOut(
    action: Action,
    release: KubeObject,
    spec: CanaryReleaseSpec | undefined,
    seen: ReleaseObservation | undefined,
    log: Logger,
  ): Promise<number | null> {
    if (action.type === 'event') {
      log.info({ reason: action.reason, severity: action.severity }, action.message);
      try {
        await this.deps.kube.recordEvent(release, action);
      } catch (err) {
        // an Event is evidence, not state: losing one must not stop the rollout
        log.warn({ err }, 'could not record the Event');
      }
      return null;
    }
    const vs = seen?.virtualService;
    if (!spec || !vs) return null;
    const plan = planRoutingPatch(vs, spec.trafficRouting.istio, action.routing);
    if (!plan.ok) {
      log.error({ err: plan.error }, `cannot plan the routing: ${plan.error.message}`);
      return CONFLICT_RETRY_MS * 30;
    }
    if (!plan.value.length) return null;
    try {
      await this.deps.kube.patch(
        'VirtualService',
        { namespace: vs.metadata.namespace ?? release.metadata.namespace ?? '', name: vs.metadata.name },
        plan.value,
      );
      log.info({ routing: action.routing }, 'patched the VirtualService');
      return null;
    } catch (err) {
      if (err instanceof KubeError && err.code === 'Conflict') {
        // someone edited the VirtualService since the cache saw it: re-read and re-plan, never overwrite
        log.info({ err: err.message }, 'the VirtualService changed under us; planning again');
        return CONFLICT_RETRY_MS;
      }
      throw err;
    }
  }
}
