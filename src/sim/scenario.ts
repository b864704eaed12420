import { parseDocument } from 'yaml';
import { z } from 'zod';
import { duration, parseDuration } from '../api/duration.js';
import { toIssues, type Parsed } from '../api/validation.js';
import { logNormalCdf, piecewiseCdf, type LatencyCdf } from './latency.js';

/*
 * The scenario file of `canaria simulate`: how much traffic arrives, what it looks like (so A/B match
 * stages see their headers, cookies and query parameters), how each revision behaves, and faults that
 * start during the rollout. Every field has a default: an empty file is a healthy canary at 50 rps.
 */

/** A duration field that says what it wants when given a bare number (`at: 10` is a common slip). */
const durationOf = (what: string, example: string) =>
  z.string({ error: `${what} must be a duration such as ${example} (units ms, s, m, h)` }).pipe(duration);

const share = (what: string) =>
  z
    .number({ error: `${what} must be a number between 0 and 1, e.g. 0.01 for 1 %` })
    .min(0, { error: `${what} must be >= 0` })
    .max(1, { error: `${what} must be <= 1 (it is a ratio, not a percent)` });

const milliseconds = (what: string) =>
  z
    .number({ error: `${what} must be a number of milliseconds, e.g. 40` })
    .positive({ error: `${what} must be > 0 milliseconds` });

export const latencySpec = z
  .strictObject({
    p50: milliseconds('p50').optional(),
    p99: milliseconds('p99').optional(),
    /** A measured profile: latency at several quantiles, linear in between. */
    quantiles: z
      .array(
        z.strictObject({
          q: z
            .number({ error: 'q must be a quantile, e.g. 0.99' })
            .gt(0, { error: 'q must be > 0' })
            .max(1, { error: 'q must be <= 1' }),
          ms: z.number({ error: 'ms must be a number of milliseconds' }).min(0, { error: 'ms must be >= 0' }),
        }),
      )
      .min(1, { error: 'give at least one quantile, e.g. [{q: 0.5, ms: 40}, {q: 0.99, ms: 200}]' })
      .optional(),
  })
  .superRefine((l, ctx) => {
    const median = l.p50 !== undefined || l.p99 !== undefined;
    if (median && l.quantiles) {
      ctx.addIssue({
        code: 'custom',
        path: ['quantiles'],
        message: 'give either p50 and p99 or quantiles, not both',
      });
    } else if (!l.quantiles && (l.p50 === undefined || l.p99 === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [l.p50 === undefined ? 'p50' : 'p99'],
        message: 'a latency needs both p50 and p99 (e.g. {p50: 40, p99: 200}), or a quantiles list',
      });
    } else if (l.p50 !== undefined && l.p99 !== undefined && l.p99 < l.p50) {
      ctx.addIssue({
        code: 'custom',
        path: ['p99'],
        message: `p99 (${l.p99}) is below p50 (${l.p50}); the 99th percentile cannot be faster than the median`,
      });
    }
    const qs = l.quantiles ?? [];
    const sorted = [...qs].sort((a, b) => a.q - b.q);
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1];
      const b = sorted[i];
      if (a && b && b.ms < a.ms) {
        ctx.addIssue({
          code: 'custom',
          path: ['quantiles', qs.indexOf(b), 'ms'],
          message: `latency at q ${b.q} (${b.ms} ms) is below that at q ${a.q} (${a.ms} ms); a higher quantile cannot be faster`,
        });
      }
    }
  });
export type LatencySpec = z.infer<typeof latencySpec>;

export const revisionBehaviour = z.strictObject({
  /** Share of requests answered with a 5xx. */
  errorRate: share('errorRate').default(0.005),
  latency: latencySpec.default({ p50: 40, p99: 200 }),
});
export type RevisionBehaviour = z.infer<typeof revisionBehaviour>;

const name = (what: string, example: string) =>
  z
    .string({ error: `${what} must be a string, e.g. ${example}` })
    .min(1, { error: `${what} must not be empty` });

/** One kind of request: what a client sends, and its share of all requests. */
export const requestClass = z.strictObject({
  /** Relative share; the shares of all classes need not add up to anything. */
  share: z
    .number({ error: 'share must be a number, e.g. 0.1' })
    .positive({ error: 'share must be > 0' })
    .default(1),
  /** By default the VirtualService's first host. */
  host: name('host', 'reviews').optional(),
  /** By default the VirtualService's first gateway, or the mesh when it names none. */
  gateway: name('gateway', 'demo4-gateway').optional(),
  uri: z.string().startsWith('/', { error: 'uri must start with /, e.g. /greet?name=xx' }).optional(),
  method: name('method', 'GET').optional(),
  headers: z.record(z.string(), z.string()).optional(),
  cookies: z.record(z.string(), z.string()).optional(),
  queryParams: z.record(z.string(), z.string()).optional(),
});
export type RequestClass = z.infer<typeof requestClass>;

