import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseManifests, type Manifest } from '../istio/manifests.js';
import type { Deployment, KubeObject } from '../kube/resources.js';
import { defaultTemplates, loadCluster } from './cluster.js';
import { reviewsObjects } from './demo.js';

const EXAMPLE = new URL('../../examples/scenarios/reviews-release.yaml', import.meta.url);

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
    expect(problems([release!, release!, vs!, dr!])[0]?.message).toMatch(
      /^2 CanaryReleases found; simulate one at a time/,
    );
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

    const managed = structuredClone(release!);
    const spec = managed.spec as Record<string, unknown>;
    delete spec.subsets;
    spec.targetRef = { name: 'reviews' };
    expect(problems([managed, vs!, dr!])[0]?.message).toMatch(
      /^spec.targetRef: managed mode cannot be simulated yet/,
    );
  });
});
