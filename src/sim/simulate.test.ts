import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifests, type Manifest } from '../routers/istio/manifests.js';
import type { Deployment, KubeObject } from '../kube/resources.js';
import { loadCluster, type SimulatedCluster } from './cluster.js';
import {
  gatewayReviewsObjects,
  managedGatewayObjects,
  RELATIVE_ANALYSIS,
  relativeReviews,
  reviewsWith,
} from '../../test/builders/sim.js';
import { DEMO_CASES, reviewsObjects } from './demo.js';
import { renderEntry, renderSummary } from './render.js';
import { scenarioSpec, type ScenarioInput } from './scenario.js';
import {
  checkScenarioNames,
  SIMULATED_CHANGE_ANNOTATION,
  simulate,
  type SimulationResult,
} from './simulate.js';

const [healthy, faulty] = DEMO_CASES;

const manifests = (objects: readonly KubeObject[]): Manifest[] =>
  objects.map((doc) => ({ file: 'test.yaml', doc, line: () => undefined }));

function cluster(objects: readonly KubeObject[] = reviewsObjects('v2')): SimulatedCluster {
  const loaded = loadCluster(manifests(objects));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  return loaded.value;
}

const run = (objects: readonly KubeObject[], scenario: ScenarioInput, seed = 1): Promise<SimulationResult> =>
  simulate(cluster(objects), scenarioSpec.parse(scenario), { seed });

const canaryShare = (r: SimulationResult) => {
  const canary = r.served[r.canary.revision]?.total ?? 0;
  const stable = r.served[r.stable.revision]?.total ?? 0;
  return canary / (canary + stable);
};

