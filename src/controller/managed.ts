import type { CanaryReleaseSpec } from '../api/canary-release.js';
import { primaryName } from '../api/names.js';
import type { ValidationIssue } from '../api/validation.js';
import type { Action, Observations } from '../engine/index.js';
import { KubeError } from '../kube/errors.js';
import { planPrimaryAutoscaler, primaryAutoscalers } from '../managed/autoscaler.js';
import { newPrimary, promotePatch, revertPatch, scalePatch } from '../managed/primary.js';
import { primaryConfigCopies } from '../managed/configs.js';
import type { Logger } from '../telemetry/logger.js';
import type { ReleaseObservation } from './observe.js';
import { jsonEqual } from '../kube/json-patch.js';
import type { KubePort } from '../kube/port.js';
import type { Deployment, KubeObject } from '../kube/resources.js';
import { planConfigCopies, type ConfigCopyPlan } from '../managed/configs.js';
import { ownedBy, REVISION_ANNOTATION } from '../managed/labels.js';
import { promotedTemplate, targetSelectorIssue } from '../managed/primary.js';
import {
  referencedConfigs,
  revisionLabelKey,
  workloadRevision,
  type ConfigRef,
} from '../managed/revision.js';
import type { RoutingView, SideSelection } from '../routers/router.js';
import { deploymentReady, releaseField, type Reported } from './workloads.js';

/** Managed mode: the objects the reconciler acts on, as this reconcile saw them. */
export interface ManagedWorkloads {
  target: Deployment;
  primary?: Deployment;
  /** The pod label that carries the revision Istio reports. */
  revisionKey: string;
  /** How the router points each side at its pods (subset labels, or the -primary/-canary Services). */
  selection: SideSelection;
  /** The primary's copies of the ConfigMaps and Secrets the user's template reads, as of this revision. */
  configs: ConfigCopyPlan;
}

/**
 * Managed mode: the user's Deployment runs the canary and `<name>-primary` the stable revision. A
 * revision is the pod template plus the content of the ConfigMaps (and Secrets) it reads.
 */
export function observeManaged(
  kube: KubePort,
  namespace: string,
  spec: CanaryReleaseSpec,
  routing: RoutingView,
  options: { release: string; trackSecrets: boolean },
  issues: ValidationIssue[],
  observations: Observations,
  reported: Reported,
): ManagedWorkloads | undefined {
  const name = spec.targetRef?.name ?? '';
  const target = kube.get('Deployment', { namespace, name }) as Deployment | undefined;
  if (!target) return undefined; // the release waits for it, as for a canary Deployment
  const label = spec.analysis?.revisionLabel ?? 'destination_canonical_revision';
  const revisionKey = revisionLabelKey(target, label);
  const canaryValue = revisionKey && target.spec?.template?.metadata?.labels?.[revisionKey];
  if (!revisionKey || !canaryValue) {
    const keys =
      label === 'destination_version'
        ? 'a "version" label'
        : 'a "version" label (or app.kubernetes.io/version, service.istio.io/canonical-revision)';
    issues.push(
      releaseField(
        'spec.targetRef.name',
        `Deployment "${name}" has no revision label on its pods; add ${keys} to spec.template.metadata.labels, e.g. version: canary: the canary subset selects its pods by it, and the primary copy gets a value of its own`,
      ),
    );
    return undefined;
  }
  const selectorIssue = targetSelectorIssue(target, revisionKey);
  if (selectorIssue) {
    issues.push(selectorIssue);
    return undefined;
  }
  const primary = kube.get('Deployment', { namespace, name: primaryName(name) }) as Deployment | undefined;
  if (primary && !ownedBy(primary.metadata.labels, options.release)) {
    issues.push(
      releaseField(
        'spec.targetRef.name',
        `Deployment "${primaryName(name)}" exists and was not created by canaria for this release; rename or delete it, canaria keeps its primary copy under that name`,
      ),
    );
    return undefined;
  }
  const lookup = (ref: ConfigRef) =>
    ref.kind === 'Secret' && !options.trackSecrets
      ? ('untracked' as const)
      : kube.get(ref.kind, { namespace, name: ref.name });
  const revision = workloadRevision(target.spec?.template, lookup);
  // from the same cache reads as the revision: the copies hold exactly the content it was judged with
  const configs = planConfigCopies(options.release, namespace, target.spec?.template, lookup);
  issues.push(...configs.issues);
  const untrackedSecrets = options.trackSecrets
    ? []
    : referencedConfigs(target.spec?.template?.spec)
        .filter((ref) => ref.kind === 'Secret')
        .map((ref) => ref.name);
  const selection = routing.selection?.(revisionKey, canaryValue);
  if (!selection) return undefined; // the routing objects it needs are missing: reported already
  if (selection.issue) issues.push(selection.issue);
  observations.canaryRevision = revision;
  observations.canaryReady = deploymentReady(target);
  reported.canary = canaryValue;
  const primaryRevision = primary?.metadata.annotations?.[REVISION_ANNOTATION];
  observations.managed = {
    primaryReady: primary ? deploymentReady(primary) : false,
    primaryReplicas: Math.max(1, primary?.spec?.replicas ?? target.spec?.replicas ?? 1),
    canaryReplicas: target.spec?.replicas ?? 1,
    subsetsPointed: selection.pointed,
    untrackedSecrets,
    templateRevertible:
      primary !== undefined && !jsonEqual(promotedTemplate(primary) ?? {}, target.spec?.template ?? {}),
  };
  if (primaryRevision !== undefined) {
    observations.managed.primaryRevision = primaryRevision;
    observations.stableRevision = primaryRevision;
    reported.stable = primary?.spec?.template?.metadata?.labels?.[revisionKey];
  }
  const workloads: ManagedWorkloads = { target, revisionKey, selection, configs };
  if (primary) workloads.primary = primary;
  return workloads;
}

