import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { lintDocuments } from '../istio/lint.js';
import type { LintInput } from '../lint-report.js';
import { route, split } from './fixtures.test-support.js';
import { lintGatewayApiDocuments } from './lint.js';
import type { HttpRoute, HttpRouteRule } from './types.js';

/** A CanaryRelease in namespace prod routing through HTTPRoute reviews; `gatewayAPI` is merged in. */
const release = (gatewayAPI: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'canaria.dev/v1alpha1',
  kind: 'CanaryRelease',
  metadata: { name: 'reviews', namespace: 'prod' },
  spec: {
    subsets: {},
    trafficRouting: {
      gatewayAPI: {
        httpRoute: { name: 'reviews' },
        stableService: 'reviews-stable',
        canaryService: 'reviews-canary',
        ...gatewayAPI,
      },
    },
    strategy: { steps: [{ setWeight: 10 }, { pause: { duration: '1m' } }] },
    ...extra,
  },
});

/** A Service in prod selecting app reviews plus `selector`, on port 9080. */
const service = (
  name: string,
  selector: Record<string, string> | undefined,
  labels?: Record<string, string>,
) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'prod', ...(labels ? { labels } : {}) },
  spec: {
    ...(selector ? { selector: { app: 'reviews', ...selector } } : {}),
    ports: [{ name: 'http', port: 9080 }],
  },
});

const versions = () => [
  service('reviews-stable', { version: 'v1' }),
  service('reviews-canary', { version: 'v2' }),
];

const inFile = (docs: unknown[]): LintInput[] => docs.map((doc) => ({ file: 'app.yaml', doc }));
const lint = (...docs: unknown[]) => lintGatewayApiDocuments(inFile(docs));
const summary = (...docs: unknown[]) => lint(...docs).map((f) => `${f.severity} ${f.resource} ${f.path}`);

