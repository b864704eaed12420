import { describe, expect, it } from 'vitest';
import { fakeApi, metric, release } from '../../test/harness/metrics-fixtures.js';
import { nodesNamed, parsePromql } from '../../test/harness/promql-grammar.js';
import { customMeasurement, renderCustomQuery, scalarFromResult } from './custom-query.js';
import { MetricsBackendError } from './errors.js';

const custom = (query: string, args: Record<string, string> = {}) =>
  metric({ name: 'custom', type: 'promql', query, args, source: 'AnalysisTemplate custom' });
const one = (value: number) => ({ type: 'vector' as const, samples: [{ labels: {}, value }] });

describe('renderCustomQuery', () => {
  it('fills the release, the revision, the window and the arguments', () => {
    const result = renderCustomQuery(
      release(),
      custom(
        'sum(rate(x{ns="{{ namespace }}",svc="{{ service }}",rel="{{ name }}",r="{{ reporter }}",{{ revisionLabel }}="{{ revision }}",team="{{ args.team }}"}[{{ window }}]))',
        { team: 'checkout' },
      ),
      'v2',
    );
    expect(result).toEqual({
      ok: true,
      query:
        'sum(rate(x{ns="shop",svc="reviews",rel="reviews",r="destination",destination_canonical_revision="v2",team="checkout"}[300s]))',
    });
  });

  it('keeps a hostile release name and argument inside their literals', () => {
    const hostile = 'a"} or vector(1) #';
    const result = renderCustomQuery(
      release({ name: hostile, service: hostile }),
      custom('sum(x{svc="{{ service }}",rel="{{ name }}",a="{{ args.v }}"})', { v: hostile }),
      'v2',
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const parsed = parsePromql(result.query);
    expect(parsed.errors).toEqual([]);
    expect(nodesNamed(parsed, 'VectorSelector')).toHaveLength(1);
    expect(nodesNamed(parsed, 'Or')).toEqual([]);
  });
});

describe('scalarFromResult', () => {
  it('reads one series or a scalar, and treats empty and NaN as no data', () => {
    expect(scalarFromResult(one(0.25))).toEqual({ ok: true, value: 0.25 });
    expect(scalarFromResult({ type: 'scalar', value: 3 })).toEqual({ ok: true, value: 3 });
    expect(scalarFromResult({ type: 'vector', samples: [] })).toEqual({ ok: true, value: null });
    expect(scalarFromResult(one(Number.NaN))).toEqual({ ok: true, value: null });
    expect(scalarFromResult({ type: 'scalar', value: Number.NaN })).toEqual({ ok: true, value: null });
  });

  it('calls several series ambiguous and says how to fix it', () => {
    const outcome = scalarFromResult({
      type: 'vector',
      samples: [
        { labels: { pod: 'a' }, value: 1 },
        { labels: { pod: 'b' }, value: 2 },
      ],
    });
    expect(outcome).toEqual({
      ok: false,
      error: {
        code: 'Ambiguous',
        message:
          'the query returned 2 series ({pod="a"}, {pod="b"}) where one was expected; aggregate it, e.g. sum(...), or select one series',
        retryable: false,
      },
    });
  });

  it('refuses a range vector', () => {
    const outcome = scalarFromResult({ type: 'matrix', series: [] });
    expect(outcome.ok).toBe(false);
  });
});

describe('customMeasurement', () => {
  it('queries once per revision when the query names {{ revision }}', async () => {
    const api = fakeApi((q) => one(q.includes('"v2"') ? 0.05 : 0.01));
    const m = await customMeasurement(api, release(), custom('sum(x{rev="{{ revision }}"})'));
    expect(m).toEqual({ kind: 'scalar', canary: 0.05, stable: 0.01, query: 'sum(x{rev="v2"})' });
    expect(api.queries).toEqual(['sum(x{rev="v2"})', 'sum(x{rev="v1"})']);
  });

  it('queries once, for the canary only, without {{ revision }}', async () => {
    const api = fakeApi(() => one(0.99));
    const m = await customMeasurement(api, release(), custom('avg(x)'));
    expect(m).toEqual({ kind: 'scalar', canary: 0.99, stable: null, query: 'avg(x)' });
    expect(api.queries).toHaveLength(1);
  });

  it('turns a backend failure into an error measurement', async () => {
    const api = fakeApi(() => new MetricsBackendError('Unreachable', 'cannot reach', { retryable: true }));
    expect(await customMeasurement(api, release(), custom('avg(x)'))).toEqual({
      kind: 'error',
      error: { code: 'Unreachable', message: 'cannot reach', retryable: true },
      query: 'avg(x)',
    });
  });

  it('reports a template problem as BadQuery naming the metric, without asking Prometheus', async () => {
    const api = fakeApi(() => one(1));
    const m = await customMeasurement(api, release(), custom('x > {{ args.limit }}', { limit: 'vector(1)' }));
    expect(m.kind).toBe('error');
    if (m.kind === 'error') {
      expect(m.error.code).toBe('BadQuery');
      expect(m.error.message).toMatch(
        /^metric custom \(AnalysisTemplate custom\): \{\{ args\.limit \}\} stands outside quotes/,
      );
    }
    expect(api.queries).toEqual([]);
  });

  it('lets a bug (not a backend failure) propagate', async () => {
    const api = fakeApi(() => new TypeError('bug'));
    await expect(customMeasurement(api, release(), custom('avg(x)'))).rejects.toThrow('bug');
  });
});
