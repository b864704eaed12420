import type { Measurement, ResolvedMetric } from '../analysis/types.js';
import {
  windowStartOf,
  type MeasurementRequest,
  type Measurements,
  type MetricsProvider,
} from '../metrics/provider.js';
import { windowSeconds } from '../metrics/request-stats.js';
import { DEFAULT_WINDOW_GRANULARITY_MS } from '../metrics/prometheus-provider.js';
import { histogramQuantile, ISTIO_LATENCY_BUCKETS_MS, slowerThan } from './histogram.js';
import type { SimulatedMesh } from './mesh.js';

/**
 * The metrics port answered from the simulated mesh instead of Prometheus: the same per-revision
 * counts, slow counts by histogram bucket and histogram_quantile latencies, over the same windows
 * the Prometheus adapter would query (rounded down to whole minutes). Custom PromQL has no mesh to
 * run against and answers an Error, which holds like a Prometheus outage would.
 */
export class MeshMetricsProvider implements MetricsProvider {
  constructor(private readonly mesh: SimulatedMesh) {}

  measure(requests: readonly MeasurementRequest[]): Promise<Measurements> {
    const out: Measurements = new Map();
    for (const request of requests) {
      const byMetric = new Map<string, Measurement>();
      for (const metric of request.metrics) byMetric.set(metric.name, this.measureOne(request, metric));
      out.set(request.key, byMetric);
    }
    return Promise.resolve(out);
  }

  private measureOne(request: MeasurementRequest, metric: ResolvedMetric): Measurement {
    if (metric.type === 'promql') {
      return {
        kind: 'error',
        error: {
          code: 'BadQuery',
          message: `metric ${metric.name} is custom PromQL, which cannot be simulated without Prometheus; the simulator measures only errorRatio, successRate, slowRatio and latencyQuantile`,
          retryable: false,
        },
      };
    }
    const end = request.now.getTime();
    const seconds = windowSeconds(windowStartOf(request, metric), request.now, DEFAULT_WINDOW_GRANULARITY_MS);
    const start = end - seconds * 1000;
    const canary = this.mesh.window(request.canaryRevision, start, end);
    const stable = this.mesh.window(request.stableRevision, start, end);
    switch (metric.type) {
      case 'errorRatio':
      case 'successRate':
        return {
          kind: 'requests',
          canary: { total: canary.total, errors: canary.errors },
          stable: { total: stable.total, errors: stable.errors },
        };
      case 'slowRatio': {
        const bound = metric.latencyThresholdMs ?? Number.NaN;
        if (!ISTIO_LATENCY_BUCKETS_MS.includes(bound)) {
          return {
            kind: 'error',
            error: {
              code: 'BadQuery',
              message: `latencyThresholdMs ${bound} is not a bucket bound of istio_request_duration_milliseconds; Istio's default bounds are ${ISTIO_LATENCY_BUCKETS_MS.join(', ')}`,
              retryable: false,
            },
          };
        }
        return {
          kind: 'requests',
          canary: { total: canary.total, errors: canary.errors, slow: slowerThan(canary.buckets, bound) },
          stable: { total: stable.total, errors: stable.errors, slow: slowerThan(stable.buckets, bound) },
        };
      }
      case 'latencyQuantile': {
        const q = metric.quantile ?? 0.99;
        return {
          kind: 'scalar',
          canary: histogramQuantile(q, canary.buckets),
          stable: histogramQuantile(q, stable.buckets),
        };
      }
    }
  }
}
