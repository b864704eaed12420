import { describe, expect, it } from 'vitest';
import { assess, updateMemory } from '../analysis/judges/sequential.js';
import {
  DECISION_ACTIONS,
  VERDICTS,
  type AnalysisRecord,
  type CanaryReleaseStatus,
  type DecisionAction,
  type DecisionRecord,
  type MetricEvidence,
  type VerdictKind,
} from '../api/canary-release.js';
import { parseExposition } from './exposition.test-support.js';
import { ControllerMetrics, type ReleaseSighting } from './metrics.js';
import { SLICE } from './release-series.js';

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

/** The exposition /metrics serves, slices joined. */
async function exposition(metrics: ControllerMetrics, slice = SLICE): Promise<string> {
  let text = '';
  for await (const part of metrics.exposition(slice)) text += part;
  return text;
}

/** The exposition lines of one metric, as Prometheus scrapes them. */
async function lines(metrics: ControllerMetrics, metric: string): Promise<string[]> {
  const text = await exposition(metrics);
  return text.split('\n').filter((line) => line.startsWith(`${metric}{`));
}

const decisionLine = (action: DecisionAction, value: number) =>
  `canaria_decision_total{action="${action}"} ${value}`;
const analysisLine = (namespace: string, name: string, result: VerdictKind, value: number) =>
  `canaria_analysis_total{namespace="${namespace}",name="${name}",result="${result}"} ${value}`;

