/**
 * A synthetic Istio mesh for tests: a prom-client registry with Istio's metric names and labels,
 * served over HTTP on loopback for a real Prometheus to scrape. Tests inject exact numbers of
 * requests per revision, with chosen errors and latencies, and compare what canaria measures.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';

/** Istio's default buckets, written out here rather than imported, so the emitter checks canaria's copy. */
export const ISTIO_DURATION_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

const LABELS = [
  'reporter',
  'source_workload',
  'destination_service_name',
  'destination_service_namespace',
  'destination_workload',
  'destination_app',
  'destination_version',
  'destination_canonical_revision',
  'response_code',
  'response_flags',
  'request_protocol',
  'grpc_response_status',
] as const;
type Label = (typeof LABELS)[number];

/** One revision of one service, as Istio's labels describe it. */
export interface Workload {
  namespace: string;
  service: string;
  /** The pods' `version` label (destination_version). */
  version: string;
  /** destination_canonical_revision; the version by default. */
  canonicalRevision?: string;
  reporter?: 'destination' | 'source' | 'waypoint';
  /** gRPC services report request_protocol="grpc" and a grpc_response_status; HTTP ones report none. */
  protocol?: 'http' | 'grpc';
}

export interface Traffic extends Workload {
  requests: number;
  /** How many of the requests fail; they answer `errorCode`. */
  errors?: number;
  errorCode?: number;
  /** Envoy response flags of the failing requests, e.g. `UF`. */
  errorFlags?: string;
  /**
   * gRPC: the status of the failing requests, e.g. 14 (UNAVAILABLE); they answer HTTP 200 unless
   * `errorCode` says otherwise, as gRPC does. Successful calls report status 0.
   */
  grpcStatus?: number;
  /** Latency of request i in milliseconds; 20 ms for every request by default. */
  latencyMs?: number | ((i: number) => number);
}

export interface MeshEmitter {
  /** host:port, as a Prometheus scrape target. */
  target: string;
  /**
   * Creates the workload's series at zero, for these response codes and flags. Prometheus cannot see
   * an increase on a series whose first sample already counts requests, so declare, wait for a
   * scrape, then inject.
   */
  declare(
    workload: Workload,
    codes?: readonly number[],
    flags?: string,
    grpcStatuses?: readonly number[],
  ): void;
  inject(traffic: Traffic): void;
  close(): Promise<void>;
}

export async function startMeshEmitter(): Promise<MeshEmitter> {
  const registry = new Registry();
  const requests = new Counter({
    name: 'istio_requests_total',
    help: 'Requests served, as reported by an Istio sidecar.',
    labelNames: LABELS,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'istio_request_duration_milliseconds',
    help: 'Request duration in milliseconds, as reported by an Istio sidecar.',
    labelNames: LABELS,
    buckets: ISTIO_DURATION_BUCKETS,
    registers: [registry],
  });

  const labelsOf = (w: Workload, code: number, flags: string, grpc = ''): Record<Label, string> => ({
    reporter: w.reporter ?? 'destination',
    source_workload: 'loadgen',
    destination_service_name: w.service,
    destination_service_namespace: w.namespace,
    destination_workload: `${w.service}-${w.version}`,
    destination_app: w.service,
    destination_version: w.version,
    destination_canonical_revision: w.canonicalRevision ?? w.version,
    response_code: String(code),
    response_flags: flags,
    request_protocol: w.protocol ?? 'http',
    // Istio leaves the label empty for HTTP; Prometheus drops empty labels, as it does for Istio's
    grpc_response_status: w.protocol === 'grpc' ? grpc : '',
  });

  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    target: `127.0.0.1:${port}`,
    declare(workload, codes = [200, 503], flags = '-', grpcStatuses = []) {
      const statuses = workload.protocol === 'grpc' ? ['0', ...grpcStatuses.map(String)] : [''];
      for (const code of codes) {
        for (const grpc of statuses) {
          const labels = labelsOf(workload, code, flags, grpc);
          requests.inc(labels, 0);
          duration.zero(labels);
        }
      }
    },
    inject(traffic) {
      const errors = traffic.errors ?? 0;
      const latency = traffic.latencyMs ?? 20;
      const ok = labelsOf(traffic, 200, '-', '0');
      const grpcFailure = traffic.grpcStatus !== undefined;
      const failed = labelsOf(
        traffic,
        traffic.errorCode ?? (grpcFailure ? 200 : 503),
        traffic.errorFlags ?? '-',
        String(traffic.grpcStatus ?? 0),
      );
      for (let i = 0; i < traffic.requests; i++) {
        const labels = i < errors ? failed : ok;
        requests.inc(labels);
        duration.observe(labels, typeof latency === 'number' ? latency : latency(i));
      }
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close((err) => {
          if (err) reject(err);
          else resolve();
        });
        // Prometheus keeps its scrape connection alive; without this, close waits for it.
        server.closeAllConnections();
      }),
  };
}