describe('simulate: the real reconciler on a virtual clock', () => {
  it('promotes the healthy demo canary through every weight, patching the VirtualService', async () => {
    const c = cluster(healthy!.manifests.map((m) => m.doc as KubeObject));
    const result = await simulate(c, healthy!.scenario, { seed: 1 });
    expect(result.outcome).toBe('Succeeded');
    expect(result.finished).toBe(true);
    expect([...new Set(result.weights.map((w) => w.actual))]).toEqual([0, 10, 20, 50, 100]);
    expect(result.timeline.at(-1)?.decision.action).toBe('Succeed');
    // the weights were read back from the VirtualService the Reconciler patched in the MemoryKube
    const vs = c.kube.get('VirtualService', c.virtualService!) as {
      spec: { http: { route: { destination: { subset: string }; weight?: number }[] }[] };
    };
    expect(vs.spec.http[0]?.route).toEqual([
      { destination: { host: 'reviews', subset: 'v1' }, weight: 0 },
      { destination: { host: 'reviews', subset: 'v2' }, weight: 100 },
    ]);
    expect(c.kube.events.map((e) => e.event.reason)).toEqual(
      expect.arrayContaining(['NewRevision', 'AnalysisPassed', 'Promoted']),
    );
    // a 6-minute rollout at 50 requests per second
    expect(result.durationMs).toBeGreaterThan(6 * 60_000);
    expect(result.served.v1!.total + result.served.v2!.total).toBeGreaterThan(0.99 * 50 * 6 * 60);
  });

  it('rolls the faulty demo canary back while it has 10 % of the traffic', async () => {
    const result = await simulate(
      cluster(faulty!.manifests.map((m) => m.doc as KubeObject)),
      faulty!.scenario,
      {
        seed: 1,
      },
    );
    expect(result.outcome).toBe('RolledBack');
    const rollback = result.timeline.at(-1);
    expect(rollback?.decision.action).toBe('Rollback');
    expect(rollback?.actualWeight).toBe(0);
    expect(rollback?.decision.metrics?.find((m) => m.metric === 'error-ratio')?.verdict).toBe('Fail');
    expect(canaryShare(result)).toBeLessThan(0.11);
  });

  it('gives the same timeline for the same seed, and another for another seed', async () => {
    const once = await simulate(cluster(), faulty!.scenario, { seed: 7 });
    const again = await simulate(cluster(), faulty!.scenario, { seed: 7 });
    expect(again).toEqual(once);
    const text = (r: SimulationResult) =>
      [
        ...r.timeline.map((e) => renderEntry(e, { stable: 'v1', canary: 'v2' }, { color: false })),
        renderSummary(r, { color: false }),
      ].join('\n');
    expect(text(again)).toBe(text(once));
    const other = await simulate(cluster(), faulty!.scenario, { seed: 8 });
    expect(other.served).not.toEqual(once.served);
  });

  it('catches a fault that starts mid-rollout at the weight where it appears', async () => {
    const result = await run(reviewsObjects('v2'), {
      faults: [{ at: '4m30s', revision: 'v2', errorRate: 0.2 }],
    });
    expect(result.outcome).toBe('RolledBack');
    const rollback = result.timeline.at(-1)!;
    expect(rollback.decision.message).toMatch(/^rolled back at 50%/);
    expect(rollback.atMs).toBeGreaterThan(4.5 * 60_000);
  });

  it('holds without data and never rolls back: no traffic is Inconclusive, not a failure', async () => {
    const result = await run(reviewsObjects('v2'), { maxDuration: '10m', traffic: { requestsPerSecond: 0 } });
    expect(result.finished).toBe(false);
    expect(result.outcome).toBe('Progressing');
    expect(result.durationMs).toBe(10 * 60_000);
    const holds = result.timeline.filter((e) => e.decision.action === 'Hold');
    expect(holds.length).toBeGreaterThan(0);
    expect(holds.every((e) => e.decision.reason === 'Inconclusive')).toBe(true);
    expect(renderSummary(result, { color: false })).toMatch(
      /still Progressing when the simulation stopped at its limit of 10m/,
    );
  });

  it('answers custom PromQL with an Error that holds, saying it cannot be simulated', async () => {
    const objects = reviewsWith((spec) => {
      spec.analysis = {
        interval: '1m',
        metrics: [
          { name: 'custom', type: 'promql', query: 'vector(1)', judge: { type: 'threshold', max: 2 } },
        ],
      };
    });
    const result = await run(objects, { maxDuration: '5m' });
    const hold = result.timeline.find((e) => e.decision.reason === 'MetricsUnavailable');
    expect(hold?.decision.metrics?.[0]?.rule).toMatch(/custom PromQL, which cannot be simulated/);
    expect(result.outcome).toBe('Progressing');
  });

  it('sends mirrored copies to the canary and counts them in its metrics', async () => {
    const objects = reviewsWith((spec) => {
      spec.strategy = { steps: [{ mirror: { percent: 50, duration: '3m' } }] };
    });
    const result = await run(objects, {});
    expect(result.outcome).toBe('Succeeded');
    const mirrorStage = result.timeline.find((e) =>
      e.decision.message.startsWith('step 1 (mirror 50%) done'),
    )!;
    // every request still reaches v1; half of them are copied to v2
    const v1 = mirrorStage.served.v1!.total;
    expect(mirrorStage.served.v2!.total / v1).toBeGreaterThan(0.45);
    expect(mirrorStage.served.v2!.total / v1).toBeLessThan(0.55);
  });

  it('reports an invalid policy as Failed with the engine’s reason, traffic untouched', async () => {
    const objects = reviewsWith((spec) => {
      (spec.trafficRouting as { istio: { canarySubset: string } }).istio.canarySubset = 'v9';
    });
    const c = cluster(objects);
    const before = c.kube.get('VirtualService', c.virtualService!)?.spec;
    const result = await simulate(c, scenarioSpec.parse({}), { seed: 1 });
    expect(result.outcome).toBe('Failed');
    expect(result.message).toMatch(/invalid configuration, traffic left as it is: .*v9/);
    expect(c.kube.get('VirtualService', c.virtualService!)?.spec).toEqual(before);
  });

  it('names scenario revisions the release does not have', () => {
    const scenario = scenarioSpec.parse({
      revisions: { v2: {}, v7: {} },
      faults: [{ at: '1m', revision: 'reviews-v9', errorRate: 0.1 }],
    });
    expect(checkScenarioNames(scenario, cluster())).toEqual([
      { path: 'revisions.v7', message: 'the release has no revision or subset "v7"; known: v1, v2, v3' },
      {
        path: 'faults[0].revision',
        message: 'the release has no revision or subset "reviews-v9"; known: v1, v2, v3',
      },
    ]);
  });
});

