import {
  canaryReleaseSpec,
  canaryReleaseStatus,
  type CanaryReleaseSpec,
  type CanaryReleaseStatus,
  type Phase,
} from '../../api/canary-release.js';
import { describeStep, expandSteps, stepPosition } from '../../engine/index.js';
import type { KubeObject } from '../../kube/resources.js';

/** Phases after which the controller leaves the release alone until something changes. */
const TERMINAL: readonly Phase[] = ['Succeeded', 'RolledBack', 'Failed'];

/** What the cluster commands show of a release, read leniently: a broken spec still lists. */
export interface ReleaseView {
  namespace: string;
  name: string;
  createdAt?: string;
  generation?: number;
  /** Undefined until the spec parses; the controller then reports why in status. */
  spec?: CanaryReleaseSpec;
  status: CanaryReleaseStatus;
  /** The current step, 1-based; undefined before the controller reported on the release. */
  step?: { number: number; count: number; description: string };
  /** Why the release is paused (UserPaused, WaitingForPromote), from its Paused condition. */
  pausedBy?: string;
}

export function viewRelease(object: KubeObject): ReleaseView {
  const spec = canaryReleaseSpec.safeParse(object.spec);
  const status = canaryReleaseStatus.safeParse(object.status ?? {});
  const view: ReleaseView = {
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name,
    status: status.success ? status.data : {},
  };
  if (object.metadata.creationTimestamp !== undefined) view.createdAt = object.metadata.creationTimestamp;
  if (object.metadata.generation !== undefined) view.generation = object.metadata.generation;
  if (spec.success) view.spec = spec.data;
  if (spec.success && view.status.phase !== undefined) {
    const steps = expandSteps(spec.data.strategy);
    const index = view.status.currentStepIndex ?? 0;
    view.step = { ...stepPosition(index, steps.length), description: describeStep(steps[index]) };
  }
  const paused = view.status.conditions?.find((c) => c.type === 'Paused' && c.status === 'True');
  if (paused) view.pausedBy = paused.reason;
  return view;
}

/**
 * True once the release reached a phase it stays in and the controller has seen its latest spec:
 * right after a `kubectl apply` the old Succeeded must not count as the new rollout's end.
 */
export function settled(view: ReleaseView): boolean {
  const { phase, observedGeneration } = view.status;
  if (phase === undefined || !TERMINAL.includes(phase)) return false;
  return (
    observedGeneration === undefined || view.generation === undefined || observedGeneration >= view.generation
  );
}

export const percent = (value: number | undefined): string => (value === undefined ? '-' : `${value}%`);

/** `3/8`, or `-` before the controller reported. */
export const stepOf = (view: ReleaseView): string =>
  view.step ? `${view.step.number}/${view.step.count}` : '-';

/** Revisions are fingerprints; the first characters tell them apart. */
export const shortRevision = (revision: string | undefined): string =>
  revision === undefined ? '-' : revision.length > 12 ? revision.slice(0, 12) : revision;

/** Shown where a phase would be while the controller has not reported on the release. */
export const NO_STATUS = 'no status yet: the canaria controller has not reported on it (is it running?)';
