import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { baseSpecInput } from '../../test/builders/release.js';
import { parseCanaryRelease, parseCanaryReleaseSpec } from './validation.js';

type Json = Record<string, unknown>;
const withSteps = (steps: unknown[]): Json => ({ ...baseSpecInput(), strategy: { steps } });
const withIstio = (patch: Json): Json => {
  const spec = baseSpecInput();
  return { ...spec, trafficRouting: { istio: { ...spec.trafficRouting.istio, ...patch } } };
};
const metric = (patch: Json): Json => ({
  ...baseSpecInput(),
  analysis: { metrics: [{ name: 'error-ratio', type: 'errorRatio', judge: { type: 'relative' }, ...patch }] },
});
const judge = (patch: Json) => metric({ judge: patch });
const analysis = (patch: Json): Json => ({
  ...baseSpecInput(),
  analysis: { metrics: [{ name: 'e', type: 'errorRatio', judge: { type: 'relative' } }], ...patch },
});
const matchStep = (patch: Json) => withSteps([{ setWeight: 10 }, { match: patch }]);

/** [what is wrong, spec, the path the message must name, what the message must say] */
const INVALID: [string, Json, string, RegExp][] = [
  ['negative weight', withSteps([{ setWeight: -5 }]), 'spec.strategy.steps[0].setWeight', />= 0/],
  ['weight above the total', withSteps([{ setWeight: 150 }]), 'spec.strategy.steps[0].setWeight', /<= 100/],
  [
    'weight that is not a number',
    withSteps([{ setWeight: 'ten' }]),
    'spec.strategy.steps[0].setWeight',
    /number of percent/,
  ],
  ['empty steps', withSteps([]), 'spec.strategy.steps', /must not be empty/],
  ['no steps at all', { ...baseSpecInput(), strategy: {} }, 'spec.strategy.steps', /steps is required/],
  ['an empty step', withSteps([{}]), 'spec.strategy.steps[0]', /needs one of setWeight, pause/],
  [
    'two actions in one step',
    withSteps([{ setWeight: 10, pause: {} }]),
    'spec.strategy.steps[0]',
    /split \{setWeight, pause\}/,
  ],
  [
    'a misspelt field',
    withSteps([{ setweight: 10 }]),
    'spec.strategy.steps[0].setweight',
    /did you mean "setWeight"/,
  ],
  [
    'an unparseable duration',
    withSteps([{ pause: { duration: '5 minutes' } }]),
    'spec.strategy.steps[0].pause.duration',
    /such as 30s, 5m/,
  ],
  [
    'stable and canary subsets equal',
    withIstio({ canarySubset: 'v1' }),
    'spec.trafficRouting.istio.canarySubset',
    /both "v1"/,
  ],
  [
    'a subset name that is not a Kubernetes name',
    withIstio({ stableSubset: 'V_1' }),
    'spec.trafficRouting.istio.stableSubset',
    /Kubernetes name/,
  ],
  [
    'a missing VirtualService',
    withIstio({ virtualService: undefined }),
    'spec.trafficRouting.istio.virtualService',
    /required/,
  ],
  [
    'a sub-1 % weight with weightTotal 100',
    withSteps([{ setWeight: 0.5 }]),
    'spec.strategy.steps[0].setWeight',
    /weightTotal: 1000/,
  ],
  [
    'a weight finer than 0.01 %',
    { ...withIstio({ weightTotal: 10000 }), strategy: { steps: [{ setWeight: 0.001 }] } },
    'spec.strategy.steps[0].setWeight',
    /finer than canaria can express/,
  ],
  [
    'an unsupported weight total',
    withIstio({ weightTotal: 500 }),
    'spec.trafficRouting.istio.weightTotal',
    /one of 100, 1000, 10000/,
  ],
  [
    'weightTotal 1000 on Istio 1.14',
    withIstio({ weightTotal: 1000, istioVersion: '1.14' }),
    'spec.trafficRouting.istio.weightTotal',
    /Istio 1\.14 requires .* add up to 100/,
  ],
  [
    'both workload modes',
    { ...baseSpecInput(), targetRef: { name: 'reviews' } },
    'spec.targetRef',
    /choose one workload mode/,
  ],
  [
    'no workload mode',
    { ...baseSpecInput(), subsets: undefined },
    'spec.subsets',
    /choose one workload mode/,
  ],
  [
    'a targetRef that is not a Deployment',
    { ...baseSpecInput(), subsets: undefined, targetRef: { kind: 'StatefulSet', name: 'x' } },
    'spec.targetRef.kind',
    /only Deployment/,
  ],
  [
    'steps and the shorthand together',
    { ...baseSpecInput(), strategy: { steps: [{ setWeight: 1 }], stepWeight: 10 } },
    'spec.strategy',
    /either steps or the stepWeight/,
  ],
  [
    'a shorthand without interval',
    { ...analysis({}), strategy: { stepWeight: 10, maxWeight: 50 } },
    'spec.strategy.interval',
    /needs interval/,
  ],
  [
    'stepWeight above maxWeight',
    { ...analysis({}), strategy: { stepWeight: 60, maxWeight: 50, interval: '1m' } },
    'spec.strategy.stepWeight',
    /above maxWeight/,
  ],
  [
    'an analysis step without metrics',
    withSteps([{ setWeight: 10 }, { analysis: {} }]),
    'spec.strategy.steps[1].analysis',
    /add spec\.analysis\.templates/,
  ],
  [
    'an unknown metric type',
    metric({ type: 'errorRate' }),
    'spec.analysis.metrics[0].type',
    /unknown metric type; use one of: errorRatio/,
  ],
  [
    'an unknown judge type',
    judge({ type: 'bayesian' }),
    'spec.analysis.metrics[0].judge.type',
    /unknown judge type; use one of: threshold, relative/,
  ],
  [
    'a provider address (the operator configures backends; credentials never follow a user address)',
    metric({ provider: { name: 'default', address: 'http://attacker.example:9090' } }),
    'spec.analysis.metrics[0].provider.address',
    /is not accepted: metrics backends are configured by the operator .*name the provider instead/,
  ],
  [
    'a provider type (the operator configures it)',
    metric({ provider: { type: 'prometheus' } }),
    'spec.analysis.metrics[0].provider.type',
    /is not accepted: the operator's provider entry has the type/,
  ],
  [
    'a provider without a name',
    metric({ provider: {} }),
    'spec.analysis.metrics[0].provider.name',
    /is required: one of the controller's metrics providers/,
  ],
  [
    'slowRatio without a latency bound',
    metric({ type: 'slowRatio' }),
    'spec.analysis.metrics[0].latencyThresholdMs',
    /needs latencyThresholdMs/,
  ],
  ['promql without a query', metric({ type: 'promql' }), 'spec.analysis.metrics[0].query', /needs query/],
  [
    'a query on a built-in metric',
    metric({ query: 'up' }),
    'spec.analysis.metrics[0].query',
    /only read for type: promql/,
  ],
  [
    'a quantile outside (0, 1)',
    metric({ type: 'latencyQuantile', quantile: 99 }),
    'spec.analysis.metrics[0].quantile',
    /between 0 and 1/,
  ],
  [
    'a threshold judge without bounds',
    judge({ type: 'threshold' }),
    'spec.analysis.metrics[0].judge.max',
    /needs min, max or both/,
  ],
  [
    'a threshold judge with min above max',
    judge({ type: 'threshold', min: 0.9, max: 0.1 }),
    'spec.analysis.metrics[0].judge.min',
    /above max/,
  ],
  [
    'a relative judge with max',
    judge({ type: 'relative', max: 0.1 }),
    'spec.analysis.metrics[0].judge.max',
    /belongs to the threshold judge/,
  ],
  [
    'a negative tolerance',
    judge({ type: 'relative', tolerance: -1 }),
    'spec.analysis.metrics[0].judge.tolerance',
    />= 0/,
  ],
  [
    'a metric name with capitals',
    metric({ name: 'ErrorRatio' }),
    'spec.analysis.metrics[0].name',
    /lowercase name/,
  ],
  [
    'error rules on a metric that counts no errors',
    metric({ type: 'latencyQuantile', quantile: 0.99, errors: { httpCodes: ['429'] } }),
    'spec.analysis.metrics[0].errors',
    /only read for errorRatio and successRate/,
  ],
  [
    'an HTTP code that is a regular expression',
    metric({ errors: { httpCodes: ['5..'] } }),
    'spec.analysis.metrics[0].errors.httpCodes[0]',
    /an HTTP status such as 429, or a class such as 5xx/,
  ],
  [
    'a gRPC status by number',
    analysis({ errors: { grpcCodes: [14] } }),
    'spec.analysis.errors.grpcCodes[0]',
    /a gRPC status name: OK, CANCELLED, UNKNOWN/,
  ],
  [
    'a response flag that could be PromQL',
    analysis({ errors: { responseFlags: ['UF"}or'] } }),
    'spec.analysis.errors.responseFlags[0]',
    /an Envoy response flag such as UF/,
  ],
  ['a failure limit of 0', analysis({ failureLimit: 0 }), 'spec.analysis.failureLimit', /at least 1/],
  ['an analysis interval below 1s', analysis({ interval: '500ms' }), 'spec.analysis.interval', /at least 1s/],
  [
    'an unknown onInconclusive policy',
    analysis({ onInconclusive: 'Ignore' }),
    'spec.analysis.onInconclusive',
    /Hold, Fail or Pass/,
  ],
  [
    'an unknown revision label',
    analysis({ revisionLabel: 'version' }),
    'spec.analysis.revisionLabel',
    /destination_canonical_revision/,
  ],
  [
    'a match stage without conditions',
    matchStep({ canaryWeight: 50 }),
    'spec.strategy.steps[1].match',
    /needs headers, cookie or queryParams/,
  ],
  [
    'a header match with two operators',
    matchStep({ headers: [{ name: 'end-user', exact: 'a', regex: 'b' }] }),
    'spec.strategy.steps[1].match.headers[0]',
    /exactly one of exact, prefix or regex/,
  ],
  [
    'a header regex that does not compile',
    matchStep({ headers: [{ name: 'x', regex: '(' }] }),
    'spec.strategy.steps[1].match.headers[0].regex',
    /is not a valid RE2 regular expression, which Istio requires: error parsing regexp: missing closing \)/,
  ],
  [
    'a header regex with a lookahead, which JavaScript takes and RE2 refuses',
    matchStep({ headers: [{ name: 'user-agent', regex: '(?=.*Mobile).*Chrome.*' }] }),
    'spec.strategy.steps[1].match.headers[0].regex',
    /is not a valid RE2 regular expression, which Istio requires: lookaround such as/,
  ],
  [
    'a cookie regex with a backreference',
    matchStep({ cookie: { name: 'group', regex: '(a)\\1' } }),
    'spec.strategy.steps[1].match.cookie.regex',
    /backreferences such as \\1 are not supported by RE2/,
  ],
  [
    'a cookie without a name',
    matchStep({ cookie: { regex: '.*' } }),
    'spec.strategy.steps[1].match.cookie.name',
    /required/,
  ],
  [
    'a mirror above 100 %',
    withSteps([{ mirror: { percent: 120 } }]),
    'spec.strategy.steps[0].mirror.percent',
    /<= 100/,
  ],
  [
    'a cron schedule with 4 fields',
    { ...baseSpecInput(), releaseWindows: [{ schedule: '0 9 * *', duration: '8h' }] },
    'spec.releaseWindows[0].schedule',
    /has 4 fields/,
  ],
  [
    'a cron hour out of range',
    { ...baseSpecInput(), releaseWindows: [{ schedule: '0 25 * * *', duration: '8h' }] },
    'spec.releaseWindows[0].schedule',
    /hour "25" is outside 0-23/,
  ],
  [
    'an unknown time zone',
    {
      ...baseSpecInput(),
      releaseWindows: [{ schedule: '0 9 * * 1-5', duration: '8h', timeZone: 'Mars/Olympus' }],
    },
    'spec.releaseWindows[0].timeZone',
    /not an IANA time zone/,
  ],
  [
    'an unknown user action',
    { ...baseSpecInput(), request: { action: 'Rollback', id: '1' } },
    'spec.request.action',
    /Promote, PromoteFull, Abort, Retry/,
  ],
  [
    'a progress deadline that is not a duration',
    { ...baseSpecInput(), progressDeadline: 'ten minutes' },
    'spec.progressDeadline',
    /duration/,
  ],
];