/** A sequential error ratio (as the shipped template) beside a relative p99 latency, written in place. */
const sequentialReviews = () =>
  reviewsWith((spec) => {
    const analysis = structuredClone(RELATIVE_ANALYSIS);
    (analysis.metrics[0] as { judge: unknown }).judge = { type: 'sequential', tolerance: 0.25 };
    spec.analysis = analysis;
  });

describe('simulate: the timeline', () => {
  it('folds a run of holds into one line with its count, and never repeats earlier decisions', async () => {
    // judges over the step window, short of minSamples all along: every analysis is Inconclusive
    const result = await run(relativeReviews(), {
      maxDuration: '20m',
      traffic: { requestsPerSecond: 0.3 },
    });
    expect(result.timeline.map((e) => e.decision.action)).toEqual(['Start', 'Advance', 'Hold']);
    const hold = result.timeline[2]!;
    // one analysis a minute from 01:01 to 19:01, every one of them held
    expect(hold.count).toBe(19);
    expect(hold.count).toBe(result.analyses.length);
    expect(Object.values(hold.reasons ?? {}).reduce((a, b) => a + b, 0)).toBe(19);
    expect([hold.atMs, hold.lastAtMs]).toEqual([61_000, 19 * 60_000 + 1_000]);
    // what the revisions served over the whole run of holds
    expect(hold.served.v1!.total + hold.served.v2!.total).toBeGreaterThan(0.3 * 17 * 60);
    const text = renderEntry(hold, { stable: 'v1', canary: 'v2' }, { color: false });
    expect(text).toMatch(
      /^01:01 {2}Hold {5}step 2\/6 .*\n {9}held 19 times from 01:01 to 19:01 \(19 inconclusive\)\n/,
    );
  });

  it('says on each hold line how long canaria expects to wait for the evidence', async () => {
    const entries: string[] = [];
    await simulate(
      cluster(sequentialReviews()),
      scenarioSpec.parse({ maxDuration: '10m', traffic: { requestsPerSecond: 2 } }),
      {
        seed: 1,
        onEntry: (entry, sides) => entries.push(renderEntry(entry, sides, { color: false })),
      },
    );
    const holds = entries.filter((e) => / Hold /.test(e));
    expect(holds.length).toBeGreaterThan(0);
    for (const hold of holds) {
      expect(hold).toMatch(
        /\n {9}expected wait: ~\d+(s|m|h\S*) for about \d+ more canary requests \(error-ratio: \d+% of the evidence, this step needs \d+%\)$/,
      );
    }
  });

  it('hands each line to onEntry once it is complete, in order, with the sides’ names', async () => {
    const seen: { action: string; count: number; sides: string }[] = [];
    const result = await simulate(
      cluster(),
      scenarioSpec.parse({ maxDuration: '8m', traffic: { requestsPerSecond: 1 } }),
      {
        seed: 2,
        onEntry: (entry, sides) =>
          seen.push({
            action: entry.decision.action,
            count: entry.count,
            sides: `${sides.stable}->${sides.canary}`,
          }),
      },
    );
    expect(seen).toEqual(
      result.timeline.map((e) => ({ action: e.decision.action, count: e.count, sides: 'v1->v2' })),
    );
  });
});

