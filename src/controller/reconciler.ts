import {
  canaryReleaseStatus,
  type CanaryReleaseSpec,
  type CanaryReleaseStatus,
  type RoutingState,
} from '../api/canary-release.js';
import { DEFAULT_METRICS_PROVIDER } from '../api/analysis-template.js';
import { parseCanaryReleaseSpec } from '../api/validation.js';
import { analysisWindow, decide, rejectSpec } from '../engine/decide.js';
import { StatusDraft } from '../engine/draft.js';
import { decideDeletion } from '../engine/managed.js';
import type { Action, Decision } from '../engine/types.js';
import { planRoutingPatch } from '../istio/patch.js';
import { KubeError } from '../kube/errors.js';
import { jsonEqual } from '../kube/json-patch.js';
import type { KubePort } from '../kube/port.js';
import { parseRefKey, refOf, type KubeObject, type Ref } from '../kube/resources.js';
import type { Logger } from '../telemetry/logger.js';
import type { ControllerMetrics } from '../telemetry/metrics.js';
import type { MeasureBatcher } from './measure-batcher.js';
import type { Notifications } from '../notify/service.js';
import { planPrimaryAutoscaler, primaryAutoscalers } from '../managed/autoscaler.js';
import { primaryConfigCopies } from '../managed/configs.js';
import { FINALIZER, primaryName } from '../managed/labels.js';
import { newPrimary, promotedTemplate, promotePatch, revertPatch, scalePatch } from '../managed/primary.js';
import { pointSubsetsPatch } from '../managed/subsets.js';
import { observeRelease, type ManagedWorkloads, type ReleaseObservation } from './observe.js';

export interface ReconcilerDeps {
  kube: KubePort;
  measurer: MeasureBatcher;
  clock: () => Date;
  logger: Logger;
  metrics?: ControllerMetrics;
  /** Whether Secrets count in a managed revision; the controller then needs to read them. */
  trackSecrets?: boolean;
  /** The names of the metrics providers the controller has; `default` only when absent. */
  metricsProviders?: readonly string[];
  /** False: releases with a targetRef are refused, and nothing of managed mode is read or written. */
  managedMode?: boolean;
  /** Slack, Teams, CloudEvents: told about each decision, without waiting for them. */
  notifications?: Pick<Notifications, 'decided'>;
}

/** How soon to look again after someone else changed the VirtualService under us. */
const CONFLICT_RETRY_MS = 1_000;
/** How soon to try again what the API server refused: a fix (RBAC, a webhook) takes a human. */
const REFUSED_RETRY_MS = 30_000;
/**
 * How soon to look again when the cache is behind the release (our own write is not back yet, or a
 * status write met a newer release). The watch event that brings the cache up to date wakes the
 * release anyway; this is the net under it.
 */
const STALE_RETRY_MS = 1_000;

/**
 * One reconcile of one CanaryRelease: read it and what it points at from the caches, measure the
 * window the engine asks for, let `decide` choose, carry out the actions, write the status. Level
 * based: running it twice in a row changes nothing the second time.
 */
export class Reconciler {
  /**
   * By release: the resourceVersions this controller knows are no longer the release's, because its
   * own writes (a status, a finalizer) or a conflict replaced them. A cache still holding one of them
   * has not seen our last write come back through the watch; deciding from it would decide the same
   * step again. resourceVersions are opaque, so the test is membership, never order: a version not in
   * the set is the one we wrote or a newer one (a write that succeeded was conditional on the version
   * before it, so nothing came in between).
   */
  private readonly superseded = new Map<string, Set<string>>();

  constructor(private readonly deps: ReconcilerDeps) {}

  private get managedMode(): boolean {
    return this.deps.managedMode ?? true;
  }