/** Managed mode: carries out a workload action on what this reconcile saw. */
export async function carryOutManaged(
  deps: { kube: KubePort; trackSecrets?: boolean | undefined },
  action: Exclude<Action, { type: 'setRouting' | 'event' | 'removeFinalizer' }>,
  release: KubeObject,
  seen: ReleaseObservation,
  workloads: ManagedWorkloads,
  log: Logger,
  conflictRetryMs: number,
): Promise<number | null> {
  const { kube } = deps;
  const { target, primary } = workloads;
  const namespace = target.metadata.namespace ?? '';
  const targetRef = { namespace, name: target.metadata.name };
  try {
    switch (action.type) {
      case 'syncPrimary': {
        // the Deployment moved on since `decide` looked: the next reconcile plans with the new one
        if (seen.observations.canaryRevision !== action.revision) return conflictRetryMs;
        // the copies first, so the primary's pods find them when they start
        const { copied, writes } = workloads.configs;
        for (const write of writes) {
          if (write.op === 'create') await kube.create(write.kind, write.object);
          else await kube.patch(write.kind, write.ref, write.ops);
        }
        if (writes.length) {
          const names = writes.map((w) => (w.op === 'create' ? w.object.metadata.name : w.ref.name));
          log.info({ revision: action.revision, copies: names }, "wrote the primary's copies of its config");
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
        const { selection } = workloads;
        if (selection.pointed || selection.issue) return null;
        await selection.point(kube);
        log.info(selection.describe, 'pointed the stable and canary sides at their pods');
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
        log.info({ revision: action.revision }, `reverted Deployment ${target.metadata.name}'s pod template`);
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
        const kinds = deps.trackSecrets ? (['ConfigMap', 'Secret'] as const) : (['ConfigMap'] as const);
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
      return conflictRetryMs;
    }
    throw err;
  }
}

/** Managed mode: the primary scales as the user's Deployment does, with an autoscaler of its own. */
export async function mirrorAutoscaler(
  kube: KubePort,
  release: KubeObject,
  workloads: ManagedWorkloads,
  log: Logger,
): Promise<void> {
  if (!workloads.primary) return;
  const namespace = workloads.target.metadata.namespace ?? '';
  const plan = planPrimaryAutoscaler(
    kube.list('HorizontalPodAutoscaler', namespace),
    release.metadata.name,
    workloads.target.metadata.name,
  );
  if (!plan) return;
  if (plan.op === 'create') await kube.create('HorizontalPodAutoscaler', plan.object);
  else if (plan.op === 'patch') await kube.patch('HorizontalPodAutoscaler', plan.ref, plan.ops);
  else await kube.delete('HorizontalPodAutoscaler', plan.ref);
  log.info({ op: plan.op }, 'mirrored the autoscaler onto the primary');
}
