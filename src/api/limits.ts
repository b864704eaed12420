/**
 * How big what canaria accepts, and what it repeats, may be: one place for every bound. The schemas
 * carry them (and so the CRDs, where the API server enforces them before canaria sees an object), and
 * whatever status or Events repeat of user input is cut to a size that always fits, so every bad input
 * still ends with a written condition. Kubernetes itself allows an object of about 1.5 MB in etcd and
 * refuses larger requests; a status must stay far below that.
 */
export const LIMITS = {
  /** A DNS subdomain: metadata.name and the names of the objects a release refers to. */
  name: 253,
  /** A DNS label: metric, provider and template argument names. */
  label: 63,
  /** An HTTP header, query parameter or cookie name in a match stage. */
  headerName: 256,
  /** An exact or prefix value in a match stage (Envoy allows 60 KiB of request headers in all). */
  matchValue: 1024,
  /** A regular expression (RE2) in a match stage, or a cookie's. */
  regex: 1024,
  /** A PromQL query of a custom metric. */
  query: 8192,
  /** A template argument's value. */
  argValue: 1024,
  /** A duration such as 1h30m. */
  duration: 32,
  /** Short free text: a cron schedule, a time zone, a request id, an Istio version. */
  shortText: 256,
  /** Items of a list in a spec: steps, metrics, templates, arguments, matches, windows, routes, codes. */
  steps: 100,
  metrics: 20,
  templates: 10,
  args: 32,
  matches: 16,
  routes: 16,
  releaseWindows: 16,
  codes: 32,
  /** Metrics one release measures, from its templates and inline: each repeats its evidence in status. */
  metricsPerRelease: 20,
  /** What a message in status or an Event may repeat of one piece of user input. */
  quoted: 128,
  /** One validation issue's message. */
  issue: 512,
  /** Validation issues listed in a condition; the rest are counted. */
  issues: 10,
  /** A message in status (a condition, a decision, the phase's message) or an Event. */
  message: 4096,
  /** The query kept as a metric's evidence in status (the full query is in the controller's log). */
  evidenceQuery: 1024,
} as const;

/**
 * `text` cut to at most `max` characters, with a visible marker that says how much is missing:
 * `abc… (truncated, 1048573 more characters)`. Short text comes back as it is.
 */
export function truncate(text: string, max: number = LIMITS.message): string {
  if (text.length <= max) return text;
  const marker = (n: number) => `… (truncated, ${n} more characters)`;
  // the marker's own length depends on the count; take it for the longest count it could print
  const keep = Math.max(0, max - marker(text.length).length);
  return `${text.slice(0, keep)}${marker(text.length - keep)}`;
}

/** A piece of user input as a message quotes it: JSON-quoted, and cut to LIMITS.quoted. */
export function quoted(value: string, max: number = LIMITS.quoted): string {
  return JSON.stringify(truncate(value, max));
}
