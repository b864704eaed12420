/**
 * The PromQL of the Canary releases dashboard. Everything about the selected release comes from its
 * own series: `canaria_release_info` names the Service, the revision label, the reporter and, at every
 * instant, which revision value is the canary and which the stable, so Istio's per-revision series
 * join to the release without anyone picking labels by hand, and a new revision (a new hash in
 * managed mode) is followed as it happens.
 */

export type Side = 'canary' | 'stable';
export const SIDES: readonly Side[] = ['canary', 'stable'];

/** canaria's series of the selected release. */
export const RELEASE = 'namespace="$namespace", name="$release"';
export const RELEASE_INFO = `canaria_release_info{${RELEASE}}`;

/** An Istio metric of the selected release's Service, as its analysis counts it (reporter, namespace). */
export const istio = (metric: string, extra = ''): string =>
  `${metric}{reporter="$reporter", destination_service_namespace="$namespace", destination_service_name=~"$service"${extra}}`;

/**
 * Seed S6's requests per second by revision, `sum(irate(istio_requests_total{destination_app="reviews"}[1m]))
 * by (destination_canonical_revision,destination_app)`, for the release's Service and revision label.
 */
export const requestsPerRevision = `sum by ($revision_label) (irate(${istio('istio_requests_total')}[$__rate_interval]))`;

const ratePerRevision = (extra = '') =>
  `sum by ($revision_label) (rate(${istio('istio_requests_total', extra)}[$__rate_interval]))`;

/** Share of a revision's requests that answered 5xx; 0, not absent, for a revision without any. */
export const errorRatioPerRevision = `(${ratePerRevision(', response_code=~"5.."')} or 0 * ${ratePerRevision()})\n/\n${ratePerRevision()}`;

export const latencyPerRevision = (quantile: number): string =>
  `histogram_quantile(${quantile}, sum by ($revision_label, le) (rate(${istio('istio_request_duration_milliseconds_bucket')}[$__rate_interval])))`;

/**
 * Keeps, of an expression grouped by the revision label, the series of one side, labelled
 * `revision` with its value: the join with the info series decides at each instant which it is.
 */
export function onSide(side: Side, perRevision: string): string {
  const revisions = `label_replace(${perRevision}, "revision", "$1", "$revision_label", "(.+)")`;
  const sideOf = `max by (revision) (label_replace(${RELEASE_INFO}, "revision", "$1", "${side}_revision", "(.+)"))`;
  return `${revisions}\n* on (revision)\n${sideOf}`;
}

/** The canary's share of the requests the two sides served, in percent: what the weight should give. */
export const measuredCanaryShare = `100 * sum(${onSide('canary', ratePerRevision())})\n/\n(sum(${onSide('canary', ratePerRevision())}) + sum(${onSide('stable', ratePerRevision())}))`;

/** A metric of the selected release's latest analysis; `$metric` is the repeated panel's metric. */
export const analysisMetric = (metric: string, variable = 'metric'): string =>
  `${metric}{${RELEASE}, metric=~"$${variable}"}`;

/**
 * A state timeline of a gauge that has one series, of value 1, labelled with the current state: the
 * 1-based index of that state, per `by` label. Should two states overlap for a scrape (a change
 * between two), `max` picks the later one in `states`.
 */
export function stateIndex(
  metric: string,
  label: string,
  states: readonly string[],
  by: string,
  filter: string,
): string {
  const arms = states.map((state, i) => `  ${metric}{${filter}, ${label}="${state}"} * ${i + 1}`);
  return `max by (${by}) (\n${arms.join('\n  or\n')}\n)`;
}
