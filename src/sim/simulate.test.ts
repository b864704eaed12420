import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifests, type Manifest } from '../istio/manifests.js';
import type { Deployment, KubeObject } from '../kube/resources.js';
import { loadCluster, type SimulatedCluster } from './cluster.js';
import { RELATIVE_ANALYSIS, relativeReviews, reviewsWith } from '../../test/builders/sim.js';
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
    const vs = c.kube.get('VirtualService', c.virtualService) as {
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
    const before = c.kube.get('VirtualService', c.virtualService)?.spec;
    const result = await simulate(c, scenarioSpec.parse({}), { seed: 1 });
    expect(result.outcome).toBe('Failed');
    expect(result.message).toMatch(/invalid configuration, traffic left as it is: .*v9/);
    expect(c.kube.get('VirtualService', c.virtualService)?.spec).toEqual(before);
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
