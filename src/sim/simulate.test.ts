import { describe, expect, it } from 'vitest';
import type { Manifest } from '../istio/manifests.js';
import type { KubeObject } from '../kube/resources.js';
import { loadCluster, type SimulatedCluster } from './cluster.js';
import { DEMO_CASES, reviewsObjects } from './demo.js';
import { renderEntry, renderSummary } from './render.js';
import { scenarioSpec, type ScenarioInput } from './scenario.js';
import { checkScenarioNames, simulate, type SimulationResult } from './simulate.js';

const [healthy, faulty] = DEMO_CASES;

const manifests = (objects: readonly KubeObject[]): Manifest[] =>
  objects.map((doc) => ({ file: 'test.yaml', doc, line: () => undefined }));

function cluster(objects: readonly KubeObject[] = reviewsObjects('v2')): SimulatedCluster {
  const loaded = loadCluster(manifests(objects));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  return loaded.value;
}

/** The demo's reviews release with its spec changed by `edit`. */
function reviewsWith(edit: (spec: Record<string, unknown>) => void, canary = 'v2'): KubeObject[] {
  const [release, ...rest] = reviewsObjects(canary);
  const copy = structuredClone(release!);
  edit(copy.spec as Record<string, unknown>);
  return [copy, ...rest];
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
