import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  behaviourAt,
  defaultScenario,
  hookAnswerAt,
  parseScenario,
  requestRate,
  scenarioSpec,
} from './scenario.js';

const issues = (text: string) => {
  const parsed = parseScenario(text);
  if (parsed.ok) throw new Error('expected the scenario to be rejected');
  return parsed.issues;
};

describe('scenario file', () => {
  it('defaults to a healthy canary equal to stable at 50 requests per second', () => {
    const scenario = defaultScenario();
    expect(scenario).toEqual({
      start: '2026-01-05T10:00:00Z',
      maxDuration: '6h',
      traffic: { requestsPerSecond: 50 },
      revisions: {},
      faults: [],
      hooks: {},
    });
    const parsed = parseScenario('');
    expect(parsed.ok && parsed.value).toEqual(scenario);
    expect(behaviourAt(scenario, { value: 'v2', subset: 'v2' }, 0)).toEqual({
      errorRate: 0.005,
      latency: { p50: 40, p99: 200 },
    });
  });

  it('names the field and the fix for every mistake', () => {
    expect(
      issues(`
traffic:
  requestsPerSecond: [{at: 0s, rps: -1}, {at: 10, rps: 5}]
  requests: [{share: 0, heders: {a: b}}]
revisions:
  v2: {errorRate: 5, latency: {p50: 300, p99: 30}}
  v3: {latency: {p50: 40}}
faults:
  - {at: 10m, until: 5m, revision: v3}
maxDuration: forever
`),
    ).toEqual([
      { path: 'maxDuration', message: 'must be a duration such as 30s, 5m or 1h30m (units ms, s, m, h)' },
      { path: 'traffic.requestsPerSecond[0].rps', message: 'rps must be >= 0' },
      {
        path: 'traffic.requestsPerSecond[1].at',
        message: 'at must be a duration such as 20m (units ms, s, m, h)',
      },
      { path: 'traffic.requests[0].share', message: 'share must be > 0' },
      { path: 'traffic.requests[0].heders', message: 'unknown field "heders"; did you mean "headers"?' },
      { path: 'revisions.v2.errorRate', message: 'errorRate must be <= 1 (it is a ratio, not a percent)' },
      {
        path: 'revisions.v2.latency.p99',
        message: 'p99 (30) is below p50 (300); the 99th percentile cannot be faster than the median',
      },
      {
        path: 'revisions.v3.latency.p99',
        message: 'a latency needs both p50 and p99 (e.g. {p50: 40, p99: 200}), or a quantiles list',
      },
      {
        path: 'faults[0].errorRate',
        message: 'a fault changes errorRate, latency or both, e.g. errorRate: 0.2',
      },
      { path: 'faults[0].until', message: 'until (5m) must be after at (10m)' },
    ]);
    expect(issues('traffic: {requestsPerSecond: lots}')).toEqual([
      {
        path: 'traffic.requestsPerSecond',
        message:
          'requestsPerSecond must be a number such as 50, or a list such as [{at: 0s, rps: 50}, {at: 20m, rps: 5}]',
      },
    ]);
    expect(issues('traffic: [')[0]?.message).toMatch(/^invalid YAML: /);
    expect(issues('revisions: {v2: {latency: {quantiles: [{q: 0.5, ms: 90}, {q: 0.9, ms: 50}]}}}')).toEqual([
      {
        path: 'revisions.v2.latency.quantiles[1].ms',
        message:
          'latency at q 0.9 (50 ms) is below that at q 0.5 (90 ms); a higher quantile cannot be faster',
      },
    ]);
  });

  it('changes the request rate at the given times; before the first change the first rate holds', () => {
    const { traffic } = scenarioSpec.parse({
      traffic: {
        requestsPerSecond: [
          { at: '20m', rps: 5 },
          { at: '5m', rps: 50 },
        ],
      },
    });
    expect(
      [0, 5 * 60_000, 19 * 60_000, 20 * 60_000, 90 * 60_000].map((t) => requestRate(traffic, t)),
    ).toEqual([50, 50, 50, 5, 5]);
  });

  it('applies faults by revision value or subset name while they last, in order', () => {
    const scenario = scenarioSpec.parse({
      revisions: { v3: { errorRate: 0.01 } },
      faults: [
        { at: '10m', until: '20m', revision: 'reviews-canary', errorRate: 0.2 },
        { at: '15m', revision: 'v3', latency: { p50: 100, p99: 900 } },
      ],
    });
    const v3 = { value: 'v3', subset: 'reviews-canary' };
    const at = (minutes: number) => behaviourAt(scenario, v3, minutes * 60_000);
    expect(at(5)).toEqual({ errorRate: 0.01, latency: { p50: 40, p99: 200 } });
    expect(at(12)).toEqual({ errorRate: 0.2, latency: { p50: 40, p99: 200 } });
    expect(at(16)).toEqual({ errorRate: 0.2, latency: { p50: 100, p99: 900 } });
    expect(at(25)).toEqual({ errorRate: 0.01, latency: { p50: 100, p99: 900 } });
    expect(behaviourAt(scenario, { value: 'v1', subset: 'v1' }, 16 * 60_000).errorRate).toBe(0.005);
  });

  it('says how a hook answers: a status or fail within [from, to), 200 outside', () => {
    const parsed = parseScenario(
      'hooks:\n  smoke: {fail: true, to: 2m}\n  gate: {status: 403, from: 1m, to: 15m}\n',
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const { smoke, gate } = parsed.value.hooks;
    expect([0, 119_999, 120_000].map((t) => hookAnswerAt(smoke, t))).toEqual([500, 500, 200]);
    expect([0, 60_000, 899_999, 900_000].map((t) => hookAnswerAt(gate, t))).toEqual([200, 403, 403, 200]);
    expect(hookAnswerAt(undefined, 0)).toBe(200);
  });

  it('names the field and the fix for a hook’s mistakes', () => {
    expect(
      issues(`
hooks:
  smoke: {fial: true}
  gate: {to: 5m}
  late: {fail: true, from: 5m, to: 2m}
  odd: {fail: true, status: 204}
  code: {status: 700}
`),
    ).toEqual([
      { path: 'hooks.smoke.fial', message: 'unknown field "fial"; did you mean "fail"?' },
      { path: 'hooks.smoke.fail', message: 'say how the hook answers: fail: true (HTTP 500) or status: 403' },
      { path: 'hooks.gate.fail', message: 'say how the hook answers: fail: true (HTTP 500) or status: 403' },
      { path: 'hooks.late.to', message: 'to (2m) must be after from (5m)' },
      {
        path: 'hooks.odd.status',
        message: 'fail: true with status 204 contradicts itself; a failing hook answers non-2xx, e.g. 500',
      },
      { path: 'hooks.code.status', message: 'status must be an HTTP status code (100-599) such as 403' },
    ]);
  });

  it("parses the README's hooks example", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('**Webhooks and notifications in the simulator.**'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yaml).toBeDefined();
    const parsed = parseScenario(yaml ?? '');
    expect(parsed.ok && Object.keys(parsed.value.hooks)).toEqual(['smoke', 'release-manager']);
  });
});