describe('simulate: what the report draws', () => {
  it('records every analysis with its evidence, the rollback’s too, and the faults', async () => {
    const result = await run(sequentialReviews(), {
      faults: [{ at: '4m30s', revision: 'v2', errorRate: 0.2, latency: { p50: 100, p99: 900 } }],
    });
    expect(result.outcome).toBe('RolledBack');
    const last = result.analyses.at(-1)!;
    expect(last.atMs).toBe(result.timeline.find((e) => e.decision.action === 'Rollback')!.atMs);
    expect(last.verdict).toBe('Fail');
    const evidence = last.metrics.find((m) => m.metric === 'error-ratio')!;
    expect(evidence.sequential!.eValue).toBeGreaterThanOrEqual(evidence.sequential!.threshold);
    expect(evidence.query).toBeUndefined();
    // one analysis a minute, each with the requests of its window
    expect(result.analyses.length).toBeGreaterThanOrEqual(5);
    expect(result.analyses.every((a) => a.requests.canary > 0 && a.requests.stable > a.requests.canary)).toBe(
      true,
    );
    expect(result.faults).toEqual([
      {
        revision: 'v2',
        fromMs: 270_000,
        toMs: null,
        label: 'fault on v2: error rate 20%, latency p50 100 ms, p99 900 ms',
      },
    ]);
    expect(result.metrics).toEqual([
      {
        name: 'error-ratio',
        type: 'errorRatio',
        judge: 'sequential',
        window: 'increment',
        minSamples: 100,
        higherIsBetter: false,
      },
      {
        name: 'latency-p99',
        type: 'latencyQuantile',
        judge: 'relative',
        window: 'step',
        minSamples: 100,
        higherIsBetter: false,
      },
    ]);
  });

  it('measures the share the canary answered: a tenth during an A/B stage at weight 0, and shades the stage', async () => {
    const objects = reviewsWith((spec) => {
      spec.strategy = {
        steps: [
          {
            match: { headers: [{ name: 'end-user', exact: 'testuser' }], canaryWeight: 100, duration: '5m' },
          },
          { setWeight: 50 },
          { analysis: { duration: '2m' } },
        ],
      };
    });
    const result = await run(objects, {
      traffic: {
        requestsPerSecond: 50,
        requests: [{ share: 0.9 }, { share: 0.1, headers: { 'end-user': 'testuser' } }],
      },
    });
    expect(result.outcome).toBe('Succeeded');
    expect(result.stages).toHaveLength(1);
    const [stage] = result.stages;
    expect(stage).toMatchObject({
      kind: 'match',
      label: 'A/B: header end-user = testuser (100% of them to the canary)',
    });
    expect(stage!.fromMs).toBeLessThan(2_000);
    expect(stage!.toMs).toBeGreaterThan(5 * 60_000);
    const during = result.shares.filter((p) => p.atMs <= stage!.toMs - 60_000);
    expect(during.length).toBeGreaterThanOrEqual(4);
    for (const p of during) expect(p.canary / p.total).toBeGreaterThan(0.06);
    for (const p of during) expect(p.canary / p.total).toBeLessThan(0.14);
    expect(result.weights.filter((w) => w.atMs < stage!.toMs).every((w) => w.actual === 0)).toBe(true);
    // after the stage, half of everyone
    const later = result.shares.filter(
      (p) => p.atMs > stage!.toMs + 60_000 && p.atMs < result.durationMs - 60_000,
    );
    for (const p of later) expect(p.canary / p.total).toBeGreaterThan(0.4);
  });

  it('does not count mirrored copies as answers: the canary answers nothing while it is only mirrored', async () => {
    const objects = reviewsWith((spec) => {
      spec.strategy = { steps: [{ mirror: { percent: 50, duration: '3m' } }] };
    });
    const result = await run(objects, {});
    expect(result.stages.map((s) => [s.kind, s.label])).toEqual([
      ['mirror', 'mirror 50% of requests to the canary'],
    ]);
    const during = result.shares.filter((p) => p.atMs <= result.stages[0]!.toMs);
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.every((p) => p.canary === 0 && p.total > 0)).toBe(true);
  });
});

