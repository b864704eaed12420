import { describe, expect, it } from 'vitest';
import { metric, release } from '../../test/harness/metrics-fixtures.js';
import { PROVIDER_TYPES } from '../api/analysis-template.js';
import type { MeasurementRequest, MetricsProvider } from './provider.js';
import { METRICS_PROVIDERS, MetricsRouter, type MetricsProviderSettings } from './registry.js';

describe('METRICS_PROVIDERS', () => {
  it('has a factory for every provider type the API accepts', () => {
    expect(Object.keys(METRICS_PROVIDERS).sort()).toEqual([...PROVIDER_TYPES].sort());
  });
});

describe('MetricsRouter', () => {
  it('sends each metric to its backend in one batch per backend and merges the answers', async () => {
    const calls: { address: string; requests: readonly MeasurementRequest[] }[] = [];
    const created: string[] = [];
    const factory = (settings: MetricsProviderSettings): MetricsProvider => {
      created.push(settings.address);
      expect(settings.bearerToken).toBe('t');
      return {
        measure(requests) {
          calls.push({ address: settings.address, requests });
          return Promise.resolve(
            new Map(
              requests.map((r) => [
                r.key,
                new Map(
                  r.metrics.map((m) => [
                    m.name,
                    { kind: 'scalar' as const, canary: 1, stable: null, query: settings.address },
                  ]),
                ),
              ]),
            ),
          );
        },
      };
    };
    const router = new MetricsRouter(
      { type: 'prometheus', address: 'http://default:9090', bearerToken: 't' },
      { prometheus: factory },
    );
    const remote = metric({
      name: 'remote',
      type: 'promql',
      query: 'x',
      provider: { type: 'prometheus', address: 'http://thanos:9090' },
    });
    const local = metric({ name: 'local', type: 'errorRatio' });
    const measured = await router.measure([
      release({ name: 'a', metrics: [local, remote] }),
      release({ name: 'b', metrics: [local] }),
    ]);
    expect(
      calls.map((c) => [
        c.address,
        c.requests.map((r) => `${r.key}:${r.metrics.map((m) => m.name).join('+')}`),
      ]),
    ).toEqual([
      ['http://default:9090', ['shop/a:local', 'shop/b:local']],
      ['http://thanos:9090', ['shop/a:remote']],
    ]);
    expect(measured.get('shop/a')?.get('remote')).toMatchObject({ query: 'http://thanos:9090' });
    expect(measured.get('shop/a')?.get('local')).toMatchObject({ query: 'http://default:9090' });
    await router.measure([release({ name: 'c', metrics: [remote] })]);
    expect(calls).toHaveLength(3);
    expect(created).toEqual(['http://default:9090', 'http://thanos:9090']);
  });
});
