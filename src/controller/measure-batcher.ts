import type { Measurement } from '../analysis/types.js';
import type { MeasurementRequest, MetricsProvider } from '../metrics/provider.js';

interface Pending {
  request: MeasurementRequest;
  resolve: (measurements: Map<string, Measurement>) => void;
}

/**
 * Gathers the measurement requests of reconciles that run within `windowMs` of each other into one
 * call of the provider, so that one Prometheus query per metric and namespace serves them all.
 */
export class MeasureBatcher {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly provider: MetricsProvider,
    private readonly windowMs = 25,
  ) {}

  measure(request: MeasurementRequest): Promise<Map<string, Measurement>> {
    return new Promise((resolve) => {
      this.pending.push({ request, resolve });
      this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.timer = undefined;
    let answers: Map<string, Map<string, Measurement>>;
    try {
      answers = await this.provider.measure(batch.map((p) => p.request));
    } catch (err) {
      // a provider must not throw; if one does, every metric of the batch is an Error, which holds
      const failed: Measurement = {
        kind: 'error',
        error: { code: 'Unreachable', message: (err as Error).message, retryable: true },
      };
      answers = new Map(
        batch.map((p) => [p.request.key, new Map(p.request.metrics.map((m) => [m.name, failed]))]),
      );
    }
    for (const { request, resolve } of batch)
      resolve(answers.get(request.key) ?? new Map<string, Measurement>());
  }
}
