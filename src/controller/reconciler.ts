import {
  canaryReleaseStatus,
  type CanaryReleaseSpec,
  type CanaryReleaseStatus,
  type RoutingState,
} from '../api/canary-release.js';
import { DEFAULT_METRICS_PROVIDER } from '../api/analysis-template.js';
import { parseCanaryReleaseSpec } from '../api/validation.js';
import { memoizeFrozen } from '../lib/frozen.js';
import { parseDuration } from '../api/duration.js';
import {
  analysisWindow,
  decide,
  rejectSpec,
  StatusDraft,
  decideDeletion,
  type Action,
  type Decision,
} from '../engine/index.js';
import { KubeError } from '../kube/errors.js';
import { jsonEqual } from '../kube/json-patch.js';
import type { KubePort } from '../kube/port.js';
import { parseRefKey, refOf, type KubeObject, type Ref } from '../kube/resources.js';
import type { Logger } from '../telemetry/logger.js';
import type { ControllerMetrics } from '../telemetry/metrics.js';
import type { MeasureBatcher } from './measure-batcher.js';
import type { Run } from './queue.js';
import type { Notifications } from '../notify/service.js';
import type { HookRunner } from './hooks.js';
import { FINALIZER } from '../managed/labels.js';
import { primaryName } from '../api/names.js';
import { routerOf } from '../routers/registry.js';
import type { RouterKey } from '../routers/router.js';
import { carryOutManaged, mirrorAutoscaler } from './managed.js';
import { namedKey, recordingKube, type Interest } from './interest.js';
import { observeRelease, type ReleaseObservation } from './observe.js';

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
  /** The traffic routers this controller runs; all when undefined. */
  routers?: readonly RouterKey[];
  /** Slack, Teams, CloudEvents: told about each decision, without waiting for them. */
  notifications?: Pick<Notifications, 'decided'> & Partial<Pick<Notifications, 'forget'>>;
  /**
   * Analysis windows end on a multiple of this (ms since the epoch), so the releases analysed within
   * one granule ask Prometheus at the same time and share its queries. 0: at the exact time.
   */
  queryGranuleMs?: number;
  /** Calls the webhooks the engine says are due and adds their answers to the observations. */
  hooks?: Pick<HookRunner, 'run'>;
}

/** How soon to look again after someone else changed the VirtualService under us. */
const CONFLICT_RETRY_MS = 1_000;
/** An Event the API server could not take (it is restarting) is tried 5 times over about 15 s. */
const EVENT_ATTEMPTS = 5;
const EVENT_RETRY_MS = 1_000;
/** How soon to try again what the API server refused: a fix (RBAC, a webhook) takes a human. */
const REFUSED_RETRY_MS = 30_000;
/**
 * How soon to look again when the cache is behind the release (our own write is not back yet, or a
 * status write met a newer release). The watch event that brings the cache up to date wakes the
 * release anyway; this is the net under it.
 */
const STALE_RETRY_MS = 1_000;

/** What an observation read: the recorded reads, with the Deployments a side was found among by selector. */
function interestIn(recording: ReturnType<typeof recordingKube>, seen: ReleaseObservation): Interest {
  const named = recording.named;
  const listed = recording.listed;
  const selected = seen.selected ?? [];
  // the observation lists Deployments only to find a side's by its pod labels
  if (selected.length) listed.delete('Deployment');
  for (const { names } of selected) for (const name of names) named.add(namedKey('Deployment', name));
  return { named, listed, selectors: selected.map((s) => s.labels) };
}

