import type { CanaryReleaseSpec, CanaryReleaseStatus } from '../api/canary-release.js';
import { formatDuration, parseDuration } from '../api/duration.js';
import { primaryName } from '../api/names.js';
import { routingSides } from '../api/routing.js';
import { Draft, ms, ROUTING_RECHECK_MS } from './draft.js';
import { rolloutSpecHash } from './spec-hash.js';
import { fullCanaryRouting, stableRouting } from './steps.js';
import type { Decision, ManagedObservations, Observations } from './types.js';

/*
 * Managed mode: the user edits one Deployment; canaria keeps `<name>-primary` as the stable revision
 * and runs the user's Deployment as the canary. These steps extend the state machine in decide.ts;
 * like it, they only plan: the reconciler carries out the actions.
 */

/** How soon to look again while a Deployment rolls out or scales. */
const WORKLOAD_RECHECK_MS = 5_000;

const primaryOf = (spec: CanaryReleaseSpec): string => primaryName(spec.targetRef?.name ?? '');

/**
 * Brings a managed release to its resting state the first time: a ready primary running the user's
 * template, subsets that tell the two apart, all traffic on the primary. True while that is not done;
 * the caller then decides nothing else.
 */
export function initialize(d: Draft, m: ManagedObservations): boolean {
  const { status, obs } = d;
  const revision = obs.canaryRevision;
  if (revision === undefined) return false; // the caller waits for the Deployment to exist
  const initializing = status.phase === undefined || status.phase === 'Initializing';
  const primary = primaryOf(d.spec);
  if (m.primaryRevision === undefined) {
    d.actions.push({ type: 'syncPrimary', revision });
    if (initializing) {
      status.phase = 'Initializing';
      status.message = `creating ${primary} from Deployment ${d.spec.targetRef?.name ?? ''} (revision ${revision})`;
    } else {
      // someone deleted the primary under a running release: make it again, then carry on
      d.record('Hold', 'PrimaryMissing', `${primary} is gone; creating it again from revision ${revision}`);
    }
    d.wake(WORKLOAD_RECHECK_MS);
    return true;
  }
  if (initializing && !m.primaryReady) {
    status.phase = 'Initializing';
    status.message = `waiting for ${primary} (revision ${m.primaryRevision}) to be ready`;
    d.wake(WORKLOAD_RECHECK_MS);
    return true;
  }
  if (!m.subsetsPointed) {
    // also mid-rollout: routing objects re-applied by GitOps would send the weights to the wrong pods
    d.actions.push({ type: 'pointSubsets' });
    d.wake(ROUTING_RECHECK_MS);
    if (initializing) {
      status.phase = 'Initializing';
      status.message = `pointing ${routingSides(d.spec).selectedBy} at ${primary} and the canary`;
      return true;
    }
  }
  if (!initializing) return false;
  if (!d.ensureRouting(stableRouting(d.total))) {
    status.phase = 'Initializing';
    status.message = `waiting for ${routingSides(d.spec).shownBy} to send all traffic to ${primary}`;
    return true;
  }
  status.phase = 'Succeeded';
  status.stableRevision = m.primaryRevision;
  status.canaryRevision = m.primaryRevision;
  status.specHash = rolloutSpecHash(d.spec);
  const message = `initialized: ${primary} runs revision ${m.primaryRevision} with ${m.primaryReplicas} replicas and takes 100 % of traffic`;
  d.record('Initialize', 'Initialized', message);
  d.condition('Progressing', 'True', 'Initialized', message);
  d.wake(0);
  return true;
}

/** Says, as a condition, when a change of a Secret the pods read would go unnoticed. */
export function noteSecrets(d: Draft, m: ManagedObservations): void {
  const tracked = d.status.conditions?.find((c) => c.type === 'SecretsTracked');
  if (m.untrackedSecrets.length) {
    d.condition(
      'SecretsTracked',
      'False',
      'SecretsNotWatched',
      `the pod template reads Secret ${m.untrackedSecrets.join(', ')}, whose changes do not start a rollout: run the controller with --track-secrets (chart: trackSecrets=true)`,
    );
  } else if (tracked) {
    d.condition(
      'SecretsTracked',
      'True',
      'Tracked',
      'every Secret the pod template reads counts in its revision',
    );
  }
}

/** During a rollout the user's Deployment runs the canary: as many pods as the primary, if it has none. */
export function scaleCanaryUp(d: Draft, m: ManagedObservations): void {
  if (m.canaryReplicas > 0) return;
  d.actions.push({ type: 'scaleCanary', replicas: m.primaryReplicas });
  d.wake(WORKLOAD_RECHECK_MS);
}

/**
 * Promotion: copy the canary's template into the primary, wait for the primary's rollout, then move
 * all traffic back to it. The canary keeps its share until the primary can take over.
 */