const rateChanges = z
  .array(
    z.strictObject({
      at: durationOf('at', '20m'),
      rps: z.number({ error: 'rps must be a number' }).min(0, { error: 'rps must be >= 0' }),
    }),
  )
  .min(1, { error: 'give at least one change, e.g. [{at: 0s, rps: 50}]' });
type RateChange = z.infer<typeof rateChanges>[number];

const RATE_FORMS =
  'requestsPerSecond must be a number such as 50, or a list such as [{at: 0s, rps: 50}, {at: 20m, rps: 5}]';

/**
 * A number or a list of changes. Dispatched by hand rather than with z.union, which reports only
 * "invalid input" for a list with two wrong entries instead of the entries' own paths.
 */
const requestRateSpec = z.unknown().transform((input, ctx): number | RateChange[] => {
  if (typeof input === 'number') {
    if (input >= 0) return input;
    ctx.addIssue({ code: 'custom', message: 'requestsPerSecond must be >= 0', input });
    return z.NEVER;
  }
  if (!Array.isArray(input)) {
    ctx.addIssue({ code: 'custom', message: RATE_FORMS, input });
    return z.NEVER;
  }
  const parsed = rateChanges.safeParse(input, { reportInput: true });
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue });
  return z.NEVER;
});

export const trafficSpec = z.strictObject({
  /** A constant rate, or a rate that changes at given times: [{at: 0s, rps: 50}, {at: 20m, rps: 5}]. */
  requestsPerSecond: requestRateSpec.default(50),
  /** Kinds of requests; by default one plain GET / to the VirtualService's first host. */
  requests: z
    .array(requestClass)
    .min(1, { error: 'give at least one request class, e.g. [{share: 1}]' })
    .optional(),
});
export type TrafficSpec = z.infer<typeof trafficSpec>;

export const faultSpec = z
  .strictObject({
    /** When the fault starts, from the beginning of the simulation. */
    at: durationOf('at', '10m'),
    /** When it ends; by default it lasts. */
    until: durationOf('until', '15m').optional(),
    /** The revision label value (e.g. v3) or the DestinationRule subset name it hits. */
    revision: name('revision', 'v3'),
    errorRate: share('errorRate').optional(),
    latency: latencySpec.optional(),
  })
  .superRefine((f, ctx) => {
    if (f.errorRate === undefined && f.latency === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['errorRate'],
        message: 'a fault changes errorRate, latency or both, e.g. errorRate: 0.2',
      });
    }
    const from = parseDuration(f.at);
    const to = f.until === undefined ? undefined : parseDuration(f.until);
    if (from !== undefined && to !== undefined && to <= from) {
      ctx.addIssue({
        code: 'custom',
        path: ['until'],
        message: `until (${f.until}) must be after at (${f.at})`,
      });
    }
  });

/**
 * How one of the release's webhooks answers in the simulation: 200 by default; within [from, to) it
 * answers `status` (500 when only `fail: true` is given), so a pre-rollout check can fail for the
 * first minutes or a confirm-promotion gate stay closed (403) until a time.
 */
export const hookBehaviour = z
  .strictObject({
    fail: z.boolean({ error: 'fail must be true or false' }).optional(),
    /** The HTTP status code answered within the window; 2xx opens a gate, anything else fails. */
    status: z
      .int({ error: 'status must be an HTTP status code such as 403' })
      .min(100, { error: 'status must be an HTTP status code (100-599) such as 403' })
      .max(599, { error: 'status must be an HTTP status code (100-599) such as 403' })
      .optional(),
    from: durationOf('from', '2m').default('0s'),
    /** When the hook answers 200 again; by default never. */
    to: durationOf('to', '5m').optional(),
  })
  .superRefine((h, ctx) => {
    if (h.fail === undefined && h.status === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['fail'],
        message: 'say how the hook answers: fail: true (HTTP 500) or status: 403',
      });
    }
    if (h.fail === true && h.status !== undefined && h.status >= 200 && h.status < 300) {
      ctx.addIssue({
        code: 'custom',
        path: ['status'],
        message: `fail: true with status ${h.status} contradicts itself; a failing hook answers non-2xx, e.g. 500`,
      });
    }
    const from = parseDuration(h.from);
    const to = h.to === undefined ? undefined : parseDuration(h.to);
    if (from !== undefined && to !== undefined && to <= from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: `to (${h.to}) must be after from (${h.from})` });
    }
  });