/** The release's status as the engine reads it; undefined when it does not parse (rewritten whole). */
const statusOf = memoizeFrozen((status: unknown): CanaryReleaseStatus | undefined => {
  const parsed = canaryReleaseStatus.safeParse(status ?? {});
  return parsed.success ? parsed.data : undefined;
});
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
  /**
   * By release: the resourceVersion of this controller's last status write. Its watch event brings
   * nothing this reconcile did not already decide on, so the controller does not reconcile for it:
   * without this every analysis cost two reconciles.
   */
  private readonly ownWrites = new Map<string, string>();
  /** By release: what its last observation read, which tells the controller what wakes it. */
  private readonly interests = new Map<string, Interest>();

  interestOf(key: string): Interest | undefined {
    return this.interests.get(key);
  }

  /** Whether a watch event of `key` at `resourceVersion` is only the echo of our own status write. */
  echoOf(key: string, resourceVersion: string | undefined): boolean {
    const mine = resourceVersion !== undefined && this.ownWrites.get(key) === resourceVersion;
    if (mine) this.ownWrites.delete(key);
    return mine;
  }

  constructor(private readonly deps: ReconcilerDeps) {}

  private get managedMode(): boolean {
    return this.deps.managedMode ?? true;
  }

  /** `run`: the work queue's lease, when the queue runs it; the measurement then waits without a slot. */
  async reconcile(key: string, run?: Run): Promise<number | null> {
    const ref = parseRefKey(key);
    const cached = this.deps.kube.get('CanaryRelease', ref);
    if (!cached) {
      this.superseded.delete(key);
      this.ownWrites.delete(key);
      this.interests.delete(key);
      this.deps.metrics?.forget(ref.namespace, ref.name);
      this.deps.notifications?.forget?.(ref);
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
    const status = statusOf(object.status);
    // the delay this reconcile decides counts from here (see Run.anchor)
    run?.anchor();
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
      const recording = recordingKube(this.deps.kube);
      seen = observeRelease(recording.port, ref.namespace, parsed.value, {
        release: ref.name,
        trackSecrets: this.deps.trackSecrets ?? false,
        metricsProviders: this.deps.metricsProviders ?? [DEFAULT_METRICS_PROVIDER],
        managedMode: this.managedMode,
        ...(this.deps.routers ? { routers: this.deps.routers } : {}),
      });
      this.interests.set(key, interestIn(recording, seen));
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
        await this.deps.hooks?.run(ref, parsed.value, status, seen, now);
        await this.measure(ref, parsed.value, status, seen, now, run);
        decision = decide(parsed.value, status, seen.observations, now);
      }
    }

    // a rollback moves traffic back to stable: what is left of it (a conflict's retry, the check that
    // it took effect) goes ahead of the routine analyses, however many are queued
    if (decision.status.phase === 'RolledBack' && decision.actions.some((a) => a.type !== 'event'))
      run?.escalate();
    let requeue = decision.requeueAfterMs;
    const released = decision.actions.some((action) => action.type === 'removeFinalizer');
    // An Event tells of a decision, so it goes out once the status that holds the decision is written:
    // a decision the API server turns down (the release changed meanwhile) leaves no Event behind.
    // Once released, the release may be gone and no status is written; the Events keep the last word.
    const events: Action[] = released ? [] : decision.actions.filter((action) => action.type === 'event');
    for (const action of decision.actions) {
      if (!released && action.type === 'event') continue;
      const retry = await this.refused(refusals, action.type, () => this.carryOut(action, object, seen, log));
      if (retry === undefined)
        requeue = requeue === null ? REFUSED_RETRY_MS : Math.min(requeue, REFUSED_RETRY_MS);
      else if (retry !== null) requeue = requeue === null ? retry : Math.min(requeue, retry);
    }
    const managed = seen?.managed;
    if (deletedAt === undefined && managed) {
      await this.refused(refusals, 'mirror the autoscaler', () =>
        mirrorAutoscaler(this.deps.kube, object, managed, log),
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
        this.ownWrites.set(key, written);
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 'Conflict')) throw err;
        // the release changed since the cache saw it: decide again from the release as it is now
        this.supersede(key, base);
        log.info({ err: err.message }, 'the release changed since it was read; deciding again');
        return STALE_RETRY_MS;
      }
    }
    for (const event of events) await this.carryOut(event, object, seen, log);
    // after the status is written, so a reconcile that failed before does not announce a decision twice
    this.deps.notifications?.decided(ref, parsed.ok ? parsed.value : undefined, status, decision.status);
    const sighting =
      seen && parsed.ok
        ? { ...seen, analysis: parsed.value.analysis, router: routerOf(parsed.value).key }
        : undefined;
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
    run: Run | undefined,
  ): Promise<void> {
    const window = analysisWindow(spec, status, now);
    const { canary, stable } = seen.reported;
    if (!window || !seen.metrics.length || !canary || !stable || !spec.analysis) return;
    // decide acts on a new Abort before any analysis, and a release with a window is one it rolls
    // back: the measurement would be thrown away, and would cost the abort a query of its own
    if (spec.request?.action === 'Abort' && spec.request.id !== status?.handledRequestId) return;
    const interval = parseDuration(spec.analysis.interval) ?? 60_000;
    const configured = this.deps.queryGranuleMs ?? 0;
    // shared evaluation times only where they keep the cadence: the next analysis is due an interval
    // after this one's end, so the granule is the interval when that divides it, else one that
    // divides the interval; another would pull each analysis earlier
    const granule =
      configured <= 0
        ? 0
        : configured % interval === 0
          ? interval
          : interval % configured === 0
            ? configured
            : 0;
    // never before the window began: a step younger than one granule is measured to its exact end
    const aligned = granule > 0 ? Math.floor(window.end.getTime() / granule) * granule : window.end.getTime();
    const shared = aligned > window.start.getTime();
    const end = new Date(shared ? aligned : window.end.getTime());
    const measured = this.deps.measurer.measure(
      {
        key: `${ref.namespace}/${ref.name}`,
        name: ref.name,
        namespace: ref.namespace,
        service: seen.services.canary,
        ...(seen.services.stable !== seen.services.canary ? { stableService: seen.services.stable } : {}),
        canaryRevision: canary,
        stableRevision: stable,
        windowStart: window.start,
        since: window.since,
        now: end,
        metrics: seen.metrics,
        revisionLabel: spec.analysis.revisionLabel,
        reporter: spec.analysis.reporter,
      },
      // a user's action is not kept waiting for the routine analyses' batch; the others wait for
      // the releases that ask for the same evaluation time, until the granule is over
      run?.priority === 'high'
        ? { alone: true }
        : run
          ? { joinableUntil: shared ? aligned + granule : end.getTime() }
          : {},
    );
    // waiting for the batch holds no worker slot: the releases due with this one take the slots and
    // join the batch. Superseded (an abort came meanwhile) ends this reconcile: the next one decides
    const measurements = run ? await run.park(measured, this.deps.measurer.nudge) : await measured;
    seen.observations.analysis = {
      metrics: seen.metrics,
      measurements,
      ...(end.getTime() !== window.end.getTime() ? { end } : {}),
    };
  }

  /** Carries out one action; returns a requeue delay when it could not be done yet. */
  private async carryOut(
    action: Action,
    release: KubeObject,
    seen: ReleaseObservation | undefined,
    log: Logger,
  ): Promise<number | null> {
    if (action.type === 'event') {
      log.info({ reason: action.reason, severity: action.severity }, action.message);
      // an Event is evidence, not state: losing one must not stop the rollout, but an API server that
      // is restarting is back in seconds, so a retryable failure is tried again for a while first
      for (let attempt = 1; ; attempt++) {
        try {
          await this.deps.kube.recordEvent(release, action);
          break;
        } catch (err) {
          const down = err instanceof KubeError && (err.code === 'Unavailable' || err.code === 'Timeout');
          const retry = down && attempt < EVENT_ATTEMPTS;
          if (!retry) {
            log.warn({ err, attempt }, 'could not record the Event');
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, EVENT_RETRY_MS * 2 ** (attempt - 1)));
        }
      }
      return null;
    }
    switch (action.type) {
      case 'setRouting':
        return this.route(action.routing, seen, log);
      case 'removeFinalizer':
        await this.removeFinalizer(release);
        return null;
      case 'syncPrimary':
      case 'pointSubsets':
      case 'scaleCanary':
      case 'revertTarget':
      case 'deletePrimary':
        return seen?.managed
          ? carryOutManaged(this.deps, action, release, seen, seen.managed, log, CONFLICT_RETRY_MS)
          : null;
    }
  }

  private async route(
    routing: RoutingState,
    seen: ReleaseObservation | undefined,
    log: Logger,
  ): Promise<number | null> {
    if (!seen?.routing) return null;
    const outcome = await seen.routing.route(this.deps.kube, routing);
    switch (outcome.kind) {
      case 'unchanged':
        return null;
      case 'patched':
        log.info({ routing }, `patched ${outcome.object}`);
        return null;
      case 'conflict':
        // someone edited the routing since the cache saw it: re-read and re-plan, never overwrite
        log.info({ err: outcome.message }, `${outcome.object} changed under us; planning again`);
        return CONFLICT_RETRY_MS;
      case 'unplannable':
        log.error({ err: outcome.message }, `cannot plan the routing: ${outcome.message}`);
        return CONFLICT_RETRY_MS * 30;
    }
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