describe('simulate: managed mode', () => {
  const managedCluster = () => {
    const text = readFileSync(new URL('../../examples/managed-podinfo.yaml', import.meta.url), 'utf8');
    const loaded = loadCluster(parseManifests('managed-podinfo.yaml', text).manifests);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    return loaded.value;
  };
  const deployment = (c: SimulatedCluster, name: string) =>
    c.kube.get('Deployment', { namespace: 'default', name }) as Deployment;

  it('sets up the primary with the real reconciler, changes the Deployment, and promotes the change into the primary', async () => {
    const c = managedCluster();
    const original = structuredClone(deployment(c, 'podinfo').spec?.template);
    const result = await simulate(c, scenarioSpec.parse({}), { seed: 1 });
    expect(result.outcome).toBe('Succeeded');
    expect(result.mode).toBe('managed');
    expect(result.timeline.map((e) => e.decision.action).slice(0, 3)).toEqual([
      'Initialize',
      'Start',
      'Advance',
    ]);
    const actual = result.weights.map((w) => w.actual).filter((w, i, all) => w !== all[i - 1]);
    expect(actual).toEqual([0, 10, 50, 0]);
    // the primary runs the changed template now; the user's Deployment is scaled to zero (scaleToZero)
    const primary = deployment(c, 'podinfo-primary');
    expect(primary.spec?.template?.metadata?.annotations).toEqual({
      [SIMULATED_CHANGE_ANNOTATION]: 'canary',
    });
    // ...reading its own copy of the ConfigMap, written at promotion
    expect(primary.spec?.template?.spec).toEqual(
      JSON.parse(JSON.stringify(original?.spec).replace('"podinfo-config"', '"podinfo-config-primary"')),
    );
    expect(c.kube.get('ConfigMap', { namespace: 'default', name: 'podinfo-config-primary' })).toBeDefined();
    expect(deployment(c, 'podinfo').spec?.replicas).toBe(0);
    // stable is the primary's first revision, the canary the user's pods
    expect(result.canary).toEqual({ subset: 'canary', revision: 'canary' });
    expect(result.stable.subset).toBe('stable');
    expect(result.stable.revision).toMatch(/^[0-9a-f]{8}$/);
    expect(result.served.canary!.total).toBeGreaterThan(1000);
    expect(result.served[result.stable.revision]!.total).toBeGreaterThan(result.served.canary!.total);
  });

  it('rolls a bad change back by the scenario’s subset names, and reverts the Deployment’s template', async () => {
    const c = managedCluster();
    const original = structuredClone(deployment(c, 'podinfo').spec?.template);
    const scenario = scenarioSpec.parse({
      revisions: { canary: { errorRate: 0.08 }, stable: { errorRate: 0.005 } },
    });
    expect(checkScenarioNames(scenario, c)).toEqual([]);
    const result = await simulate(c, scenario, { seed: 1 });
    expect(result.outcome).toBe('RolledBack');
    expect(result.timeline.map((e) => e.decision.action).slice(-2)).toEqual(['Rollback', 'Revert']);
    expect(deployment(c, 'podinfo').spec?.template).toEqual(original);
    expect(canaryShare(result)).toBeLessThan(0.11);
  });
});

