import { describe, expect, it } from 'vitest';
import {
  DECISION_ACTIONS,
  VERDICTS,
  type AnalysisRecord,
  type CanaryReleaseStatus,
  type DecisionAction,
  type DecisionRecord,
  type VerdictKind,
} from '../api/canary-release.js';
import { ControllerMetrics } from './metrics.js';

const decision = (action: DecisionAction, time: string): DecisionRecord => ({
  time,
  action,
  reason: action,
  message: `${action} at ${time}`,
  step: 1,
  canaryWeight: 10,
});

const analysis = (verdict: VerdictKind, time: string): AnalysisRecord => ({
  time,
  windowStart: '2026-11-21T10:00:00Z',
  verdict,
  summary: verdict,
  metrics: [],
});

const progressing = (patch: Partial<CanaryReleaseStatus> = {}): CanaryReleaseStatus => ({
  phase: 'Progressing',
  canaryWeight: 10,
  ...patch,
});

/** The exposition lines of one metric, as Prometheus scrapes them. */
async function lines(metrics: ControllerMetrics, metric: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((line) => line.startsWith(`${metric}{`));
}

const decisionLine = (namespace: string, name: string, action: DecisionAction, value: number) =>
  `canaria_decision_total{namespace="${namespace}",name="${name}",action="${action}"} ${value}`;
const analysisLine = (namespace: string, name: string, result: VerdictKind, value: number) =>
  `canaria_analysis_total{namespace="${namespace}",name="${name}",result="${result}"} ${value}`;

describe('ControllerMetrics', () => {
  it('starts every decision and verdict series of a release at 0 the first time it sees the release', async () => {
    const metrics = new ControllerMetrics();
    metrics.observe('shop', 'reviews', undefined, progressing());
    expect(await lines(metrics, 'canaria_decision_total')).toEqual(
      DECISION_ACTIONS.map((action) => decisionLine('shop', 'reviews', action, 0)),
    );
    expect(await lines(metrics, 'canaria_analysis_total')).toEqual(
      VERDICTS.map((result) => analysisLine('shop', 'reviews', result, 0)),
    );
  });

  it('counts decisions and verdicts per release, each once', async () => {
    const metrics = new ControllerMetrics();
    const first = progressing({ decisions: [decision('Start', 't0')] });
    metrics.observe('shop', 'reviews', undefined, first);
    metrics.observe('shop', 'ratings', undefined, progressing());
    const failed = progressing({
      decisions: [decision('Start', 't0'), decision('Rollback', 't1')],
      lastAnalysis: analysis('Fail', 't1'),
    });
    metrics.observe('shop', 'reviews', first, failed);
    // the next reconcile carries the same records over
    metrics.observe('shop', 'reviews', failed, failed);

    const decisions = await lines(metrics, 'canaria_decision_total');
    expect(decisions).toContain(decisionLine('shop', 'reviews', 'Rollback', 1));
    expect(decisions).toContain(decisionLine('shop', 'reviews', 'Start', 1));
    expect(decisions).toContain(decisionLine('shop', 'ratings', 'Rollback', 0));
    const analyses = await lines(metrics, 'canaria_analysis_total');
    expect(analyses).toContain(analysisLine('shop', 'reviews', 'Fail', 1));
    expect(analyses).toContain(analysisLine('shop', 'reviews', 'Pass', 0));
    expect(analyses).toContain(analysisLine('shop', 'ratings', 'Fail', 0));
  });

  it('forgets every series of a deleted release and keeps the others', async () => {
    const metrics = new ControllerMetrics();
    const rolledBack = progressing({
      decisions: [decision('Rollback', 't1')],
      lastAnalysis: analysis('Fail', 't1'),
    });
    metrics.observe('shop', 'reviews', undefined, rolledBack);
    metrics.observe('shop', 'ratings', undefined, progressing());
    metrics.forget('shop', 'reviews');

    const text = await metrics.registry.metrics();
    expect(text).not.toContain('name="reviews"');
    expect(await lines(metrics, 'canaria_decision_total')).toHaveLength(DECISION_ACTIONS.length);
    expect(await lines(metrics, 'canaria_analysis_total')).toHaveLength(VERDICTS.length);
    expect(text).toContain(decisionLine('shop', 'ratings', 'Rollback', 0));

    // a release created again under the same name starts from 0
    metrics.observe('shop', 'reviews', undefined, progressing());
    expect(await lines(metrics, 'canaria_decision_total')).toContain(
      decisionLine('shop', 'reviews', 'Rollback', 0),
    );
  });

  it('exposes the reconcile duration of both outcomes at 0 before the first reconcile', async () => {
    const metrics = new ControllerMetrics();
    expect(await lines(metrics, 'canaria_reconcile_duration_seconds_count')).toEqual([
      'canaria_reconcile_duration_seconds_count{result="ok"} 0',
      'canaria_reconcile_duration_seconds_count{result="error"} 0',
    ]);
  });
});
