import type { CanaryReleaseStatus, Phase } from '../api/canary-release.js';
import type { HookType, Webhook } from '../api/webhooks.js';

/**
 * Phases in the words receivers written for Flagger understand: its load tester and most gate
 * services look only at name and namespace, some alert on phase.
 */
export type FlaggerPhase = 'Initialized' | 'Waiting' | 'Progressing' | 'Promoting' | 'Succeeded' | 'Failed';

/**
 * The body of every hook call. The first fields are those of Flagger's webhook payload (name,
 * namespace, phase, checksum, metadata), so existing receivers work unchanged; the rest is
 * canaria's, for receivers that want the numbers.
 */
export interface HookPayload {
  name: string;
  namespace: string;
  phase: FlaggerPhase;
  /** Identifies the canary revision under test, as Flagger's checksum identifies a configuration. */
  checksum?: string;
  metadata: Record<string, string>;
  type: HookType;
  /** The hook's name in the release. */
  hook: string;
  /** What the call is for: the gate it may open (e.g. confirm-traffic-increase@2), or rollout. */
  gate: string;
  /** canaria's own phase. */
  releasePhase?: Phase;
  revisions: { stable?: string; canary?: string };
  /** Percent of traffic on each side as canaria wants it now. */
  weights: { stable: number; canary: number };
  /** The current step, counted from 1, e.g. 2/4. */
  step?: string;
}

export function flaggerPhase(status: CanaryReleaseStatus | undefined): FlaggerPhase {
  if (status?.hooks?.waiting) return 'Waiting';
  switch (status?.phase) {
    case 'Progressing':
      return 'Progressing';
    case 'Paused':
      return 'Waiting';
    case 'Promoting':
      return 'Promoting';
    case 'Succeeded':
      return 'Succeeded';
    case 'RolledBack':
    case 'Failed':
      return 'Failed';
    case 'Initializing':
    case undefined:
      return 'Initialized';
  }
}

export function hookPayload(
  release: { name: string; namespace: string },
  hook: Webhook,
  gate: string,
  status: CanaryReleaseStatus | undefined,
): HookPayload {
  const canary = status?.canaryWeight ?? 0;
  return {
    name: release.name,
    namespace: release.namespace,
    phase: flaggerPhase(status),
    ...(status?.canaryRevision ? { checksum: status.canaryRevision } : {}),
    metadata: { ...(hook.metadata ?? {}) },
    type: hook.type,
    hook: hook.name,
    gate,
    ...(status?.phase ? { releasePhase: status.phase } : {}),
    revisions: {
      ...(status?.stableRevision ? { stable: status.stableRevision } : {}),
      ...(status?.canaryRevision ? { canary: status.canaryRevision } : {}),
    },
    weights: { stable: Math.round((100 - canary) * 10_000) / 10_000, canary },
    ...(status?.currentStep ? { step: status.currentStep } : {}),
  };
}
