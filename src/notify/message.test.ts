import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus, DecisionRecord } from '../api/canary-release.js';
import { newDecisions, notificationFor } from './message.js';
import { release } from './fixtures.test-support.js';

const waiting: DecisionRecord = {
  time: '2026-12-02T10:00:00.000Z',
  action: 'Hold',
  reason: 'WaitingForHook',
  message:
    'waiting for confirm-promotion hook go-live: HTTP 403 from http://gate.example/check in 3ms: Forbidden',
  step: 3,
  canaryWeight: 50,
};
const status = (records: DecisionRecord[]): CanaryReleaseStatus => ({
  phase: 'Progressing',
  canaryWeight: 50,
  decisions: records,
});

describe('notifications of a gate that waits', () => {
  it('warn once when a release starts waiting at a webhook gate, with the command that opens it', () => {
    const n = notificationFor(release, waiting, status([waiting]));
    expect(n).toMatchObject({ kind: 'waiting', severity: 'warning' });
    expect(n?.commands).toContain('kubectl canaria approve checkout -n shop');
    expect(n?.message).toContain('HTTP 403');
  });

  it('say nothing more while the same wait goes on (its record only counts up)', () => {
    const first = status([waiting]);
    const later = status([{ ...waiting, time: '2026-12-02T10:05:00.000Z', count: 6 }]);
    expect(newDecisions(first, later)).toEqual([]);
  });

  it('say nothing of an ordinary hold, which waits for evidence at every analysis', () => {
    const hold: DecisionRecord = { ...waiting, reason: 'Inconclusive', message: 'canary served 3 requests' };
    expect(notificationFor(release, hold, status([hold]))).toBeUndefined();
  });
});
