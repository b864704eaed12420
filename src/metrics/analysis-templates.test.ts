import { describe, expect, it } from 'vitest';
import { analysisSpec } from '../api/canary-release.js';
import { REVISION_LABELS } from '../api/canary-release.js';
import { resolveMetrics } from '../analysis/resolve.js';
import { fakeApi, release } from '../../test/harness/metrics-fixtures.js';
import { parsePromql } from '../../test/harness/promql-grammar.js';
import { loadTemplates, templateCatalog } from '../../test/harness/templates.js';
import { PrometheusProvider } from './prometheus-provider.js';

describe('analysis-templates/', () => {
  const templates = loadTemplates();
  const metrics = templates.flatMap(({ template }) => template.spec.metrics);

  it('holds valid ClusterAnalysisTemplates, one per file, named after the file', () => {
    expect(templates.length).toBeGreaterThanOrEqual(4);
    for (const { file, template } of templates) {
      expect(template.kind).toBe('ClusterAnalysisTemplate');
      expect(`${template.metadata.name}.yaml`).toBe(file);
    }
  });

  it('covers error ratio, success rate and slow ratio tested sequentially against stable, and p99 latency', () => {
    const summary = metrics.map((m) => ({
      type: m.type,
      judge: m.judge.type,
      min: m.judge.min,
      quantile: m.quantile,
    }));
    expect(summary).toContainEqual({
      type: 'errorRatio',
      judge: 'sequential',
      min: undefined,
      quantile: undefined,
    });
    expect(summary).toContainEqual({
      type: 'successRate',
      judge: 'sequential',
      min: undefined,
      quantile: undefined,
    });
    expect(summary).toContainEqual({
      type: 'latencyQuantile',
      judge: 'relative',
      min: undefined,
      quantile: 0.99,
    });
    expect(summary).toContainEqual({
      type: 'slowRatio',
      judge: 'sequential',
      min: undefined,
      quantile: undefined,
    });
  });

  it('compiles to PromQL that the official grammar parses, for every revision label and reporter', async () => {
    const analysis = analysisSpec.parse({
      templates: templates.map(({ template }) => ({
        name: template.metadata.name,
        kind: 'ClusterAnalysisTemplate',
      })),
    });
    const resolved = resolveMetrics(analysis, templateCatalog());
    expect(resolved.issues).toEqual([]);
    const api = fakeApi(() => ({ type: 'vector', samples: [] }));
    const requests = REVISION_LABELS.flatMap((revisionLabel) =>
      (['destination', 'source'] as const).map((reporter) =>
        release({
          name: `r-${revisionLabel}-${reporter}`,
          revisionLabel,
          reporter,
          metrics: resolved.metrics,
        }),
      ),
    );
    const measured = await new PrometheusProvider(api).measure(requests);
    for (const byMetric of measured.values()) {
      for (const [name, measurement] of byMetric) expect(measurement.kind, name).not.toBe('error');
    }
    expect(api.queries.length).toBeGreaterThan(0);
    for (const query of api.queries) expect(parsePromql(query).errors, query).toEqual([]);
  });
});
