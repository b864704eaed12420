import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { canaryReleaseSpec, type CanaryReleaseSpecInput } from '../api/canary-release.js';
import { API_VERSION } from '../api/meta.js';
import { parseCanaryRelease } from '../api/validation.js';
import { resolveMetrics } from '../analysis/resolve.js';
import { baseSpecInput } from '../../test/builders/release.js';
import { deployment, managedPrimary, NAMESPACE, reviewsCluster } from '../../test/builders/cluster.js';
import { templateCatalog } from '../../test/harness/templates.js';
import { observeRelease } from './observe.js';

const spec = (input: CanaryReleaseSpecInput) => canaryReleaseSpec.parse(input);
const reviews = () => managedPrimary(baseSpecInput());
const withAnalysis = (analysis: CanaryReleaseSpecInput['analysis']) => ({ ...reviews(), analysis });

/** Configurations that parse but do not fit the cluster: each must name the field and the fix. */
describe('observeRelease: configuration checked against the cluster', () => {
  const issuesOf = (
    input: CanaryReleaseSpecInput,
    prepare: (kube: ReturnType<typeof reviewsCluster>) => void = () => undefined,
  ) => {
    const kube = reviewsCluster(input);
    prepare(kube);
    return observeRelease(kube, NAMESPACE, spec(input)).observations.configIssues;
  };

  it('accepts the reviews release as it is', () => {
    expect(issuesOf(reviews())).toEqual([]);
  });

  it.each([
    [
      'an unknown template',
      withAnalysis({ templates: [{ name: 'error-rate' }] }),
      'spec.analysis.templates[0].name',
      /AnalysisTemplate "error-rate" not found/,
    ],
    [
      'a template of the other scope',
      withAnalysis({ templates: [{ name: 'shared', kind: 'AnalysisTemplate' }] }),
      'spec.analysis.templates[0].name',
      /a ClusterAnalysisTemplate of that name exists: set kind/,
    ],
    [
      'a template argument the template does not declare',
      withAnalysis({
        templates: [
          { name: 'shared', kind: 'ClusterAnalysisTemplate', args: [{ name: 'nope', value: 'x' }] },
        ],
      }),
      'spec.analysis.templates[0].args[0].name',
      /has no argument "nope"/,
    ],
    [
      'two metrics of the same name',
      withAnalysis({
        templates: [{ name: 'shared', kind: 'ClusterAnalysisTemplate' }],
        metrics: [{ name: 'shared-errors', type: 'errorRatio', judge: { type: 'threshold', max: 0.01 } }],
      }),
      'spec.analysis.metrics[0].name',
      /metric name "shared-errors" is also used by ClusterAnalysisTemplate shared/,
    ],
    [
      'a canary subset the DestinationRule does not have',
      { ...reviews(), trafficRouting: { istio: { ...reviews().trafficRouting.istio!, canarySubset: 'v9' } } },
      'spec.trafficRouting.istio.canarySubset',
      /v9/,
    ],
  ])('reports %s', (_what, input, path, message) => {
    const issues = issuesOf(input, (kube) => {
      kube.apply('ClusterAnalysisTemplate', {
        apiVersion: API_VERSION,
        kind: 'ClusterAnalysisTemplate',
        metadata: { name: 'shared' },
        spec: { metrics: [{ name: 'shared-errors', type: 'errorRatio', judge: { type: 'relative' } }] },
      });
    });
    const issue = issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(issues)).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it("reports seed 002's weight inside destination, with the VirtualService path and the fix", () => {
    const issues = issuesOf(reviews(), (kube) => {
      const vs = structuredClone(kube.get('VirtualService', { namespace: NAMESPACE, name: 'reviews' })) as {
        spec: { http: { route: { destination: Record<string, unknown>; weight?: number }[] }[] };
      };
      const managed = vs.spec.http[1]!;
      for (const d of managed.route) {
        d.destination.weight = d.weight;
        delete d.weight;
      }
      kube.apply('VirtualService', vs as never);
    });
    const issue = issues.find(
      (i) => i.path === 'VirtualService/reviews:spec.http[1].route[0].destination.weight',
    );
    expect(issue, JSON.stringify(issues)).toBeDefined();
    expect(issue?.message).toMatch(/beside destination|next to destination|out of destination/);
  });

  it('reports a missing DestinationRule by its field', () => {
    const issues = issuesOf(reviews(), (kube) => {
      kube.remove('DestinationRule', { namespace: NAMESPACE, name: 'reviews' });
    });
    expect(issues).toContainEqual({
      path: 'spec.trafficRouting.istio.destinationRule.name',
      message: 'DestinationRule "reviews" not found in namespace "default"',
    });
  });

  it('reports two Deployments that both run the canary subset and asks to name one', () => {
    const issues = issuesOf(reviews(), (kube) => {
      kube.apply('Deployment', deployment('reviews-v2-copy', 'v2', 'reviews:2'));
    });
    expect(issues.find((i) => i.path === 'spec.subsets.canaryDeployment')?.message).toMatch(
      /several Deployments run subset v2 \(reviews-v2, reviews-v2-copy\)/,
    );
  });

  it('reports pods whose revisions Prometheus cannot tell apart', () => {
    const input = {
      ...withAnalysis({ metrics: [{ name: 'errors', type: 'errorRatio', judge: { type: 'relative' } }] }),
      subsets: { stableDeployment: 'reviews-v1', canaryDeployment: 'reviews-v2' },
    };
    const issues = issuesOf(input, (kube) => {
      const canary = deployment('reviews-v2', 'v2', 'reviews:2');
      canary.spec!.template!.metadata!.labels = { app: 'reviews', version: 'v1', track: 'canary' };
      kube.apply('Deployment', canary);
    });
    expect(issues.find((i) => i.path === 'spec.analysis.revisionLabel')?.message).toMatch(
      /both report destination_canonical_revision="v1", so Prometheus cannot tell them apart/,
    );
  });

  it('reads the canary revision, readiness and the routing the VirtualService shows', () => {
    const kube = reviewsCluster(reviews());
    const seen = observeRelease(kube, NAMESPACE, spec(reviews()));
    expect(seen.observations).toMatchObject({
      canaryReady: true,
      actualRouting: { stableWeight: 100, canaryWeight: 0, match: false },
    });
    expect(seen.observations.canaryRevision).toMatch(/^[0-9a-f]{8}$/);
    expect(seen.reported).toEqual({ canary: 'v2', stable: 'v1' });
    expect(seen.services).toEqual({ stable: 'reviews', canary: 'reviews' });
  });
});

describe('the README example', () => {
  it('is a valid CanaryRelease whose templates ship with canaria', () => {
    const doc: unknown = parse(
      readFileSync(new URL('../../examples/s1-myweb.yaml', import.meta.url), 'utf8'),
    );
    const parsed = parseCanaryRelease(doc);
    expect(parsed.ok ? [] : parsed.issues).toEqual([]);
    if (!parsed.ok) return;
    expect(parsed.value).toMatchObject({ apiVersion: API_VERSION, metadata: { name: 'myweb' } });
    const { metrics, issues } = resolveMetrics(parsed.value.spec.analysis, templateCatalog());
    expect(issues).toEqual([]);
    expect(metrics.map((m) => m.name)).toEqual(['error-ratio', 'latency-p99']);
  });

  it('is the YAML the README shows', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../examples/s1-myweb.yaml', import.meta.url), 'utf8');
    const body = example.slice(example.indexOf('apiVersion:'));
    expect(readme).toContain(body.trim());
  });
});

describe('observeRelease: the traffic routers this controller runs', () => {
  it('refuses a release whose router is not enabled, with the flag and the chart value that enable it', () => {
    const kube = reviewsCluster(reviews());
    const seen = observeRelease(kube, NAMESPACE, spec(reviews()), {
      release: 'reviews',
      trackSecrets: false,
      routers: ['gatewayAPI'],
    });
    expect(seen.observations.configIssues).toContainEqual({
      path: 'spec.trafficRouting.istio',
      message: expect.stringContaining(
        'the istio router is not enabled in this controller (--routers=gatewayAPI; chart value routers.istio.enabled)',
      ) as string,
    });
    expect(seen.observations.actualRouting).toBeUndefined();
  });
});
