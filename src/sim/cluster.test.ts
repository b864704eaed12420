import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseManifests, type Manifest } from '../routers/istio/manifests.js';
import type { Deployment, KubeObject } from '../kube/resources.js';
import { defaultTemplates, loadCluster, unsimulatableMetrics } from './cluster.js';
import { gatewayReviewsObjects, managedGatewayObjects, relativeReviews } from '../../test/builders/sim.js';
import { reviewsObjects } from './demo.js';

const EXAMPLE = new URL('../../examples/scenarios/reviews-release.yaml', import.meta.url);
const MANAGED = new URL('../../examples/managed-podinfo.yaml', import.meta.url);

/** The objects as one multi-document file, so problems can point at lines. */
const fileText = (objects: readonly KubeObject[]): string => objects.map((o) => stringify(o)).join('---\n');
const asFile = (objects: readonly KubeObject[]): Manifest[] =>
  parseManifests('release.yaml', fileText(objects)).manifests;

const problems = (objects: readonly KubeObject[]) => {
  const loaded = loadCluster(asFile(objects));
  if (loaded.ok) throw new Error('expected problems');
  return loaded.problems;
};

describe('loadCluster: the release file in an in-memory cluster', () => {
  it('applies the file’s objects, marks its Deployments ready and makes up the missing ones', () => {
    const loaded = loadCluster(
      parseManifests('reviews-release.yaml', readFileSync(EXAMPLE, 'utf8')).manifests,
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const { kube, stable, canary, service } = loaded.value;
    expect(stable).toEqual({ subset: 'v1', revision: 'v1' });
    expect(canary).toEqual({ subset: 'v2', revision: 'v2' });
    expect(service).toEqual({
      host: 'reviews',
      namespace: 'default',
      revisions: new Map([
        ['v1', 'v1'],
        ['v2', 'v2'],
      ]),
    });
    const v1 = kube.get('Deployment', { namespace: 'default', name: 'reviews-v1' }) as Deployment;
    expect(v1.spec?.replicas).toBe(3);
    expect(v1.status).toMatchObject({ availableReplicas: 3, updatedReplicas: 3, observedGeneration: 1 });
    expect(kube.list('ClusterAnalysisTemplate').map((t) => t.metadata.name)).toEqual(
      defaultTemplates().map((t) => t.metadata.name),
    );
    expect(kube.get('CanaryRelease', loaded.value.release)?.status).toBeUndefined();
  });

  it('gives made-up pods a version label when the subset has none, so each revision can be told apart', () => {
    const [release, vs, dr] = reviewsObjects('canary');
    (dr!.spec as { subsets: unknown[] }).subsets = [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'canary', labels: { track: 'canary' } },
    ];
    const loaded = loadCluster(asFile([release!, vs!, dr!]));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    expect(loaded.value.canary).toEqual({ subset: 'canary', revision: 'canary' });
    const made = loaded.value.kube.get('Deployment', {
      namespace: 'default',
      name: 'reviews-canary',
    }) as Deployment;
    expect(made.spec?.template?.metadata?.labels).toEqual({ track: 'canary', version: 'canary' });
  });

  it('says what is missing or wrong, with the file, the line and the field', () => {
    const [release, vs, dr] = reviewsObjects('v2');
    expect(problems([vs!, dr!])).toEqual([
      {
        file: 'release.yaml',
        message: 'no CanaryRelease found; add one (apiVersion: canaria.dev/v1alpha1, kind: CanaryRelease)',
      },
    ]);
    expect(problems([release!, dr!])).toEqual([
      {
        file: 'release.yaml',
        message:
          'spec.trafficRouting.istio.virtualService.name: VirtualService "reviews" (namespace default) is not in the files; add it, the simulator routes every request through it',
      },
    ]);

    const broken = structuredClone(release!);
    (broken.spec as { strategy: { steps: unknown[] } }).strategy.steps[0] = { setWeight: 150 };
    const [problem] = problems([broken, vs!, dr!]);
    expect(problem?.message).toBe(
      'spec.strategy.steps[0].setWeight: setWeight must be <= 100 (percent of traffic)',
    );
    const lines = fileText([broken, vs!, dr!]).split('\n');
    expect(problem?.line).toBe(lines.findIndex((l) => l.includes('setWeight: 150')) + 1);
  });

  it('picks one release of several with --release, by name or namespace/name, and names the others', () => {
    const [release, vs, dr] = reviewsObjects('v2');
    const other = structuredClone(release!);
    other.metadata = { name: 'ratings', namespace: 'default' };
    const both = asFile([release!, other, vs!, dr!]);
    const several = loadCluster(both);
    expect(several.ok ? [] : several.problems.map((p) => p.message)).toEqual([
      '2 CanaryReleases found (default/reviews, default/ratings); pick one with --release NAME, e.g. --release default/reviews',
    ]);
    for (const name of ['reviews', 'default/reviews']) {
      const picked = loadCluster(both, { release: name });
      if (!picked.ok) throw new Error(JSON.stringify(picked.problems));
      expect(picked.value.release).toEqual({ namespace: 'default', name: 'reviews' });
      // only the picked release is in the simulated cluster: the other would claim the same route
      expect(picked.value.kube.list('CanaryRelease').map((r) => r.metadata.name)).toEqual(['reviews']);
    }
    const missing = loadCluster(both, { release: 'details' });
    expect(missing.ok ? [] : missing.problems.map((p) => p.message)).toEqual([
      '--release details: no CanaryRelease of that name in the files; they have default/reviews, default/ratings',
    ]);
  });

  it('loads a managed release: the user’s Deployment, no made-up ones, the canary by its pods’ label', () => {
    const loaded = loadCluster(
      parseManifests('managed-podinfo.yaml', readFileSync(MANAGED, 'utf8')).manifests,
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    expect(loaded.value.mode).toBe('managed');
    expect(loaded.value.target).toEqual({ namespace: 'default', name: 'podinfo' });
    expect(loaded.value.canary).toEqual({ subset: 'canary', revision: 'canary' });
    expect(loaded.value.kube.list('Deployment').map((d) => d.metadata.name)).toEqual(['podinfo']);
    expect(loaded.value.metrics.map((m) => `${m.name} ${m.judge.type}`)).toEqual([
      'error-ratio sequential',
      'latency-p99 relative',
    ]);

    const withoutTarget = parseManifests(
      'managed-podinfo.yaml',
      readFileSync(MANAGED, 'utf8'),
    ).manifests.filter((m) => (m.doc as KubeObject).kind !== 'Deployment');
    const refused = loadCluster(withoutTarget);
    expect(refused.ok ? [] : refused.problems.map((p) => p.message)).toEqual([
      'spec.targetRef.name: Deployment "podinfo" (namespace default) is not in the files; add it, the simulator sets up its primary copy from it and runs your change of it as the canary',
    ]);
  });

  it('names the metrics it cannot simulate, with where the release names them', () => {
    const [release, vs, dr] = relativeReviews();
    const spec = release!.spec as { analysis: { metrics: unknown[]; templates?: unknown[] } };
    spec.analysis.metrics.push(
      { name: 'custom', type: 'promql', query: 'vector(1)', judge: { type: 'threshold', max: 2 } },
      { name: 'slow', type: 'slowRatio', latencyThresholdMs: 300, judge: { type: 'sequential' } },
    );
    spec.analysis.templates = [{ name: 'upstream-failures', kind: 'ClusterAnalysisTemplate' }];
    const loaded = loadCluster(asFile([release!, vs!, dr!]));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const issues = unsimulatableMetrics(loaded.value);
    expect(issues.map((i) => i.path)).toEqual([
      'spec.analysis.templates[0] (ClusterAnalysisTemplate upstream-failures): metric "upstream-failures"',
      'spec.analysis.metrics[2]: metric "custom"',
      'spec.analysis.metrics[3]: metric "slow"',
    ]);
    expect(issues[0]?.message).toMatch(/^custom PromQL cannot be simulated/);
    expect(issues[2]?.message).toMatch(
      /^latencyThresholdMs 300 is not a bucket bound .*use one of .*250, 500/,
    );
    // the demo's release, on the shipped templates, and one with metrics in place: nothing to refuse
    for (const objects of [reviewsObjects('v2'), relativeReviews()]) {
      const plain = loadCluster(asFile(objects));
      expect(plain.ok && unsimulatableMetrics(plain.value)).toEqual([]);
    }
  });
});

describe('loadCluster with trafficRouting.gatewayAPI', () => {
  it('makes up a ready Deployment for each version Service and reads the sides from their selectors', () => {
    const loaded = loadCluster(asFile(gatewayReviewsObjects('v2')));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const { kube, router, httpRoute, stable, canary, service, mode } = loaded.value;
    expect({ router, httpRoute, mode }).toEqual({
      router: 'gatewayAPI',
      httpRoute: { namespace: 'default', name: 'reviews' },
      mode: 'subsets',
    });
    expect(stable).toEqual({ subset: 'reviews-v1', revision: 'v1' });
    expect(canary).toEqual({ subset: 'reviews-v2', revision: 'v2' });
    expect(service.revisions).toEqual(
      new Map([
        ['reviews-v1', 'v1'],
        ['reviews-v2', 'v2'],
      ]),
    );
    const made = kube.get('Deployment', { namespace: 'default', name: 'reviews-v2' }) as Deployment;
    expect(made.spec?.template?.metadata?.labels).toEqual({ app: 'reviews', version: 'v2' });
    expect(made.status?.readyReplicas).toBe(1);
  });

  it('names the field and the fix when the HTTPRoute or a version Service is not in the files', () => {
    const withoutCanary = gatewayReviewsObjects('v2').filter((o) => o.metadata.name !== 'reviews-v2');
    expect(problems(withoutCanary).map((p) => p.message)).toEqual([
      'spec.trafficRouting.gatewayAPI.canaryService: Service "reviews-v2" (namespace default) is not in the files; add it, its selector picks the canary pods',
    ]);
    const withoutRoute = gatewayReviewsObjects('v2').filter((o) => o.kind !== 'HTTPRoute');
    expect(problems(withoutRoute)[0]?.message).toMatch(
      /^spec\.trafficRouting\.gatewayAPI\.httpRoute\.name: HTTPRoute "reviews" \(namespace default\) is not in the files/,
    );
    const managedWithoutService = managedGatewayObjects().filter((o) => o.kind !== 'Service');
    expect(problems(managedWithoutService).map((p) => p.message)).toEqual([
      'spec.targetRef.name: Service "podinfo" (namespace default) is not in the files; add it, canaria copies its selector and ports into podinfo-primary and podinfo-canary',
    ]);
  });
});
