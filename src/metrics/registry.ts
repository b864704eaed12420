import type { ProviderType } from '../api/analysis-template.js';
import type { Measurement, ResolvedMetric } from '../analysis/types.js';
import { PrometheusClient, type PrometheusConnection } from './prometheus-client.js';
import { PrometheusProvider, type PrometheusProviderOptions } from './prometheus-provider.js';
import type { MeasurementRequest, Measurements, MetricsProvider } from './provider.js';

/** How the controller reaches its metrics backend: connection, auth and query tuning. */
export type MetricsProviderSettings = PrometheusConnection & PrometheusProviderOptions;

export type MetricsProviderFactory = (settings: MetricsProviderSettings) => MetricsProvider;

/** One factory per provider type; the schema's PROVIDER_TYPES keeps this list complete. */
export const METRICS_PROVIDERS: Record<ProviderType, MetricsProviderFactory> = {
  prometheus: (settings) => new PrometheusProvider(new PrometheusClient(settings), settings),
};

/**
 * The provider the controller uses: metrics without a `provider` go to the default backend, a metric
 * with `provider: {type, address}` goes to that backend, with the default's auth and tuning. Each
 * backend gets one batched call per tick.
 */
export class MetricsRouter implements MetricsProvider {
  private readonly providers = new Map<string, MetricsProvider>();

  constructor(
    private readonly defaults: MetricsProviderSettings & { type: ProviderType },
    private readonly factories: Record<ProviderType, MetricsProviderFactory> = METRICS_PROVIDERS,
  ) {}

  async measure(requests: readonly MeasurementRequest[], signal?: AbortSignal): Promise<Measurements> {
    const byBackend = new Map<
      string,
      { type: ProviderType; address: string; requests: MeasurementRequest[] }
    >();
    for (const request of requests) {
      const split = new Map<string, ResolvedMetric[]>();
      for (const metric of request.metrics) {
        const type = metric.provider?.type ?? this.defaults.type;
        const address = metric.provider?.address ?? this.defaults.address;
        const key = JSON.stringify([type, address]);
        if (!byBackend.has(key)) byBackend.set(key, { type, address, requests: [] });
        split.set(key, [...(split.get(key) ?? []), metric]);
      }
      for (const [key, metrics] of split) byBackend.get(key)?.requests.push({ ...request, metrics });
    }
    const answers = await Promise.all(
      [...byBackend].map(([key, backend]) => this.provider(key, backend).measure(backend.requests, signal)),
    );
    const merged: Measurements = new Map();
    for (const answer of answers) {
      for (const [release, byMetric] of answer) {
        const into = merged.get(release) ?? new Map<string, Measurement>();
        for (const [metric, measurement] of byMetric) into.set(metric, measurement);
        merged.set(release, into);
      }
    }
    return merged;
  }

  private provider(key: string, backend: { type: ProviderType; address: string }): MetricsProvider {
    let provider = this.providers.get(key);
    if (!provider) {
      provider = this.factories[backend.type]({ ...this.defaults, address: backend.address });
      this.providers.set(key, provider);
    }
    return provider;
  }
}
