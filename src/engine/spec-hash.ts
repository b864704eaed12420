import type { CanaryReleaseSpec } from '../api/canary-release.js';
import { fingerprint } from '../api/fingerprint.js';

/**
 * Fingerprint of the spec fields that shape a rollout. User controls (paused, request), release
 * windows and the deadline are left out: changing them steers the running rollout, not restarts it.
 */
export function rolloutSpecHash(spec: CanaryReleaseSpec): string {
  const { subsets, targetRef, service, trafficRouting, strategy, analysis } = spec;
  return fingerprint({ subsets, targetRef, service, trafficRouting, strategy, analysis });
}
