import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { destinationRule, route, to, virtualService } from '../../test/fixtures/seeds/builders.js';
import { lintDocuments, type LintInput } from './lint.js';
import type { HttpRoute } from './types.js';

const inFile = (...docs: unknown[]): LintInput[] => docs.map((doc) => ({ file: 'app.yaml', doc }));
const lint = (...docs: unknown[]) => lintDocuments(inFile(...docs));
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

  it('reports all-zero weights, and sums other than 100 only for an Istio before 1.15', () => {
    expect(summary(virtualService([route([to('v1', 0), to('v2')])]))).toEqual(['error spec.http[0].route']);
    const uneven = virtualService([route([to('v1', 999), to('v2', 1)])]);
    expect(lint(uneven)).toEqual([]);
    const old = lintDocuments(inFile(uneven), { istioVersion: '1.14' });
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
      'CanaryRelease reviews spec.trafficRouting.istio.canarySubset',
    ]);
  });

  it('gives the line of each finding when the caller can locate paths', () => {
    const vs = virtualService([route([to('v1', 0), to('v2', 0)])]);
    const [finding] = lintDocuments([{ file: 'vs.yaml', doc: vs, line: (path) => path.length * 10 }]);
    expect(finding).toMatchObject({ file: 'vs.yaml', line: 40 });
  });

  it('leaves the subsets a managed-mode release labels itself alone, and warns about them otherwise', () => {
    const docs = parseAllDocuments(
      readFileSync(new URL('../../examples/managed-podinfo.yaml', import.meta.url), 'utf8'),
    ).map((doc) => doc.toJS() as unknown);
    expect(lint(...docs)).toEqual([]);
    const withoutRelease = docs.filter((doc) => (doc as { kind: string }).kind !== 'CanaryRelease');
    expect(summary(...withoutRelease)).toEqual([
      'warning spec.subsets[0].labels',
      'warning spec.subsets[1].labels',
    ]);
  });
});
