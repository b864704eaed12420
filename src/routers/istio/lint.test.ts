import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { destinationRule, route, to, virtualService } from '../../../test/fixtures/seeds/builders.js';
import { lintDocuments, type LintInput } from './lint.js';
import type { HttpRoute } from './types.js';

const inFile = (...docs: unknown[]): LintInput[] => docs.map((doc) => ({ file: 'app.yaml', doc }));
/** The errors and warnings; the notes on what lint could not check have tests of their own. */
const lint = (...docs: unknown[]) => lintDocuments(inFile(...docs)).filter((f) => f.severity !== 'info');
const notes = (...docs: unknown[]) =>
  lintDocuments(inFile(...docs))
    .filter((f) => f.severity === 'info')
    .map((f) => `${f.resource} ${f.path}: ${f.message}`);
const summary = (...docs: unknown[]) => lint(...docs).map((f) => `${f.severity} ${f.path}`);

describe('lintDocuments', () => {
  it('finds nothing in a correct VirtualService and DestinationRule', () => {
    const vs = virtualService([
      route([to('v2', 10), to('v3', 90)], { match: [{ headers: { 'end-user': { exact: 'testuser' } } }] }),
      route([to('v1')]),
    ]);
    expect(
      lint(vs, destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' }, v3: { version: 'v3' } })),
    ).toEqual([]);
  });

  it('reports weight inside destination as an error with file, resource, path and fix', () => {
    const vs = virtualService([route([{ destination: { host: 'reviews', subset: 'v1', weight: 100 } }])], {
      namespace: 'test1',
    });
    expect(lint(vs)).toEqual([
      {
        severity: 'error',
        file: 'app.yaml',
        resource: 'VirtualService test1/reviews',
        path: 'spec.http[0].route[0].destination.weight',
        message:
          'weight is not a field of destination; Istio rejects the VirtualService (unknown field) and the split does not happen',
        fix: 'move "weight: 100" out of destination, to spec.http[0].route[0].weight beside destination',
      },
    ]);
  });

  it('reports all-zero weights, and sums other than 100 as errors only for an Istio before 1.15', () => {
    expect(summary(virtualService([route([to('v1', 0), to('v2')])]))).toEqual(['error spec.http[0].route']);
    const uneven = virtualService([route([to('v1', 999), to('v2', 1)])]);
    expect(summary(uneven)).toEqual(['warning spec.http[0].route']);
    const old = lintDocuments(inFile(uneven), { istioVersion: '1.14' }).filter((f) => f.severity !== 'info');
    expect(old.map((f) => f.message)).toEqual([
      'the weights add up to 1000; Istio 1.14 rejects a route whose weights do not add up to 100',
    ]);
  });

  it('reports routes after a catch-all as unreachable', () => {
    const matched: HttpRoute = route([to('v2')], {
      match: [{ headers: { 'end-user': { exact: 'testuser' } } }],
    });
    expect(summary(virtualService([route([to('v1')]), matched]))).toEqual(['error spec.http[1]']);
    expect(
      summary(virtualService([route([to('v1')], { match: [{ uri: { prefix: '/' } }] }), matched])),
    ).toEqual(['error spec.http[1]']);
    const otherGateway = route([to('v2')], { match: [{ gateways: ['edge'], uri: { prefix: '/x' } }] });
    expect(summary(virtualService([route([to('v1')]), otherGateway]))).toEqual([]);
  });

  it('reports regexes Istio cannot compile, and upper-case header names', () => {
    const vs = virtualService([
      route([to('v2')], {
        match: [{ uri: { regex: '(?!admin).*' }, headers: { 'End-User': { exact: 'x' } } }],
      }),
      route([to('v1')]),
    ]);
    expect(summary(vs)).toEqual([
      'error spec.http[0].match[0].uri.regex',
      'warning spec.http[0].match[0].headers.End-User',
    ]);
  });

  it('warns about the cookie regex idiom that misses cookies after "; "', () => {
    const vs = virtualService([
      route([to('v2')], {
        match: [{ headers: { cookie: { regex: '^(.*?;)?(email=[^;]*@x.com)(;.*)?$' } } }],
      }),
      route([to('v1')]),
    ]);
    expect(lint(vs)[0]).toMatchObject({
      severity: 'warning',
      path: 'spec.http[0].match[0].headers.cookie.regex',
    });
  });

  it('reports subsets missing from the DestinationRule of the same host, and bad subsets', () => {
    const vs = virtualService([route([to('v1', 50), to('v4', 50)])]);
    const dr = destinationRule({ v1: { version: 'v1' }, v2: { version: 'v1' }, v3: {} });
    expect(summary(vs, dr)).toEqual([
      'error spec.http[0].route[1].destination.subset',
      'error spec.subsets[1].labels',
      'warning spec.subsets[2].labels',
    ]);
  });

  it('warns that a match on a service reached through another service needs the value passed on', () => {
    const edge = virtualService(
      [route([{ destination: { host: 'svc-a' } }], { match: [{ uri: { exact: '/greet' } }] })],
      {
        name: 'demo',
        hosts: ['*'],
        gateways: ['demo-gateway'],
      },
    );
    const inner = virtualService(
      [
        route([to('v2', 100, 'svc-b')], { match: [{ queryParams: { name: { exact: 'xx' } } }] }),
        route([to('v1', undefined, 'svc-b')]),
      ],
      { name: 'svc-b', hosts: ['svc-b'] },
    );
    expect(summary(edge, inner)).toEqual(['warning spec.http[0].match[0].queryParams.name']);
    // when the gateway routes to the service itself, the request arrives with its parameters
    const direct = virtualService([route([{ destination: { host: 'svc-b' } }])], {
      name: 'demo',
      hosts: ['*'],
      gateways: ['demo-gateway'],
    });
    expect(summary(direct, inner)).toEqual([]);
  });

  it('reports malformed resources by path, and skips kinds it does not know', () => {
    const broken = {
      kind: 'VirtualService',
      metadata: { name: 'x' },
      spec: { http: [{ route: [{ destination: { host: 'x' }, weight: '90' }] }] },
    };
    expect(summary(broken, { kind: 'ConfigMap', metadata: { name: 'c' } })).toEqual([
      'error spec.http[0].route[0].weight',
    ]);
  });

  it('checks a CanaryRelease against the VirtualService and DestinationRule it names', () => {
    const release = {
      apiVersion: 'canaria.dev/v1alpha1',
      kind: 'CanaryRelease',
      metadata: { name: 'reviews' },
      spec: {
        subsets: {},
        trafficRouting: {
          istio: {
            virtualService: { name: 'reviews' },
            destinationRule: { name: 'reviews' },
            stableSubset: 'v1',
            canarySubset: 'v3',
          },
        },
        strategy: { steps: [{ setWeight: 10 }] },
      },
    };
    const findings = lint(
      release,
      virtualService([route([to('v1')])]),
      destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }),
    );
    expect(findings.map((f) => `${f.resource} ${f.path}`)).toEqual([
      'CanaryRelease default/reviews spec.trafficRouting.istio.canarySubset',
    ]);
  });

  it('gives the line of each finding when the caller can locate paths', () => {
    const vs = virtualService([route([to('v1', 0), to('v2', 0)])]);
    const [finding] = lintDocuments([{ file: 'vs.yaml', doc: vs, line: (path) => path.length * 10 }]);
    expect(finding).toMatchObject({ file: 'vs.yaml', line: 40 });
  });

  it('leaves the subsets a managed-mode release labels itself alone, and warns about them otherwise', () => {
    const docs = parseAllDocuments(
      readFileSync(new URL('../../../examples/managed-podinfo.yaml', import.meta.url), 'utf8'),
    ).map((doc) => doc.toJS() as unknown);
    expect(lint(...docs)).toEqual([]);
    const withoutRelease = docs.filter((doc) => (doc as { kind: string }).kind !== 'CanaryRelease');
    expect(summary(...withoutRelease)).toEqual([
      'warning spec.subsets[0].labels',
      'warning spec.subsets[1].labels',
    ]);
  });

  it('warns when route weights do not add up to 100, with the split Istio applies', () => {
    const vs = virtualService([route([to('v1', 60), to('v2', 20)])]);
    expect(lint(vs, destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }))).toEqual([
      {
        severity: 'warning',
        file: 'app.yaml',
        resource: 'VirtualService default/reviews',
        path: 'spec.http[0].route',
        message: 'the weights add up to 80, not 100; Istio scales them, so the split is v1 75%, v2 25%',
        fix: 'make the weights add up to 100',
      },
    ]);
    // a release with weightTotal 1000 writes 999/1 on purpose
    const fine = virtualService([route([to('v1', 999), to('v2', 1)])]);
    const release = canaryRelease({ weightTotal: 1000 });
    expect(lint(release, fine, destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }))).toEqual(
      [],
    );
    expect(summary(fine, destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }))).toEqual([
      'warning spec.http[0].route',
    ]);
  });

  it('reports a subset that is defined only under another host: Istio answers 503', () => {
    const vs = virtualService([route([to('v1', 90), to('v2', 10, 'ratings')])]);
    const findings = lint(vs, destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }));
    expect(findings).toEqual([
      {
        severity: 'error',
        file: 'app.yaml',
        resource: 'VirtualService default/reviews',
        path: 'spec.http[0].route[1].destination.subset',
        message:
          'subset v2 is defined only for other hosts, in DestinationRule reviews (host reviews.default.svc.cluster.local); this route sends to ratings.default.svc.cluster.local, for which no DestinationRule defines it, so Istio answers 503 for this share',
        fix: 'send to the host the subset belongs to (destination.host), or define subset v2 in a DestinationRule with host: ratings',
      },
    ]);
  });

  it("resolves short hosts in each resource's namespace, as Istio does", () => {
    const subsets = { v1: { version: 'v1' }, v2: { version: 'v2' } };
    const vs = virtualService([route([to('v1', 90), to('v2', 10)])], { namespace: 'shop' });
    // the same service: a short name in shop and the full name
    expect(
      lint(vs, destinationRule(subsets, { namespace: 'shop', host: 'reviews.shop.svc.cluster.local' })),
    ).toEqual([]);
    // "reviews" in namespace qa is reviews.qa, another service: shop's subsets stay undefined
    const elsewhere = lint(vs, destinationRule(subsets, { namespace: 'qa' }));
    expect(elsewhere.map((f) => `${f.severity} ${f.path}`)).toEqual([
      'error spec.http[0].route[0].destination.subset',
      'error spec.http[0].route[1].destination.subset',
    ]);
    expect(elsewhere[0]?.message).toMatch(
      /in DestinationRule reviews \(host reviews\.qa\.svc\.cluster\.local\); this route sends to reviews\.shop\.svc\.cluster\.local/,
    );
  });

  it('says which subsets it could not check when no DestinationRule for the host is in the files', () => {
    const vs = virtualService([route([to('v1', 90), to('v2', 10)])]);
    expect(notes(vs)).toEqual([
      'VirtualService default/reviews spec.http[0].route[0].destination.subset: not checked: no DestinationRule for host reviews.default.svc.cluster.local in the files, so lint cannot tell whether subset v1 exists; give the file with that DestinationRule too',
    ]);
  });

  it("reports a release's VirtualService, DestinationRule and templates missing from files that could hold them", () => {
    const release = canaryRelease(
      { virtualService: { name: 'review' } },
      { templates: [{ name: 'error-ratio', kind: 'ClusterAnalysisTemplate' }, { name: 'latency' }] },
    );
    const template = {
      apiVersion: 'canaria.dev/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: { name: 'latency-p90' },
      spec: {
        metrics: [
          { name: 'p90', type: 'latencyQuantile', quantile: 0.9, judge: { type: 'threshold', max: 500 } },
        ],
      },
    };
    const bundled: LintInput = {
      file: 'analysis-templates/error-ratio.yaml',
      bundled: true,
      doc: {
        apiVersion: 'canaria.dev/v1alpha1',
        kind: 'ClusterAnalysisTemplate',
        metadata: { name: 'error-ratio' },
        spec: {
          metrics: [{ name: 'error-ratio', type: 'errorRatio', judge: { type: 'relative', tolerance: 0.5 } }],
        },
      },
    };
    const findings = lintDocuments([
      ...inFile(
        release,
        virtualService([route([to('v1')])]),
        destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }),
        template,
      ),
      bundled,
    ]);
    expect(findings.map((f) => `${f.severity} ${f.resource} ${f.path}: ${f.message}`)).toEqual([
      'warning CanaryRelease default/reviews spec.trafficRouting.istio.virtualService.name: VirtualService review is not in the files, which hold VirtualService reviews in namespace default; the release fails (ConfigValid False) unless it exists in the cluster',
      "warning CanaryRelease default/reviews spec.analysis.templates[1].name: AnalysisTemplate latency in namespace default is neither in the files nor among canaria's default templates; known here: latency-p90",
    ]);
  });

  it('says what it could not check when the files hold only the release', () => {
    const release = canaryRelease({}, { templates: [{ name: 'latency' }] });
    expect(notes(release)).toEqual([
      'CanaryRelease default/reviews spec.trafficRouting.istio.virtualService.name: not checked: VirtualService default/reviews is not in the files, so lint cannot check the routes and subsets the release uses; give its file too',
      'CanaryRelease default/reviews spec.trafficRouting.istio.destinationRule.name: not checked: DestinationRule default/reviews is not in the files, so lint cannot check the routes and subsets the release uses; give its file too',
      "CanaryRelease default/reviews spec.analysis.templates[0].name: not checked: AnalysisTemplate default/latency is neither in the files nor among canaria's default templates; give its file too",
    ]);
  });

  it('names an invalid release by its name and gives no filler fix', () => {
    const release = canaryRelease({ canarySubset: 7 });
    (release.metadata as { namespace?: string }).namespace = 'shop';
    const findings = lint(release);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      resource: 'CanaryRelease shop/reviews',
      path: 'spec.trafficRouting.istio.canarySubset',
    });
    expect(findings[0]?.fix).toBeUndefined();
  });
});

/** A CanaryRelease for reviews, v1 -> v2, with routing and analysis changes. */
function canaryRelease(istio: Record<string, unknown> = {}, analysis?: Record<string, unknown>) {
  return {
    apiVersion: 'canaria.dev/v1alpha1',
    kind: 'CanaryRelease',
    metadata: { name: 'reviews' } as { name: string; namespace?: string },
    spec: {
      subsets: {},
      trafficRouting: {
        istio: {
          virtualService: { name: 'reviews' },
          destinationRule: { name: 'reviews' },
          stableSubset: 'v1',
          canarySubset: 'v2',
          ...istio,
        },
      },
      strategy: { steps: [{ setWeight: 10 }, ...(analysis ? [{ analysis: { duration: '5m' } }] : [])] },
      ...(analysis ? { analysis: { interval: '1m', ...analysis } } : {}),
    },
  };
}
