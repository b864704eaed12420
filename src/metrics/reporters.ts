import type { InstantSample } from './prometheus-client.js';
import { oneOf, selector } from './promql.js';
import { NAMESPACE_LABEL, REQUESTS_TOTAL, SERVICE_LABEL, type Reporter } from './request-stats.js';

/*
 * Holding without data is right at low traffic, but wrong when no proxy will ever report the release's
 * requests: in ambient mode a Service without a waypoint is carried by ztunnel, which reports only TCP
 * (istio_tcp_*), so istio_requests_total never appears and a release would hold until its deadline.
 * These two queries and the classifier below tell that apart, so the status can say what to fix.
 */

export const TCP_CONNECTIONS_TOTAL = 'istio_tcp_connections_opened_total';

/**
 * The probe's queries for the Services of one namespace over `windowSeconds`: requests by Service and
 * reporter, and TCP connections by Service. Two queries per namespace, only for releases that saw no
 * requests at all.
 */
export function reporterProbeQueries(namespace: string, services: readonly string[], windowSeconds: number) {
  const matchers = [
    { label: NAMESPACE_LABEL, op: '=' as const, value: namespace },
    oneOf(SERVICE_LABEL, services),
  ];
  return {
    requests: `sum by (${SERVICE_LABEL}, reporter) (increase(${selector(REQUESTS_TOTAL, matchers)}[${windowSeconds}s]))`,
    tcp: `sum by (${SERVICE_LABEL}) (increase(${selector(TCP_CONNECTIONS_TOTAL, matchers)}[${windowSeconds}s]))`,
  };
}

/** The samples of one Service in a probe's answer. */
export const ofService = (samples: readonly InstantSample[], service: string): InstantSample[] =>
  samples.filter((s) => s.labels[SERVICE_LABEL] === service);

export type ReporterDiagnosis =
  /** The configured reporter has requests: nothing to say. */
  | { kind: 'ok' }
  /** Neither requests nor connections: no traffic yet, holding is right. */
  | { kind: 'no-traffic' }
  /** TCP connections but no L7 reporter at all. */
  | { kind: 'no-l7-reporter'; message: string }
  /** Requests are reported, but not by the reporter the release counts. */
  | { kind: 'other-reporter'; reporters: string[]; message: string };

const counted = (reporter: Reporter): string[] =>
  reporter === 'auto' ? ['destination', 'waypoint'] : [reporter];

/** Classifies the answers to reporterProbeQueries for a release that counts `reporter`. */
export function diagnoseReporters(
  service: string,
  reporter: Reporter,
  requests: readonly InstantSample[],
  tcp: readonly InstantSample[],
): ReporterDiagnosis {
  const seen = requests.filter((s) => s.value > 0).map((s) => s.labels.reporter ?? '');
  if (seen.some((r) => counted(reporter).includes(r))) return { kind: 'ok' };
  if (seen.length) {
    const reporters = [...new Set(seen)].sort();
    return {
      kind: 'other-reporter',
      reporters,
      message: `requests to ${service} are reported by ${reporters.join(', ')} only, but the release counts reporter ${reporter}; set spec.analysis.reporter to ${reporters.includes('waypoint') ? 'waypoint or auto' : (reporters[0] ?? 'auto')}`,
    };
  }
  const connections = tcp.reduce((sum, s) => sum + (Number.isFinite(s.value) ? s.value : 0), 0);
  if (connections > 0) {
    return {
      kind: 'no-l7-reporter',
      message: `${service} has TCP traffic but no proxy reports its requests (no istio_requests_total): in ambient mode ztunnel reports TCP only; give the Service a waypoint (label istio.io/use-waypoint) or the pods a sidecar so requests can be measured`,
    };
  }
  return { kind: 'no-traffic' };
}