describe('simulate: through an HTTPRoute (Gateway API)', () => {
  const healthyRevisions = { v1: healthy!.scenario.revisions.v1!, v2: healthy!.scenario.revisions.v2! };
  type Rule = { name?: string; backendRefs: { name: string; weight?: number }[]; filters?: unknown[] };
  const rules = (c: SimulatedCluster) =>
    (c.kube.get('HTTPRoute', c.httpRoute!) as unknown as { spec: { rules: Rule[] } }).spec.rules;

  it('promotes a healthy canary, every request routed by the HTTPRoute the reconciler patched', async () => {
    const c = cluster(gatewayReviewsObjects('v2'));
    expect(c.router).toBe('gatewayAPI');
    const result = await simulate(c, scenarioSpec.parse({ revisions: healthyRevisions }), { seed: 1 });
    expect(result.outcome).toBe('Succeeded');
    expect([...new Set(result.weights.map((w) => w.actual))]).toEqual([0, 10, 20, 50, 100]);
    expect(rules(c)[0]?.backendRefs).toEqual([
      { name: 'reviews-v1', port: 9080, weight: 0 },
      { name: 'reviews-v2', port: 9080, weight: 100 },
    ]);
    // the Services' selectors picked the made-up Deployments: every request reached v1 or v2
    expect(result.dropped).toEqual({});
    expect(result.served.v2!.total).toBeGreaterThan(1000);
    expect(result.subsets).toEqual({ v1: 'reviews-v1', v2: 'reviews-v2' });
  });

  it('rolls a faulty canary back to weight 0 in the HTTPRoute while it has 10 % of the traffic', async () => {
    const c = cluster(gatewayReviewsObjects('v3'));
    const result = await simulate(c, faulty!.scenario, { seed: 1 });
    expect(result.outcome).toBe('RolledBack');
    expect(result.timeline.at(-1)?.decision.action).toBe('Rollback');
    expect(result.timeline.at(-1)?.actualWeight).toBe(0);
    expect(canaryShare(result)).toBeLessThan(0.11);
    const weights = Object.fromEntries(rules(c)[0]!.backendRefs.map((r) => [r.name, r.weight]));
    expect(weights).toEqual({ 'reviews-v1': 100, 'reviews-v3': 0 });
  });

  it('mirrors through a RequestMirror filter and routes a test group through canaria’s A/B rule', async () => {
    const mirrored = gatewayReviewsObjects('v2');
    (mirrored[0]!.spec as { strategy: unknown }).strategy = {
      steps: [{ mirror: { percent: 50, duration: '3m' } }],
    };
    const result = await simulate(cluster(mirrored), scenarioSpec.parse({}), { seed: 1 });
    expect(result.outcome).toBe('Succeeded');
    expect(result.stages.map((s) => s.kind)).toContain('mirror');
    const stage = result.timeline.find((e) => e.decision.message.startsWith('step 1 (mirror 50%) done'))!;
    expect(stage.served.v2!.total / stage.served.v1!.total).toBeGreaterThan(0.45);
    expect(stage.served.v2!.total / stage.served.v1!.total).toBeLessThan(0.55);

    const ab = gatewayReviewsObjects('v2');
    (ab[0]!.spec as { strategy: unknown }).strategy = {
      steps: [
        { match: { headers: [{ name: 'end-user', exact: 'testuser' }], canaryWeight: 100, duration: '5m' } },
        { setWeight: 50 },
        { analysis: { duration: '2m' } },
      ],
    };
    const abResult = await simulate(
      cluster(ab),
      scenarioSpec.parse({
        traffic: {
          requestsPerSecond: 50,
          requests: [{ share: 0.9 }, { share: 0.1, headers: { 'end-user': 'testuser' } }],
        },
      }),
      { seed: 1 },
    );
    expect(abResult.outcome).toBe('Succeeded');
    const [abStage] = abResult.stages;
    expect(abStage).toMatchObject({
      kind: 'match',
      label: 'A/B: header end-user = testuser (100% of them to the canary)',
    });
    // the test group, a tenth of the requests, reached the canary through canaria's A/B rule; nobody else
    const during = abResult.shares.filter((p) => p.atMs <= abStage!.toMs - 60_000);
    expect(during.length).toBeGreaterThanOrEqual(4);
    for (const p of during) expect(p.canary / p.total).toBeGreaterThan(0.06);
    for (const p of during) expect(p.canary / p.total).toBeLessThan(0.14);
  });

  it('managed mode: canaria creates <service>-primary and -canary, and promotes the change', async () => {
    const c = cluster(managedGatewayObjects());
    const result = await simulate(c, scenarioSpec.parse({}), { seed: 1 });
    expect(result.mode).toBe('managed');
    expect(result.outcome).toBe('Succeeded');
    const actual = result.weights.map((w) => w.actual).filter((w, i, all) => w !== all[i - 1]);
    expect(actual).toEqual([0, 10, 50, 0]);
    for (const name of ['podinfo-primary', 'podinfo-canary'])
      expect(c.kube.get('Service', { namespace: 'default', name })).toBeDefined();
    expect(result.canary).toEqual({ subset: 'podinfo-canary', revision: 'canary' });
    expect(result.served.canary!.total).toBeGreaterThan(1000);
  });
});