export type HookBehaviour = z.infer<typeof hookBehaviour>;

/** The status code a hook answers at `atMs`: 200 outside its window. */
export function hookAnswerAt(behaviour: HookBehaviour | undefined, atMs: number): number {
  if (!behaviour) return 200;
  const from = parseDuration(behaviour.from) ?? 0;
  const to = behaviour.to === undefined ? Infinity : (parseDuration(behaviour.to) ?? Infinity);
  if (atMs < from || atMs >= to) return 200;
  return behaviour.status ?? (behaviour.fail === false ? 200 : 500);
}

export const scenarioSpec = z.strictObject({
  /** When the simulated clock starts; matters for release windows. A Monday morning by default. */
  start: z.iso
    .datetime({ offset: true, error: 'start must be a date and time such as 2026-01-05T10:00:00Z' })
    .default('2026-01-05T10:00:00Z'),
  /** The simulation stops after this much simulated time, whatever the release's phase. */
  maxDuration: durationOf('maxDuration', '2h').default('6h'),
  traffic: trafficSpec.default({ requestsPerSecond: 50 }),
  /** How each revision behaves, by revision label value (v2) or subset name; others behave like the default. */
  revisions: z.record(z.string(), revisionBehaviour).default({}),
  faults: z.array(faultSpec).default([]),
  /** How the release's webhooks answer, by hook name; a hook not named answers 200. */
  hooks: z.record(z.string(), hookBehaviour).default({}),
});
export type Scenario = z.infer<typeof scenarioSpec>;
export type ScenarioInput = z.input<typeof scenarioSpec>;

/** The scenario when none is given: every revision at 0.5 % errors and 40/200 ms, 50 requests per second. */
export const defaultScenario = (): Scenario => scenarioSpec.parse({});

/** Parses a scenario file; YAML syntax errors and invalid fields come back as issues with their paths. */
export function parseScenario(text: string): Parsed<Scenario> {
  const document = parseDocument(text);
  const [error] = document.errors;
  if (error) {
    const line = error.linePos?.[0].line;
    return {
      ok: false,
      issues: [
        {
          path: line === undefined ? '' : `line ${line}`,
          message: `invalid YAML: ${(error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:$/, '')}`,
        },
      ],
    };
  }
  const input: unknown = document.toJS() ?? {};
  // with the input in each issue, toIssues can tell a missing field from one of the wrong type
  const result = scenarioSpec.safeParse(input, { reportInput: true });
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, issues: toIssues(result.error, scenarioSpec) };
}

/** Requests per second at `atMs` from the start. */
export function requestRate(traffic: TrafficSpec, atMs: number): number {
  const rate = traffic.requestsPerSecond;
  if (typeof rate === 'number') return rate;
  const changes = rate.map((r) => ({ at: parseDuration(r.at) ?? 0, rps: r.rps })).sort((a, b) => a.at - b.at);
  // before the first change the first rate holds: a list need not start at 0s
  let current = changes[0]?.rps ?? 0;
  for (const change of changes) if (change.at <= atMs) current = change.rps;
  return current;
}

export function latencyCdf(latency: LatencySpec): LatencyCdf {
  if (latency.quantiles) return piecewiseCdf(latency.quantiles);
  return logNormalCdf(latency.p50 ?? 40, latency.p99 ?? 200);
}

/**
 * How a revision behaves at `atMs`: its entry in `revisions` (by revision label value, then by subset
 * name), with every fault that is active then applied in order.
 */
export function behaviourAt(
  scenario: Scenario,
  revision: { value: string; subset: string },
  atMs: number,
): RevisionBehaviour {
  const named = (key: string) => key === revision.value || key === revision.subset;
  const base =
    scenario.revisions[revision.value] ?? scenario.revisions[revision.subset] ?? revisionBehaviour.parse({});
  let behaviour: RevisionBehaviour = base;
  for (const fault of scenario.faults) {
    if (!named(fault.revision)) continue;
    const from = parseDuration(fault.at) ?? 0;
    const to = fault.until === undefined ? Infinity : (parseDuration(fault.until) ?? Infinity);
    if (atMs < from || atMs >= to) continue;
    behaviour = {
      errorRate: fault.errorRate ?? behaviour.errorRate,
      latency: fault.latency ?? behaviour.latency,
    };
  }
  return behaviour;
}