  async reconcile(key: string): Promise<number | null> {
    const ref = parseRefKey(key);
    const cached = this.deps.kube.get('CanaryRelease', ref);
    if (!cached) {
      this.superseded.delete(key);
      this.deps.metrics?.forget(ref.namespace, ref.name);
      return null;
    }
    const log = this.deps.logger.child({ release: key, generation: cached.metadata.generation });
    const version = cached.metadata.resourceVersion;
    const stale = this.superseded.get(key);
    if (stale && version !== undefined && stale.has(version)) {
      log.debug({ resourceVersion: version }, 'the cache has not seen our last write yet; waiting for it');
      return STALE_RETRY_MS;
    }
    this.superseded.delete(key);
    let object = cached;
    const parsedStatus = canaryReleaseStatus.safeParse(object.status ?? {});
    const status = parsedStatus.success ? parsedStatus.data : undefined;
    const now = this.deps.clock();
    const parsed = parseCanaryReleaseSpec(object.spec);

    const deletedAt = object.metadata.deletionTimestamp as string | undefined;
    const finalizers = (object.metadata.finalizers as string[] | undefined) ?? [];
    // a release being deleted is only ours to hold while our finalizer is on it
    if (deletedAt !== undefined && !finalizers.includes(FINALIZER)) return null;

    let decision: Decision;
    let seen: ReleaseObservation | undefined;
    /** What the API server refused and retrying will not change (RBAC, validation). */
    const refusals: string[] = [];
    if (!parsed.ok) {
      decision =
        deletedAt === undefined
          ? rejectSpec(status, parsed.issues, object.metadata.generation, now)
          : { status: status ?? {}, actions: [{ type: 'removeFinalizer' }], requeueAfterMs: null };
    } else {
      seen = observeRelease(this.deps.kube, ref.namespace, parsed.value, {
        release: ref.name,
        trackSecrets: this.deps.trackSecrets ?? false,
        metricsProviders: this.deps.metricsProviders ?? [DEFAULT_METRICS_PROVIDER],
        managedMode: this.managedMode,
      });
      if (object.metadata.generation !== undefined) seen.observations.generation = object.metadata.generation;
      if (deletedAt !== undefined && parsed.value.targetRef && !this.managedMode) {
        // without managed mode's permissions nothing can be handed back: the primary keeps serving
        const primary = primaryName(parsed.value.targetRef.name);
        const message = `managed mode is turned off in this controller (--managed-mode=false): traffic stays where it is and ${primary} is kept; delete it yourself once nothing routes to it`;
        decision = {
          status: status ?? {},
          actions: [
            { type: 'event', severity: 'Warning', reason: 'ManagedModeOff', message },
            { type: 'removeFinalizer' },
          ],
          requeueAfterMs: null,
        };
      } else if (deletedAt !== undefined) {
        decision = decideDeletion(parsed.value, status, seen.observations, new Date(deletedAt), now);
      } else {
        // before canaria creates anything, so that deleting the release always restores the traffic
        if (parsed.value.targetRef && this.managedMode && !finalizers.includes(FINALIZER)) {
          const patched = await this.refused(refusals, 'add the finalizer', () => this.addFinalizer(object));
          if (patched) {
            this.supersede(key, object.metadata.resourceVersion);
            object = patched;
          }
        }
        await this.measure(ref, parsed.value, status, seen, now);
        decision = decide(parsed.value, status, seen.observations, now);
      }
    }

    let requeue = decision.requeueAfterMs;
    const released = decision.actions.some((action) => action.type === 'removeFinalizer');
    // An Event tells of a decision, so it goes out once the status that holds the decision is written:
    // a decision the API server turns down (the release changed meanwhile) leaves no Event behind.
    // Once released, the release may be gone and no status is written; the Events keep the last word.
    const events: Action[] = released ? [] : decision.actions.filter((action) => action.type === 'event');
    for (const action of decision.actions) {
      if (!released && action.type === 'event') continue;
      const retry = await this.refused(refusals, action.type, () =>
        this.carryOut(action, object, parsed.ok ? parsed.value : undefined, seen, log),
      );
      if (retry === undefined)
        requeue = requeue === null ? REFUSED_RETRY_MS : Math.min(requeue, REFUSED_RETRY_MS);
      else if (retry !== null) requeue = requeue === null ? retry : Math.min(requeue, retry);
    }
    const managed = seen?.managed;
    if (deletedAt === undefined && managed) {
      await this.refused(refusals, 'mirror the autoscaler', () =>
        this.mirrorAutoscaler(object, managed, log),
      );
    }
    const warning = this.reportRefusals(decision, refusals, now, log);
    if (warning) events.push(warning);
    if (!released && !jsonEqual(status ?? {}, decision.status)) {
      const base = object.metadata.resourceVersion;
      try {
        const written = await this.deps.kube.writeReleaseStatus(ref, decision.status, {
          ...(base !== undefined ? { resourceVersion: base } : {}),
        });
        if (written !== base) this.supersede(key, base);
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 'Conflict')) throw err;
        // the release changed since the cache saw it: decide again from the release as it is now
        this.supersede(key, base);
        log.info({ err: err.message }, 'the release changed since it was read; deciding again');
        return STALE_RETRY_MS;
      }
    }
    for (const event of events) await this.carryOut(event, object, undefined, seen, log);
    // after the status is written, so a reconcile that failed before does not announce a decision twice
    this.deps.notifications?.decided(ref, parsed.ok ? parsed.value : undefined, status, decision.status);
    const sighting = seen && parsed.ok ? { ...seen, analysis: parsed.value.analysis } : undefined;
    this.deps.metrics?.observe(ref.namespace, ref.name, status, decision.status, sighting);
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

  /** Notes that `version` of the release is gone, replaced by a write (or found replaced by a conflict). */
  private supersede(key: string, version: string | undefined): void {
    if (version === undefined) return;
    const versions = this.superseded.get(key) ?? new Set<string>();
    versions.add(version);
    this.superseded.set(key, versions);
  }

  /**
   * Runs `fn`; an error the API server will repeat on retry (Forbidden, Invalid) is collected for the
   * status instead of thrown, so the release says what is missing. Undefined when it was refused.
   */
  private async refused<T>(refusals: string[], what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof KubeError) || err.retryable || err.code === 'NotFound') throw err;
      const hint =
        err.code === 'Forbidden'
          ? ' (the controller lacks this permission: grant it in the rules of charts/canaria/files/rbac-*.yaml)'
          : '';
      refusals.push(`${what}: ${err.message}${hint}`);
      return undefined;
    }
  }

  /** The `Applied` condition says whether the API server carried out what canaria decided. */
  private reportRefusals(decision: Decision, refusals: string[], now: Date, log: Logger): Action | undefined {
    const draft = new StatusDraft(decision.status, now);
    const was = decision.status.conditions?.find((c) => c.type === 'Applied');
    let warning: Action | undefined;
    if (refusals.length) {
      const message = `the API server refused: ${refusals.join('; ')}`;
      draft.condition('Applied', 'False', 'Refused', message);
      if (was?.message !== message) {
        log.error({ refusals }, message);
        warning = { type: 'event', severity: 'Warning', reason: 'Refused', message };
      }
    } else if (was?.status === 'False') {
      draft.condition('Applied', 'True', 'Applied', 'the API server carried out every action');
    } else {
      return undefined;
    }
    decision.status = draft.status;
    return warning;
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
      since: window.since,
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
    switch (action.type) {
      case 'setRouting':
        return this.route(action.routing, release, spec, seen, log);
      case 'removeFinalizer':
        await this.removeFinalizer(release);
        return null;
      case 'syncPrimary':
      case 'pointSubsets':
      case 'scaleCanary':
      case 'revertTarget':
      case 'deletePrimary':
        return seen?.managed ? this.manage(action, release, seen, seen.managed, log) : null;
    }
  }

  private async route(
    routing: RoutingState,
    release: KubeObject,
    spec: CanaryReleaseSpec | undefined,
    seen: ReleaseObservation | undefined,
    log: Logger,
  ): Promise<number | null> {
    const vs = seen?.virtualService;
    if (!spec || !vs) return null;
    const plan = planRoutingPatch(vs, spec.trafficRouting.istio, routing);
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
      log.info({ routing }, 'patched the VirtualService');
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

  /** Managed mode: carries out a workload action on what this reconcile saw. */
  private async manage(
    action: Exclude<Action, { type: 'setRouting' | 'event' | 'removeFinalizer' }>,
    release: KubeObject,
    seen: ReleaseObservation,
    workloads: ManagedWorkloads,
    log: Logger,
  ): Promise<number | null> {
    const { kube } = this.deps;
    const { target, primary } = workloads;
    const namespace = target.metadata.namespace ?? '';
    const targetRef = { namespace, name: target.metadata.name };
    try {
      switch (action.type) {
        case 'syncPrimary': {
          // the Deployment moved on since `decide` looked: the next reconcile plans with the new one
          if (seen.observations.canaryRevision !== action.revision) return CONFLICT_RETRY_MS;
          // the copies first, so the primary's pods find them when they start
          const { copied, writes } = workloads.configs;
          for (const write of writes) {
            if (write.op === 'create') await kube.create(write.kind, write.object);
            else await kube.patch(write.kind, write.ref, write.ops);
          }
          if (writes.length) {
            const names = writes.map((w) => (w.op === 'create' ? w.object.metadata.name : w.ref.name));
            log.info(
              { revision: action.revision, copies: names },
              "wrote the primary's copies of its config",
            );
          }
          if (!primary) {
            const replicas = seen.observations.managed?.primaryReplicas ?? 1;
            await kube.create(
              'Deployment',
              newPrimary(release, target, workloads.revisionKey, action.revision, replicas, copied),
            );
            log.info({ revision: action.revision, replicas }, `created ${primaryName(target.metadata.name)}`);
          } else {
            await kube.patch(
              'Deployment',
              { namespace, name: primary.metadata.name },
              promotePatch(primary, target, workloads.revisionKey, action.revision, copied),
            );
            log.info({ revision: action.revision }, `copied the revision into ${primary.metadata.name}`);
          }
          return null;
        }
        case 'pointSubsets': {
          const dr = workloads.destinationRule;
          const ops = pointSubsetsPatch(dr, workloads.subsets);
          if (!ops.length) return null;
          await kube.patch('DestinationRule', { namespace, name: dr.metadata.name }, ops);
          log.info({ subsets: workloads.subsets }, 'pointed the DestinationRule subsets');
          return null;
        }
        case 'scaleCanary':
          await kube.patch('Deployment', targetRef, scalePatch(action.replicas));
          log.info({ replicas: action.replicas }, `scaled Deployment ${target.metadata.name}`);
          return null;
        case 'revertTarget': {
          const template = primary && promotedTemplate(primary);
          if (seen.observations.canaryRevision !== action.revision || template === undefined) return null;
          await kube.patch('Deployment', targetRef, revertPatch(target, template));
          log.info(
            { revision: action.revision },
            `reverted Deployment ${target.metadata.name}'s pod template`,
          );
          return null;
        }
        case 'deletePrimary': {
          const name = release.metadata.name;
          for (const ref of primaryAutoscalers(
            kube.list('HorizontalPodAutoscaler', namespace),
            name,
            target.metadata.name,
          )) {
            await kube.delete('HorizontalPodAutoscaler', ref);
          }
          if (primary) await kube.delete('Deployment', { namespace, name: primary.metadata.name });
          const kinds = this.deps.trackSecrets
            ? (['ConfigMap', 'Secret'] as const)
            : (['ConfigMap'] as const);
          for (const kind of kinds) {
            for (const ref of primaryConfigCopies(kube.list(kind, namespace), name))
              await kube.delete(kind, ref);
          }
          log.info(`deleted ${primaryName(target.metadata.name)} and its copies of its config`);
          return null;
        }
      }
    } catch (err) {
      if (err instanceof KubeError && err.code === 'Conflict') {
        log.info({ err: err.message, action: action.type }, 'a workload changed under us; planning again');
        return CONFLICT_RETRY_MS;
      }
      throw err;
    }
  }

  /** Managed mode: the primary scales as the user's Deployment does, with an autoscaler of its own. */
  private async mirrorAutoscaler(
    release: KubeObject,
    workloads: ManagedWorkloads,
    log: Logger,
  ): Promise<void> {
    if (!workloads.primary) return;
    const namespace = workloads.target.metadata.namespace ?? '';
    const plan = planPrimaryAutoscaler(
      this.deps.kube.list('HorizontalPodAutoscaler', namespace),
      release.metadata.name,
      workloads.target.metadata.name,
    );
    if (!plan) return;
    if (plan.op === 'create') await this.deps.kube.create('HorizontalPodAutoscaler', plan.object);
    else if (plan.op === 'patch') await this.deps.kube.patch('HorizontalPodAutoscaler', plan.ref, plan.ops);
    else await this.deps.kube.delete('HorizontalPodAutoscaler', plan.ref);
    log.info({ op: plan.op }, 'mirrored the autoscaler onto the primary');
  }

  private async addFinalizer(release: KubeObject): Promise<KubeObject> {
    const finalizers = (release.metadata.finalizers as string[] | undefined) ?? [];
    return this.deps.kube.patch('CanaryRelease', refOf(release), [
      { op: 'test', path: '/metadata/resourceVersion', value: release.metadata.resourceVersion },
      { op: 'add', path: '/metadata/finalizers', value: [...finalizers, FINALIZER] },
    ]);
  }

  private async removeFinalizer(release: KubeObject): Promise<void> {
    const finalizers = (release.metadata.finalizers as string[] | undefined) ?? [];
    const i = finalizers.indexOf(FINALIZER);
    if (i < 0) return;
    await this.deps.kube.patch('CanaryRelease', refOf(release), [
      { op: 'test', path: `/metadata/finalizers/${i}`, value: FINALIZER },
      { op: 'remove', path: `/metadata/finalizers/${i}` },
    ]);
  }
}