describe('CanaryRelease spec validation', () => {
  it('accepts the seed S1 release', () => {
    expect(parseCanaryReleaseSpec(baseSpecInput())).toMatchObject({ ok: true });
  });

  it('accepts RE2 regexes that JavaScript rejects: inline flags and POSIX classes', () => {
    // eslint-disable-next-line no-invalid-regexp -- the point: JavaScript's RegExp refuses it
    expect(() => new RegExp('(?i).*chrome.*')).toThrow();
    const spec = matchStep({
      headers: [
        { name: 'user-agent', regex: '(?i).*chrome.*' },
        { name: 'x-team', regex: '[[:alpha:]]+' },
      ],
      cookie: { name: 'group', regex: '(?i)beta' },
    });
    expect(parseCanaryReleaseSpec(spec)).toMatchObject({ ok: true });
  });

  it(`has at least 25 distinct kinds of invalid spec (${INVALID.length} here)`, () => {
    expect(new Set(INVALID.map(([what]) => what)).size).toBe(INVALID.length);
    expect(INVALID.length).toBeGreaterThanOrEqual(25);
  });

  it.each(INVALID)('rejects %s, naming the field', (_what, spec, path, message) => {
    const result = parseCanaryReleaseSpec(spec);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const issue = result.issues.find((i) => i.path === path);
    expect(issue, `no issue at ${path}; got ${JSON.stringify(result.issues)}`).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        expect(() => parseCanaryRelease(input)).not.toThrow();
        expect(() => parseCanaryReleaseSpec(input)).not.toThrow();
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (steps, analysis) => {
        expect(() =>
          parseCanaryReleaseSpec({ ...baseSpecInput(), strategy: { steps }, analysis }),
        ).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('checks apiVersion and kind of a whole resource', () => {
    const result = parseCanaryRelease({
      apiVersion: 'canaria.dev/v1',
      kind: 'Canary',
      metadata: { name: 'x' },
      spec: baseSpecInput(),
    });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['apiVersion', 'kind']));
      expect(result.issues.find((i) => i.path === 'apiVersion')?.message).toMatch(/canaria\.dev\/v1alpha1/);
    }
  });
});