describe('simulate: webhooks and notifications', () => {
  const withHooks = (webhooks: Record<string, unknown>[], notifications?: Record<string, unknown>) =>
    reviewsWith((spec) => {
      spec.webhooks = webhooks;
      if (notifications) spec.notifications = notifications;
    });
  const firstAt = (r: SimulationResult, action: string) =>
    r.timeline.find((e) => e.decision.action === action)?.lastAtMs;

  it('holds at 0 % while pre-rollout fails for its first 2 minutes, then proceeds; the timeline lists the calls', async () => {
    const result = await run(
      withHooks([{ name: 'smoke', type: 'pre-rollout', url: 'http://smoke.test/check?token=x' }]),
      { hooks: { smoke: { fail: true, to: '2m' } } },
    );
    expect(result.outcome).toBe('Succeeded');
    const calls = result.hookCalls.filter((c) => c.name === 'smoke');
    // first asked at the first reconcile's look again (a slice, 5 s), then again every analysis
    // interval (a minute) while it failed, and once after it passed
    expect(calls.filter((c) => !c.ok).map((c) => c.atMs)).toEqual([5_000, 65_000]);
    expect(calls.every((c) => c.ok === c.atMs >= 120_000)).toBe(true);
    expect(calls.filter((c) => c.ok)).toHaveLength(1);
    // no traffic moved before the hook passed
    const exposed = result.weights.find((w) => w.actual > 0);
    expect(exposed?.atMs).toBeGreaterThanOrEqual(120_000);
    expect(result.served.v2?.total ?? 0).toBeGreaterThan(0);
    const waiting = result.timeline.find((e) => e.decision.reason === 'WaitingForHook');
    expect(waiting?.desiredWeight).toBe(0);
    expect(waiting?.hooks?.map((c) => c.statusCode)).toContain(500);
    const text = result.timeline
      .map((e) => renderEntry(e, { stable: 'v1', canary: 'v2' }, { color: false }))
      .join('\n');
    expect(text).toMatch(/hook smoke, pre-rollout: HTTP 500 \(failed\) x2 \(00:05-01:05\)/);
    expect(text).toMatch(/hook smoke, pre-rollout: HTTP 200 at 02:05/);
  });

  it('keeps a confirm-promotion gate closed until minute 15: the release holds at its last step until then', async () => {
    const result = await run(
      withHooks([{ name: 'release-manager', type: 'confirm-promotion', url: 'http://gate.test/approve' }]),
      { hooks: { 'release-manager': { status: 403, to: '15m' } } },
    );
    expect(result.outcome).toBe('Succeeded');
    const holdAt = result.timeline.find((e) => e.decision.reason === 'WaitingForHook');
    expect(holdAt?.actualWeight).toBe(50);
    expect(holdAt?.atMs).toBeLessThan(10 * 60_000);
    expect(firstAt(result, 'Promote') ?? firstAt(result, 'Succeed')).toBeGreaterThanOrEqual(15 * 60_000);
    // at 50 % the whole time it waited
    const during = result.weights.filter((w) => w.atMs > (holdAt?.atMs ?? 0) && w.atMs < 15 * 60_000);
    expect(during.every((w) => w.actual === 50)).toBe(true);
    const gate = result.hookCalls.filter((c) => c.gate === 'confirm-promotion');
    expect(gate.at(-1)).toMatchObject({ statusCode: 200, ok: true });
    expect(gate.slice(0, -1).every((c) => c.statusCode === 403)).toBe(true);
  });

  it('lists the notifications each decision would send, with each sink’s severity filter', async () => {
    const sinks = {
      sinks: [
        { name: 'team-chat', type: 'slack', secretRef: { name: 'slack', key: 'url' } },
        { name: 'pager', type: 'cloudevents', secretRef: { name: 'pager', key: 'url' }, severity: 'error' },
      ],
    };
    const result = await run(
      reviewsWith((spec) => {
        spec.notifications = sinks;
      }),
      { faults: [{ at: '0s', revision: 'v2', errorRate: 0.2 }] },
    );
    expect(result.outcome).toBe('RolledBack');
    const kinds = result.notifications.map((n) => `${n.severity} ${n.kind} -> ${n.sentTo.join(',')}`);
    expect(kinds[0]).toBe('info started -> team-chat');
    expect(kinds.at(-1)).toBe('error rolledback -> team-chat,pager');
    expect(result.notifications[0]?.skipped).toEqual([{ sink: 'pager', why: 'filtered' }]);
    const rollback = result.timeline.at(-1)!;
    expect(renderEntry(rollback, { stable: 'v1', canary: 'v2' }, { color: false })).toContain(
      'notify error rolledback (AnalysisFailed) to team-chat, pager',
    );
  });

  it('calls the rollout hook with each analysis once the canary has traffic, fails analyses while it fails, and tells post-rollout once', async () => {
    const hooks = [
      { name: 'load', type: 'rollout', url: 'http://loadtester.test/' },
      { name: 'done', type: 'post-rollout', url: 'http://done.test/' },
      { name: 'undo', type: 'rollback', url: 'http://undo.test/' },
    ];
    const healthy = await run(withHooks(hooks), {});
    expect(healthy.outcome).toBe('Succeeded');
    const load = healthy.hookCalls.filter((c) => c.name === 'load');
    // one call per analysis, none before the canary had traffic
    expect(load.length).toBe(healthy.analyses.length);
    const firstExposed = healthy.weights.find((w) => w.actual > 0)?.atMs ?? 0;
    expect(load.every((c) => c.atMs >= firstExposed)).toBe(true);
    expect(healthy.hookCalls.filter((c) => c.type === 'post-rollout')).toHaveLength(1);
    expect(healthy.hookCalls.filter((c) => c.type === 'rollback')).toHaveLength(0);
    expect(healthy.timeline.at(-1)?.hooks?.map((c) => c.name)).toEqual(['done']);

    const failing = await run(withHooks(hooks), { hooks: { load: { fail: true, from: '3m' } } });
    expect(failing.outcome).toBe('RolledBack');
    expect(failing.timeline.at(-1)?.decision.action).toBe('Rollback');
    expect(failing.timeline.at(-1)!.atMs).toBeGreaterThanOrEqual(3 * 60_000);
    expect(failing.hookCalls.filter((c) => c.type === 'rollback')).toHaveLength(1);
  });

  it('records no notifications without sinks, and leaves the timeline of a release without hooks as it was', async () => {
    const result = await run(reviewsObjects('v2'), {});
    expect(result.notifications).toEqual([]);
    expect(result.hookCalls).toEqual([]);
    expect(result.timeline.every((e) => e.hooks === undefined && e.notifications === undefined)).toBe(true);
  });

  it('names a scenario hook the release does not have', () => {
    const c = cluster(withHooks([{ name: 'smoke', type: 'pre-rollout', url: 'http://smoke.test/' }]));
    expect(checkScenarioNames(scenarioSpec.parse({ hooks: { smok: { fail: true } } }), c)).toEqual([
      { path: 'hooks.smok', message: 'the release has no webhook "smok"; its webhooks: smoke' },
    ]);
  });
});
