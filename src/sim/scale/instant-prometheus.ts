import type {
  InstantSample,
  PrometheusApi,
  QueryResult,
  RangeSeries,
} from '../../metrics/prometheus-client.js';

/** What the benchmark's Prometheus was asked: every query, and the services each one covered. */
export interface QueryLog {
  queries: number;
  /** Services per query, to show how well releases share one. */
  servicesPerQuery: number[];
}

const ARM = /label_replace\((.*?), "canaria_window", "(\d+)", "", ""\)/g;
const SERVICES = /destination_service_name(=~?)"([^"]*)"/;
const GROUPING = /sum by \(([^)]*)\)/;

/**
 * A Prometheus that answers at once, so the benchmark times canaria alone: each release's stable
 * (v1) and canary (v2) serve `rps` requests a second, 0.5 % of them 503s, and a p99 of 120 ms.
 * It reads the batched queries canaria sends (one arm per window) just enough to answer every
 * service they name with series of the labels they group by.
 */
export function instantPrometheus(rps = 20): PrometheusApi & { log: QueryLog; reset(): void } {
  const log: QueryLog = { queries: 0, servicesPerQuery: [] };
  const answer = (expr: string): InstantSample[] => {
    const samples: InstantSample[] = [];
    let services = 0;
    for (const [, arm = '', windowText = '0'] of expr.matchAll(ARM)) {
      const window = Number(windowText);
      const match = SERVICES.exec(arm);
      const names = match?.[1] === '=~' ? (match[2] ?? '').split('|') : [match?.[2] ?? ''];
      services += names.length;
      const grouping = (GROUPING.exec(arm)?.[1] ?? '').split(', ');
      const revisionLabel = grouping[1] ?? 'destination_canonical_revision';
      const quantile = arm.startsWith('histogram_quantile');
      for (const service of names) {
        for (const revision of ['v1', 'v2']) {
          const labels = {
            destination_service_name: service,
            [revisionLabel]: revision,
            canaria_window: windowText,
          };
          if (quantile) {
            samples.push({ labels, value: 120 });
            continue;
          }
          const total = rps * window;
          const errors = Math.round(total * 0.005);
          for (const [code, value] of [
            ['200', total - errors],
            ['503', errors],
          ] as const) {
            const outcome: Record<string, string> = {};
            for (const label of grouping.slice(2)) {
              outcome[label] = label === 'response_code' ? code : label === 'le' ? '+Inf' : '';
            }
            samples.push({ labels: { ...labels, ...outcome }, value });
          }
        }
      }
    }
    log.queries++;
    log.servicesPerQuery.push(services);
    return samples;
  };
  return {
    log,
    reset() {
      log.queries = 0;
      log.servicesPerQuery = [];
    },
    query(expr: string): Promise<QueryResult> {
      return Promise.resolve({ type: 'vector', samples: answer(expr) });
    },
    queryRange(): Promise<RangeSeries[]> {
      return Promise.resolve([]);
    },
  };
}