export function promoteManaged(d: Draft, m: ManagedObservations): void {
  const { status } = d;
  const revision = status.canaryRevision ?? '';
  const primary = primaryOf(d.spec);
  if (m.primaryRevision !== revision) {
    d.actions.push({ type: 'syncPrimary', revision });
    status.message = `promoting: copying revision ${revision} into ${primary}`;
    d.wake(WORKLOAD_RECHECK_MS);
    return;
  }
  if (!m.primaryReady) {
    status.message = `promoting: waiting for ${primary} to roll out revision ${revision}`;
    d.wake(WORKLOAD_RECHECK_MS);
    return;
  }
  if (!d.ensureRouting(stableRouting(d.total))) {
    status.message = `promoting: moving all traffic back to ${primary}`;
    return;
  }
  status.phase = 'Succeeded';
  status.stableRevision = revision;
  const took = d.now.getTime() - (ms(status.rolloutStartedAt) ?? d.now.getTime());
  const message = `revision ${revision} promoted after ${formatDuration(took)}: ${primary} runs it and takes 100 % of traffic`;
  d.record('Succeed', 'Promoted', message);
  d.condition('Progressing', 'True', 'Succeeded', message);
  d.wake(0);
}

/**
 * At rest (Succeeded, RolledBack) and once all traffic is on the primary: scale the canary down, and
 * after a rollback put the last promoted template back if asked to.
 */
export function settleManaged(d: Draft, m: ManagedObservations): void {
  const { status, obs, spec } = d;
  if (status.phase !== 'Succeeded' && status.phase !== 'RolledBack') return;
  const onPrimary = status.routing?.canaryWeight === 0 && obs.actualRouting?.canaryWeight === 0;
  if (!onPrimary) return;
  if ((spec.managed?.scaleToZero ?? true) && m.canaryReplicas > 0) {
    d.actions.push({ type: 'scaleCanary', replicas: 0 });
  }
  const bad = status.canaryRevision;
  if (
    status.phase !== 'RolledBack' ||
    !spec.rollback?.revertTarget ||
    bad === undefined ||
    obs.canaryRevision !== bad ||
    bad === m.primaryRevision
  ) {
    return;
  }
  const target = spec.targetRef?.name ?? '';
  if (m.templateRevertible) {
    d.actions.push({ type: 'revertTarget', revision: bad });
    d.wake(WORKLOAD_RECHECK_MS);
    if (d.lastDecision()?.action !== 'Revert') {
      d.record(
        'Revert',
        'TargetReverted',
        `Deployment ${target}: pod template of revision ${bad} replaced by the last promoted one (revision ${m.primaryRevision ?? ''})`,
      );
    }
  } else if (d.lastDecision()?.reason !== 'NotRevertible') {
    d.record(
      'Revert',
      'NotRevertible',
      `Deployment ${target} already has the last promoted pod template; revision ${bad} differs only in ConfigMaps or Secrets, which canaria does not revert: restore them where you keep them`,
    );
  }
}

/**
 * Deleting a managed release: the user's Deployment takes all traffic again before the release goes,
 * so deleting canaria's objects never leaves a service without pods. A pure function like `decide`.
 */
export function decideDeletion(
  spec: CanaryReleaseSpec,
  status: CanaryReleaseStatus | undefined,
  obs: Observations,
  deletedAt: Date,
  now: Date,
): Decision {
  const d = new Draft(spec, status, obs, now);
  const m = obs.managed;
  const target = spec.targetRef?.name ?? '';
  const primary = primaryOf(spec);
  const finish = (severity: 'Normal' | 'Warning', reason: string, message: string): Decision => {
    d.actions.push({ type: 'event', severity, reason, message }, { type: 'removeFinalizer' });
    d.status.message = message;
    return d.result();
  };
  if (!m || m.primaryRevision === undefined) {
    return finish('Normal', 'Finalized', 'nothing to restore: canaria created no primary');
  }
  if (obs.canaryRevision === undefined) {
    return finish(
      'Warning',
      'TargetMissing',
      `Deployment ${target} is gone: traffic stays on ${primary}, which is kept`,
    );
  }
  const deadline = parseDuration(spec.progressDeadline) ?? 600_000;
  const waited = now.getTime() - deletedAt.getTime();
  const hold = (message: string): Decision => {
    if (waited >= deadline) {
      return finish(
        'Warning',
        'RestoreTimedOut',
        `gave up restoring traffic to Deployment ${target} after ${formatDuration(waited)} (${message}): traffic stays on ${primary}, which is kept`,
      );
    }
    d.status.message = `deleting: ${message}`;
    d.wake(WORKLOAD_RECHECK_MS);
    return d.result();
  };
  if (m.canaryReplicas === 0) {
    d.actions.push({ type: 'scaleCanary', replicas: m.primaryReplicas });
    return hold(`scaling Deployment ${target} up to ${m.primaryReplicas} replicas`);
  }
  if (!obs.canaryReady) return hold(`waiting for Deployment ${target} to be ready`);
  if (!d.ensureRouting(fullCanaryRouting(d.total))) {
    return hold(`waiting for ${routingSides(spec).shownBy} to send all traffic to Deployment ${target}`);
  }
  const cleanup = spec.managed?.cleanupOnDelete ?? false;
  if (cleanup) d.actions.push({ type: 'deletePrimary' });
  return finish(
    'Normal',
    'Finalized',
    `100 % of traffic restored to Deployment ${target}; ${cleanup ? `${primary} deleted` : `${primary} kept (set managed.cleanupOnDelete to delete it)`}`,
  );
}
