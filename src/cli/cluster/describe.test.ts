import { describe, expect, it } from 'vitest';
import { managedPrimary, reviewsCluster } from '../../../test/builders/cluster.js';
import { baseSpecInput, errorRatioAnalysis } from '../../../test/builders/release.js';
import { controller, failing, placeRelease, testEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { MemoryKube } from '../../kube/memory.js';
import type { KubeObject } from '../../kube/resources.js';
import { runDescribe } from './describe.js';

const REF = { namespace: 'default', name: 'reviews' };

/** reviews rolled back by the real controller after failed analyses, as the API server stores it. */
async function rolledBack() {
  const kube = reviewsCluster({
    ...managedPrimary(baseSpecInput()),
    strategy: { steps: [{ setWeight: 10 }, { analysis: {} }, { setWeight: 50 }, { analysis: {} }] },
    analysis: errorRatioAnalysis(),
  });
  await controller(kube, failing).runUntil((s) => s.phase === 'RolledBack');
  return kube;
}

describe('canaria describe NAME', () => {
  it('shows every decision with the numbers behind it: verdict, rule, counts, values, bound (golden)', async () => {
    const kube = await rolledBack();
    const env = testEnv(kube);
    expect(await runDescribe('reviews', { color: false }, env)).toBe(0);
    expect(env.err).toEqual([]);
    const text = `${env.out.join('\n')}\n`;
    expect(text).toMatch(/^Decisions:$/m);
    expect(text).toMatch(/Rollback \(AnalysisFailed\)|Rollback \(\w+\)/);
    expect(text).toMatch(/rule {3}canary .* > /);
    await expect(text).toMatchFileSnapshot('./__golden__/describe-rollback.txt');
  });

  it('prints evidence fields it does not know by name, so a new judge field shows up', async () => {
    const kube = await rolledBack();
    const stored = structuredClone(kube.get('CanaryRelease', REF)) as KubeObject;
    const status = stored.status as { decisions: { metrics?: Record<string, unknown>[] }[] };
    const judged = status.decisions.find((d) => d.metrics?.length);
    expect(judged).toBeDefined();
    const metric = judged?.metrics?.[0] ?? {};
    metric.pValue = 0.0031;
    (metric.canary as Record<string, unknown>).p50Ms = 42;
    await kube.writeReleaseStatus(REF, stored.status as never);
    const env = testEnv(kube);
    expect(await runDescribe('reviews', { color: false }, env)).toBe(0);
    expect(env.out.some((l) => /^ {6}pValue 0\.0031$/.test(l))).toBe(true);
    expect(env.out.some((l) => /^ {6}canary .*p50Ms 42$/.test(l))).toBe(true);
  });

  it('says when the release does not exist, with exit code 3', async () => {
    const env = testEnv(await rolledBack());
    expect(await runDescribe('ratings', { color: false }, env)).toBe(3);
    expect(env.err[0]).toMatch(/^canaryrelease default\/ratings not found/);
  });

  it('names the HTTPRoute and Services of a Gateway API release, and no VirtualService', async () => {
    const kube = new MemoryKube();
    placeRelease(kube, {
      name: 'reviews',
      spec: {
        ...baseSpecInput(),
        trafficRouting: { gatewayAPI: { httpRoute: { name: 'reviews', rule: 'main' } } },
        subsets: undefined,
        targetRef: { name: 'reviews' },
      },
    });
    const env = testEnv(kube);
    expect(await runDescribe('reviews', { color: false }, env)).toBe(0);
    const text = env.out.join('\n');
    expect(text).toMatch(/^HTTPRoute: +reviews \(rule main\)$/m);
    expect(text).toMatch(/^Services: +stable reviews-primary, canary reviews-canary$/m);
    expect(text).not.toMatch(/^VirtualService:/m);
  });
});
