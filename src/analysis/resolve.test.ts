import { describe, expect, it } from 'vitest';
import { analysisSpec } from '../api/canary-release.js';
import { resolveMetrics, type TemplateCatalog } from './resolve.js';

const errorRatio = { name: 'errors', type: 'errorRatio', judge: { type: 'relative' } } as const;
const catalog = (metrics: unknown[]): TemplateCatalog => ({
  namespaced: new Map([['t', { metrics } as never]]),
  cluster: new Map(),
});

describe('resolveMetrics', () => {
  it("gives each error-counting metric the release's error rules under its own, list by list", () => {
    const analysis = analysisSpec.parse({
      errors: { httpCodes: ['5xx', '429'], grpcCodes: ['UNAVAILABLE'] },
      templates: [{ name: 't' }],
      metrics: [
        { ...errorRatio, name: 'inline', errors: { grpcCodes: [] } },
        { name: 'p99', type: 'latencyQuantile', quantile: 0.99, judge: { type: 'relative' } },
      ],
    });
    const { metrics, issues } = resolveMetrics(analysis, catalog([errorRatio]));
    expect(issues).toEqual([]);
    expect(metrics.map((m) => [m.name, m.errors])).toEqual([
      ['errors', { httpCodes: ['5xx', '429'], grpcCodes: ['UNAVAILABLE'] }],
      ['inline', { httpCodes: ['5xx', '429'], grpcCodes: [] }],
      ['p99', undefined],
    ]);
  });

  it('reports a provider the controller does not have, in a template or inline, and drops the metric', () => {
    const analysis = analysisSpec.parse({
      templates: [{ name: 't' }],
      metrics: [{ ...errorRatio, name: 'inline', provider: { name: 'elsewhere' } }],
    });
    const { metrics, issues } = resolveMetrics(
      analysis,
      catalog([{ ...errorRatio, provider: { name: 'thanos' } }]),
      { providers: ['default'] },
    );
    expect(metrics).toEqual([]);
    expect(issues).toEqual([
      {
        path: 'spec.analysis.templates[0]',
        message: expect.stringMatching(
          /^AnalysisTemplate "t" spec\.metrics\[0\]\.provider\.name: no metrics provider named "thanos" is configured in the controller; use one of: default/,
        ) as string,
      },
      {
        path: 'spec.analysis.metrics[0].provider.name',
        message: expect.stringMatching(/no metrics provider named "elsewhere"/) as string,
      },
    ]);
  });
});