describe('lintGatewayApiDocuments', () => {
  it('finds nothing in a release, its HTTPRoute and a Service per version', () => {
    expect(lint(release(), route([split(90, 10)]), ...versions())).toEqual([]);
    // the canary's backendRef may be missing before the first step: canaria adds it
    expect(lint(release(), route([split(100)]), ...versions())).toEqual([]);
  });

  it('reports a route without a rule to the stable Service on the route, with the fix', () => {
    const r = route([{ backendRefs: [{ name: 'reviews', port: 9080 }] }]);
    expect(lint(release(), r, ...versions(), service('reviews', {}))).toEqual([
      {
        severity: 'error',
        file: 'app.yaml',
        resource: 'HTTPRoute prod/reviews',
        path: 'spec.rules',
        message:
          'no rule has a backendRef to the stable Service reviews-stable (trafficRouting.gatewayAPI.stableService) (CanaryRelease prod/reviews)',
        fix: 'add {name: reviews-stable, port: ...} to the rule canaria should manage',
      },
    ]);
  });

  it('reports two rules that could be the managed one, and a named rule that is missing', () => {
    const two = route([{ ...split(100), matches: [{ path: { value: '/api' } }] }, split(100)]);
    const [ambiguous] = lint(release(), two, ...versions());
    expect(ambiguous).toMatchObject({
      severity: 'error',
      resource: 'HTTPRoute prod/reviews',
      path: 'spec.rules',
    });
    expect(ambiguous?.message).toContain(
      '2 rules of HTTPRoute reviews send traffic to Service reviews-stable',
    );
    expect(ambiguous?.fix).toContain('trafficRouting.gatewayAPI.httpRoute.rule');
    const named = lint(
      release({ httpRoute: { name: 'reviews', rule: 'main' } }),
      route([split(100)]),
      ...versions(),
    );
    expect(named.map((f) => f.message)).toEqual([
      'HTTPRoute reviews has no rule named "main" (named rules: none) (CanaryRelease prod/reviews)',
    ]);
  });

  it('reports parentRef kinds no Istio data plane serves, on any route', () => {
    const r: HttpRoute = route([split(100)]);
    r.spec.parentRefs = [{ group: 'networking.istio.io', kind: 'VirtualService', name: 'vs' }];
    expect(lint(r)).toEqual([
      {
        severity: 'error',
        file: 'app.yaml',
        resource: 'HTTPRoute prod/reviews',
        path: 'spec.parentRefs[0]',
        message:
          'parentRef of group "networking.istio.io" kind "VirtualService" is not one canaria knows how Istio serves',
        fix: 'use kind Gateway (group gateway.networking.k8s.io) or kind Service (group "")',
      },
    ]);
    r.spec.parentRefs = [];
    expect(summary(r)).toEqual(['error HTTPRoute prod/reviews spec.parentRefs']);
  });

  it('reports an invalid HTTPRoute at its field, and no finding about it being missing', () => {
    const r = route([{ backendRefs: [{ name: 'reviews-stable', port: 9080, weight: -1 }] }]);
    expect(summary(release(), r, ...versions())).toEqual([
      'error HTTPRoute prod/reviews spec.rules[0].backendRefs[0].weight',
    ]);
  });

  it("says when the release's HTTPRoute is not in the files: a warning beside others, else a note", () => {
    const other = route([split(100)]);
    other.metadata.name = 'ratings';
    expect(
      lint(release(), other, ...versions()).filter((f) => f.resource.startsWith('CanaryRelease')),
    ).toEqual([
      {
        severity: 'warning',
        file: 'app.yaml',
        resource: 'CanaryRelease prod/reviews',
        path: 'spec.trafficRouting.gatewayAPI.httpRoute.name',
        message:
          'HTTPRoute reviews is not in the files, which hold HTTPRoute ratings in namespace prod; the release fails (ConfigValid False) unless it exists in the cluster',
        fix: 'name one of ratings, or give the file that holds HTTPRoute reviews',
      },
    ]);
    expect(summary(release())).toEqual([
      'info CanaryRelease prod/reviews spec.trafficRouting.gatewayAPI.httpRoute.name',
      'info CanaryRelease prod/reviews spec.trafficRouting.gatewayAPI.stableService',
      'info CanaryRelease prod/reviews spec.trafficRouting.gatewayAPI.canaryService',
    ]);
  });

  it('reports two version Services with the same selector, and a Service without one', () => {
    const same = [service('reviews-stable', { version: 'v1' }), service('reviews-canary', { version: 'v1' })];
    const [twin] = lint(release(), route([split(100)]), ...same);
    expect(twin).toMatchObject({
      severity: 'error',
      path: 'spec.trafficRouting.gatewayAPI.canaryService',
    });
    expect(twin?.message).toContain('have the same selector');
    const bare = [service('reviews-stable', { version: 'v1' }), service('reviews-canary', undefined)];
    expect(summary(release(), route([split(100)]), ...bare)).toEqual([
      'warning CanaryRelease prod/reviews spec.trafficRouting.gatewayAPI.canaryService',
    ]);
  });

  it('reports backendRefs to a port the Service lacks, without a port, or to a Service not in the files', () => {
    const rule: HttpRouteRule = {
      backendRefs: [
        { name: 'reviews-stable', port: 8080, weight: 90 },
        { name: 'reviews-canary', weight: 10 },
      ],
    };
    const findings = lint(release(), route([rule]), ...versions());
    expect(findings.map((f) => [f.path, f.message, f.fix])).toEqual([
      [
        'spec.rules[0].backendRefs[0].port',
        'Service reviews-stable has no port 8080 (its ports: 9080); the share sent there is answered with 500',
        'use one of its ports: 9080',
      ],
      [
        'spec.rules[0].backendRefs[1]',
        'backendRef to Service reviews-canary has no port; Gateway API requires one for a Service',
        'add port: 9080',
      ],
    ]);
    const typo = route([{ backendRefs: [{ name: 'reviews-stabel', port: 9080 }] }]);
    expect(summary(typo, ...versions())).toEqual([
      'warning HTTPRoute prod/reviews spec.rules[0].backendRefs[0].name',
    ]);
  });

  it('reports a rule whose backendRefs are all weight 0', () => {
    expect(summary(route([split(0, 0)]))).toEqual(['error HTTPRoute prod/reviews spec.rules[0].backendRefs']);
  });

  it('warns when the rule canaria manages also sends to a third Service', () => {
    const named = route([{ ...split(90, 10), name: 'main' }]);
    named.spec.rules![0]!.backendRefs!.push({ name: 'reviews-legacy', port: 9080, weight: 5 });
    const findings = lint(
      release({ httpRoute: { name: 'reviews', rule: 'main' } }),
      named,
      ...versions(),
      service('reviews-legacy', { version: 'v0' }),
    );
    expect(findings.map((f) => `${f.severity} ${f.path}`)).toEqual(['warning spec.rules[0].backendRefs']);
    expect(findings[0]?.message).toContain('also sends to reviews-legacy');
  });

  describe('managed mode (spec.targetRef)', () => {
    const managed = (gatewayAPI: Record<string, unknown> = {}) =>
      release(
        { stableService: undefined, canaryService: undefined, ...gatewayAPI },
        { subsets: undefined, targetRef: { kind: 'Deployment', name: 'reviews' } },
      );
    const primaryRoute = () => route([{ backendRefs: [{ name: 'reviews-primary', port: 9080 }] }]);

    it('checks the route against <service>-primary, and wants the user Service', () => {
      expect(lint(managed(), primaryRoute(), service('reviews', {}))).toEqual([]);
      expect(summary(managed(), primaryRoute(), service('ratings', {}))).toEqual([
        'warning CanaryRelease prod/reviews spec.targetRef.name',
      ]);
      // the route still sends to the user's Service: canaria manages -primary
      expect(
        summary(
          managed(),
          route([{ backendRefs: [{ name: 'reviews', port: 9080 }] }]),
          service('reviews', {}),
        ),
      ).toEqual(['error HTTPRoute prod/reviews spec.rules']);
    });

    it("reports a -primary or -canary Service in the files that is not canaria's", () => {
      const findings = lint(managed(), primaryRoute(), service('reviews', {}), service('reviews-canary', {}));
      expect(findings.map((f) => [f.severity, f.path, f.fix])).toEqual([
        [
          'error',
          'spec.trafficRouting.gatewayAPI.canaryService',
          'remove Service reviews-canary from the files, or set trafficRouting.gatewayAPI.canaryService to another name',
        ],
      ]);
      const ours = service(
        'reviews-canary',
        {},
        {
          'app.kubernetes.io/managed-by': 'canaria',
          'canaria.dev/release': 'reviews',
        },
      );
      expect(lint(managed(), primaryRoute(), service('reviews', {}), ours)).toEqual([]);
    });
  });

  it("lets the release checks report the release's own fields and templates", () => {
    const r = release({}, { analysis: { interval: '1m', templates: [{ name: 'latency' }] } });
    const all = lintDocuments(inFile([r]));
    expect(all.map((f) => `${f.severity} ${f.path}`)).toEqual(['info spec.analysis.templates[0].name']);
  });
});

describe("the README's Gateway API example", () => {
  it('is a valid release and HTTPRoute that lint finds nothing wrong with', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Example: Gateway API HTTPRoute'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const docs = parseAllDocuments(block).map((d) => d.toJS() as { kind: string });
    expect(docs.map((d) => d.kind)).toEqual(['HTTPRoute', 'CanaryRelease']);
    const all = [...lintDocuments(inFile(docs)), ...lint(...docs)];
    // only notes: the version Services are not in the README's snippet, and `canaria lint` adds the
    // bundled templates this call is not given
    expect(all.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(all.map((f) => f.path)).toEqual([
      'spec.analysis.templates[0].name',
      'spec.trafficRouting.gatewayAPI.stableService',
      'spec.trafficRouting.gatewayAPI.canaryService',
    ]);
  });
});