describe('ControllerMetrics', () => {
  it('renders in slices what prom-client renders, however the time limit cuts them (a slow machine)', async () => {
    const metrics = new ControllerMetrics();
    for (let i = 0; i < 20; i++) metrics.observe('shop', `svc-${i}`, undefined, progressing());
    // every release its own slice: most families have no series for it
    expect(await exposition(metrics, { lines: 1_000, ms: 0 })).toBe(await metrics.registry.metrics());
  });

  it("starts every action's decision counter at 0, and a release's verdict counters the first time it sees the release", async () => {
    const metrics = new ControllerMetrics();
    expect(await lines(metrics, 'canaria_decision_total')).toEqual(
      DECISION_ACTIONS.map((action) => decisionLine(action, 0)),
    );
    metrics.observe('shop', 'reviews', undefined, progressing());
    expect(await lines(metrics, 'canaria_analysis_total')).toEqual(
      VERDICTS.map((result) => analysisLine('shop', 'reviews', result, 0)),
    );
  });

  it('counts decisions per action and verdicts per release, each once', async () => {
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
    expect(decisions).toContain(decisionLine('Rollback', 1));
    expect(decisions).toContain(decisionLine('Start', 1));
    expect(decisions).toContain(decisionLine('Advance', 0));
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

    const text = await exposition(metrics);
    expect(text).not.toContain('name="reviews"');
    expect(await lines(metrics, 'canaria_analysis_total')).toHaveLength(VERDICTS.length);
    expect(text).toContain(analysisLine('shop', 'ratings', 'Fail', 0));

    // a release created again under the same name starts from 0
    metrics.observe('shop', 'reviews', undefined, progressing());
    expect(await lines(metrics, 'canaria_analysis_total')).toContain(
      analysisLine('shop', 'reviews', 'Fail', 0),
    );
  });

  it('exposes the reconcile duration of both outcomes at 0 before the first reconcile', async () => {
    const metrics = new ControllerMetrics();
    expect(await lines(metrics, 'canaria_reconcile_duration_seconds_count')).toEqual([
      'canaria_reconcile_duration_seconds_count{result="ok"} 0',
      'canaria_reconcile_duration_seconds_count{result="error"} 0',
    ]);
  });

  it('exposes the release info with the service and the revision label values Istio reports', async () => {
    const metrics = new ControllerMetrics();
    metrics.observe('shop', 'reviews', undefined, progressing(), sighting('v1', 'v2'));
    expect(await lines(metrics, 'canaria_release_info')).toEqual([
      'canaria_release_info{namespace="shop",name="reviews",service="reviews",router="istio",' +
        'stable_revision="v1",canary_revision="v2",revision_label="destination_version",reporter="source"} 1',
    ]);
  });

  it('replaces the info series when a revision changes, instead of keeping one per revision', async () => {
    const metrics = new ControllerMetrics();
    metrics.observe('shop', 'reviews', undefined, progressing(), sighting('v1', 'v2'));
    metrics.observe('shop', 'reviews', progressing(), progressing(), sighting('v2', 'v3'));
    const info = await lines(metrics, 'canaria_release_info');
    expect(info).toHaveLength(1);
    expect(info[0]).toContain('stable_revision="v2",canary_revision="v3"');
  });

  it('keeps the last info while the spec does not parse, and names a release it never sighted', async () => {
    const metrics = new ControllerMetrics();
    metrics.observe('shop', 'reviews', undefined, progressing(), sighting('v1', 'v2'));
    metrics.observe('shop', 'reviews', progressing(), { phase: 'Failed' });
    metrics.observe('shop', 'broken', undefined, { phase: 'Failed' });
    const info = await lines(metrics, 'canaria_release_info');
    expect(info).toContain(
      'canaria_release_info{namespace="shop",name="reviews",service="reviews",router="istio",' +
        'stable_revision="v1",canary_revision="v2",revision_label="destination_version",reporter="source"} 1',
    );
    expect(info).toContain('canaria_release_info{namespace="shop",name="broken",router="istio"} 1');
  });

  it("exposes each metric of the latest analysis: both sides' values and counts, the bound, the verdict", async () => {
    const metrics = new ControllerMetrics();
    const status = progressing({ lastAnalysis: analysisOf('Fail', [errorRatio('Fail')]) });
    metrics.observe('shop', 'reviews', undefined, status);
    const text = await exposition(metrics);
    const of = (metric: string, labels: string, value: number) =>
      `${metric}{namespace="shop",name="reviews",metric="error-ratio"${labels}} ${value}`;
    for (const line of [
      of('canaria_analysis_metric_value', ',role="canary"', 0.05),
      of('canaria_analysis_metric_value', ',role="stable"', 0.005),
      of('canaria_analysis_metric_bound', '', 0.0085),
      of('canaria_analysis_metric_verdict', ',verdict="Fail"', 1),
      of('canaria_analysis_metric_requests', ',role="canary"', 200),
      of('canaria_analysis_metric_errors', ',role="canary"', 10),
      of('canaria_analysis_metric_requests', ',role="stable"', 2000),
      of('canaria_analysis_metric_errors', ',role="stable"', 10),
    ])
      expect(text).toContain(line);
    // the verdict given is the one series of the verdict: no zeros for the verdicts not given
    expect(await lines(metrics, 'canaria_analysis_metric_verdict')).toHaveLength(1);
    // a value the judge did not have is no series, rather than a zero that looks measured
    expect(await lines(metrics, 'canaria_analysis_metric_slow_requests')).toEqual([]);
    expect(await lines(metrics, 'canaria_analysis_metric_e_value')).toEqual([]);
  });

  it("exposes the sequential judge's e-value, threshold and rate-ratio interval when the evidence has them", async () => {
    const metrics = new ControllerMetrics();
    const judged = assess(
      updateMemory(
        undefined,
        { canary: { total: 1000, bad: 12 }, stable: { total: 9000, bad: 0 }, seconds: 60 },
        { tolerance: 0.25, alpha: 0.05, regression: { ratio: 4, floor: 0.005, power: 0.95 } },
      ),
      { tolerance: 0.25, alpha: 0.05, regression: { ratio: 4, floor: 0.005, power: 0.95 } },
      1,
    ).evidence;
    // a stable without errors: the ratio and its upper bound are unknown, which is no series
    const sequential = { ...judged, eValue: 42.5, ratio: 4, ratioLow: 1.5 };
    const evidence = { ...errorRatio('Fail'), sequential };
    const latency = { ...errorRatio('Pass'), metric: 'latency' };
    metrics.observe(
      'shop',
      'reviews',
      undefined,
      progressing({ lastAnalysis: analysisOf('Fail', [evidence, latency]) }),
    );
    const of = (metric: string, value: number) =>
      `${metric}{namespace="shop",name="reviews",metric="error-ratio"} ${value}`;
    expect(await lines(metrics, 'canaria_analysis_metric_e_value')).toEqual([
      of('canaria_analysis_metric_e_value', 42.5),
    ]);
    expect(await lines(metrics, 'canaria_analysis_metric_e_value_threshold')).toEqual([
      of('canaria_analysis_metric_e_value_threshold', 20),
    ]);
    expect(await lines(metrics, 'canaria_analysis_metric_rate_ratio')).toEqual([
      of('canaria_analysis_metric_rate_ratio', 4),
    ]);
    expect(await lines(metrics, 'canaria_analysis_metric_rate_ratio_low')).toEqual([
      of('canaria_analysis_metric_rate_ratio_low', 1.5),
    ]);
    expect(await lines(metrics, 'canaria_analysis_metric_rate_ratio_high')).toEqual([]);
  });

  it('removes the series of a metric that left the analysis', async () => {
    const metrics = new ControllerMetrics();
    const both = progressing({
      lastAnalysis: analysisOf('Pass', [errorRatio('Pass'), { ...errorRatio('Pass'), metric: 'latency' }]),
    });
    metrics.observe('shop', 'reviews', undefined, both);
    const one = progressing({ lastAnalysis: analysisOf('Pass', [errorRatio('Pass')]) });
    metrics.observe('shop', 'reviews', both, one);
    expect(await exposition(metrics)).not.toContain('metric="latency"');
    expect(await lines(metrics, 'canaria_analysis_metric_verdict')).toHaveLength(1);
  });

  it('keeps the evidence of an analysis that moved the weight, from the decision it led to', async () => {
    const metrics = new ControllerMetrics();
    // the rollback's new weight opened a new window, which cleared lastAnalysis in the same reconcile
    const rolledBack = progressing({
      decisions: [
        decision('Start', 't0'),
        { ...decision('Rollback', 't1'), verdict: 'Fail', metrics: [errorRatio('Fail')] },
      ],
    });
    metrics.observe('shop', 'reviews', undefined, rolledBack);
    expect(await lines(metrics, 'canaria_analysis_metric_verdict')).toContain(
      'canaria_analysis_metric_verdict{namespace="shop",name="reviews",metric="error-ratio",verdict="Fail"} 1',
    );
    expect(await lines(metrics, 'canaria_analysis_metric_bound')).toEqual([
      'canaria_analysis_metric_bound{namespace="shop",name="reviews",metric="error-ratio"} 0.0085',
    ]);
    // a new rollout has no analysis yet: the old one's numbers are not current any more
    const restarted = {
      ...rolledBack,
      decisions: [...(rolledBack.decisions ?? []), decision('Start', 't2')],
    };
    metrics.observe('shop', 'reviews', rolledBack, restarted);
    expect(await exposition(metrics)).not.toContain('canaria_analysis_metric_verdict{');
  });

  it('counts an analysis that moved the weight once, though only its decision carries it', async () => {
    const metrics = new ControllerMetrics();
    const held = progressing({
      decisions: [decision('Start', 't0')],
      lastAnalysis: analysisOf('Pass', [errorRatio('Pass')]),
    });
    metrics.observe('shop', 'reviews', undefined, held);
    // the next reconcile advances on the same analysis: its evidence is counted already
    const advanced = progressing({
      decisions: [
        ...(held.decisions ?? []),
        { ...decision('Advance', 't1'), verdict: 'Pass', metrics: [errorRatio('Pass')] },
      ],
    });
    metrics.observe('shop', 'reviews', held, advanced);
    // a fresh analysis fails and rolls back in the same reconcile, clearing its record
    const failed = { ...errorRatio('Fail'), canary: { value: 0.06, total: 300, errors: 18 } };
    const rolledBack = progressing({
      decisions: [
        ...(advanced.decisions ?? []),
        { ...decision('Rollback', 't2'), verdict: 'Fail', metrics: [failed] },
      ],
    });
    metrics.observe('shop', 'reviews', advanced, rolledBack);
    const analyses = await lines(metrics, 'canaria_analysis_total');
    expect(analyses).toContain(analysisLine('shop', 'reviews', 'Pass', 1));
    expect(analyses).toContain(analysisLine('shop', 'reviews', 'Fail', 1));
  });

  it('keeps the time of the latest decision of each action, in seconds, with its reason', async () => {
    const metrics = new ControllerMetrics();
    const decisions = [
      decision('Start', '2026-11-21T10:00:00Z'),
      decision('Advance', '2026-11-21T10:00:01Z'),
      decision('Advance', '2026-11-21T10:02:00Z'),
    ];
    metrics.observe('shop', 'reviews', undefined, progressing({ decisions }));
    const rolledBack = progressing({
      decisions: [...decisions, decision('Rollback', '2026-11-21T10:05:00Z')],
    });
    metrics.observe('shop', 'reviews', progressing({ decisions }), rolledBack);
    const at = (action: string, iso: string) =>
      `canaria_release_decision_timestamp_seconds{namespace="shop",name="reviews",action="${action}",reason="${action}"} ${Date.parse(iso) / 1000}`;
    expect(await lines(metrics, 'canaria_release_decision_timestamp_seconds')).toEqual([
      at('Start', '2026-11-21T10:00:00Z'),
      at('Advance', '2026-11-21T10:02:00Z'),
      at('Rollback', '2026-11-21T10:05:00Z'),
    ]);
  });

  it('forgets the info, decision-time and metric series of a deleted release', async () => {
    const metrics = new ControllerMetrics();
    const status = progressing({
      decisions: [decision('Start', '2026-11-21T10:00:00Z')],
      lastAnalysis: analysisOf('Pass', [errorRatio('Pass')]),
    });
    metrics.observe('shop', 'reviews', undefined, status, sighting('v1', 'v2'));
    metrics.forget('shop', 'reviews');
    expect(await exposition(metrics)).not.toContain('name="reviews"');
    // sighted again from scratch: nothing of the old info comes back
    metrics.observe('shop', 'reviews', undefined, { phase: 'Failed' });
    expect(await lines(metrics, 'canaria_release_info')).toEqual([
      'canaria_release_info{namespace="shop",name="reviews",router="istio"} 1',
    ]);
  });

  it('gives a release in mid-rollout 26 series: the current phase and verdicts only, decisions counted per action', async () => {
    const metrics = new ControllerMetrics();
    const midRollout = progressing({
      actualCanaryWeight: 10,
      decisions: [decision('Start', '2026-11-21T10:00:00Z'), decision('Advance', '2026-11-21T10:01:00Z')],
      lastAnalysis: analysisOf('Pass', [errorRatio('Pass'), { ...errorRatio('Pass'), metric: 'latency' }]),
    });
    for (const name of ['reviews', 'ratings', 'details'])
      metrics.observe('shop', name, undefined, midRollout, sighting('v1', 'v2'));
    const text = await exposition(metrics);
    const of = (name: string) => text.split('\n').filter((line) => line.includes(`,name="${name}"`));
    // info, weight, read-back weight, phase, 2 decision times, 4 verdict counters, and per metric
    // its verdict, bound, and each side's value, requests and errors; it was 51 with a series for
    // every phase, verdict and action
    expect(of('reviews')).toHaveLength(26);
    expect(of('reviews').filter((line) => line.startsWith('canaria_release_phase{'))).toEqual([
      'canaria_release_phase{namespace="shop",name="reviews",phase="Progressing"} 1',
    ]);
    expect(await lines(metrics, 'canaria_decision_total')).toHaveLength(DECISION_ACTIONS.length);
    expect(await lines(metrics, 'canaria_decision_total')).toContain(decisionLine('Advance', 3));
  });

  it('counts the releases in each phase, every phase present', async () => {
    const metrics = new ControllerMetrics();
    metrics.observe('shop', 'reviews', undefined, progressing());
    metrics.observe('shop', 'ratings', undefined, progressing());
    metrics.observe('shop', 'details', undefined, { phase: 'RolledBack' });
    metrics.observe('shop', 'details', { phase: 'RolledBack' }, progressing());
    metrics.forget('shop', 'ratings');
    const releases = await lines(metrics, 'canaria_releases');
    expect(releases).toHaveLength(7);
    expect(releases).toContain('canaria_releases{phase="Progressing"} 2');
    expect(releases).toContain('canaria_releases{phase="RolledBack"} 0');
  });

  it("serves what prom-client's own rendering gives, byte for byte, escaping included, and it parses", async () => {
    // the process metrics change from one rendering to the next: without them
    const metrics = new ControllerMetrics();
    const odd = { ...decision('Hold', '2026-11-21T10:00:00Z'), reason: 'a "quoted"\\back\nslash' };
    metrics.observe('shop', 'reviews', undefined, progressing({ decisions: [odd] }), sighting('v1', 'v2'));
    metrics.observe(
      'shop',
      'ratings',
      undefined,
      progressing({ lastAnalysis: analysisOf('Fail', [errorRatio('Fail')]) }),
    );
    metrics.kubeRequest({ method: 'GET', result: 'ok', seconds: 0.01 });
    const text = await exposition(metrics);
    expect(text).toBe(await metrics.registry.metrics());
    const samples = parseExposition(text);
    expect(samples).toContainEqual({
      name: 'canaria_release_decision_timestamp_seconds',
      labels: { namespace: 'shop', name: 'reviews', action: 'Hold', reason: 'a "quoted"\\back\nslash' },
      value: Date.parse('2026-11-21T10:00:00Z') / 1000,
    });
    expect(samples.filter((s) => s.labels.name === 'ratings').map((s) => s.name)).toContain(
      'canaria_analysis_metric_verdict',
    );
    const withProcess = new ControllerMetrics({ defaultMetrics: true });
    withProcess.observe('shop', 'reviews', undefined, progressing());
    expect(parseExposition(await exposition(withProcess)).map((s) => s.name)).toContain(
      'canaria_nodejs_eventloop_lag_p99_seconds',
    );
  });

  it('renders many releases in slices, with a turn of the event loop between two', async () => {
    const metrics = new ControllerMetrics();
    const status = progressing({ lastAnalysis: analysisOf('Pass', [errorRatio('Pass')]) });
    for (let i = 0; i < 2000; i++) metrics.observe(`ns-${i % 20}`, `svc-${i}`, undefined, status);
    let turns = 0;
    const slices: string[] = [];
    for await (const slice of metrics.exposition()) {
      // the turn asked for after the previous slice came before this one
      expect(turns).toBe(slices.length);
      slices.push(slice);
      setImmediate(() => (turns += 1));
    }
    expect(slices.length).toBeGreaterThan(20);
    const longest = Math.max(...slices.map((slice) => slice.split('\n').length));
    expect(longest).toBeLessThanOrEqual(SLICE.lines + 10);
    expect(parseExposition(slices.join('')).filter((s) => s.name === 'canaria_release_weight')).toHaveLength(
      2000,
    );
  });

  it('renders the releases as they were when the scrape began, each family alike', async () => {
    const metrics = new ControllerMetrics();
    for (let i = 0; i < 2000; i++) metrics.observe('shop', `svc-${i}`, undefined, progressing());
    let text = '';
    let changed = false;
    for await (const slice of metrics.exposition()) {
      text += slice;
      if (changed) continue;
      // a release goes and another comes while the scrape runs
      metrics.forget('shop', 'svc-1999');
      metrics.observe('shop', 'late', undefined, progressing());
      changed = true;
    }
    const samples = parseExposition(text);
    const names = (family: string) => samples.filter((s) => s.name === family).map((s) => s.labels.name);
    expect(names('canaria_release_phase')).toEqual(names('canaria_release_info'));
    expect(names('canaria_release_phase')).toContain('svc-1999');
    expect(names('canaria_release_phase')).not.toContain('late');
  });

  it('counts API server calls and metrics backend queries by result, every result starting at 0', async () => {
    const metrics = new ControllerMetrics();
    expect(await lines(metrics, 'canaria_kube_requests_total')).toContain(
      'canaria_kube_requests_total{method="PATCH",result="Conflict"} 0',
    );
    expect(await lines(metrics, 'canaria_prometheus_queries_total')).toContain(
      'canaria_prometheus_queries_total{endpoint="query",result="Timeout"} 0',
    );
    metrics.kubeRequest({ method: 'PATCH', result: 'Conflict', seconds: 0.02 });
    metrics.kubeRequest({ method: 'PATCH', result: 'ok', seconds: 0.03 });
    metrics.prometheusQuery({ endpoint: 'query', result: 'Timeout', seconds: 10 });
    expect(await lines(metrics, 'canaria_kube_requests_total')).toEqual(
      expect.arrayContaining([
        'canaria_kube_requests_total{method="PATCH",result="Conflict"} 1',
        'canaria_kube_requests_total{method="PATCH",result="ok"} 1',
      ]),
    );
    expect(await lines(metrics, 'canaria_kube_request_duration_seconds_count')).toContain(
      'canaria_kube_request_duration_seconds_count{method="PATCH"} 2',
    );
    expect(await lines(metrics, 'canaria_prometheus_queries_total')).toContain(
      'canaria_prometheus_queries_total{endpoint="query",result="Timeout"} 1',
    );
    expect(await lines(metrics, 'canaria_prometheus_query_duration_seconds_sum')).toContain(
      'canaria_prometheus_query_duration_seconds_sum{endpoint="query"} 10',
    );
  });
});

function sighting(stable: string, canary: string): ReleaseSighting {
  return {
    services: { stable: 'reviews', canary: 'reviews' },
    reported: { stable, canary },
    analysis: { revisionLabel: 'destination_version', reporter: 'source' },
  };
}

function analysisOf(verdict: VerdictKind, metrics: MetricEvidence[]): AnalysisRecord {
  return { ...analysis(verdict, '2026-11-21T10:01:00Z'), metrics };
}

function errorRatio(verdict: VerdictKind): MetricEvidence {
  return {
    metric: 'error-ratio',
    type: 'errorRatio',
    verdict,
    rule: 'canary 0.0500 > stable 0.0050 x (1+0.5) + 0.001 = 0.0085',
    canary: { value: 0.05, total: 200, errors: 10 },
    stable: { value: 0.005, total: 2000, errors: 10 },
    bound: 0.0085,
  };
}
