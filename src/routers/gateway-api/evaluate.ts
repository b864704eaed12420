import {
  isServiceRef,
  type HeaderMatch,
  type HttpRoute,
  type HttpRouteMatch,
  type PathMatch,
} from './types.js';
import { mirrorPercentOf } from './routes.js';
import { requestParts } from '../http-match.js';

/*
 * Which backend a request reaches through one HTTPRoute, for `canaria route-test` and `lint`. Gateway
 * API does not take the first rule that matches: among all matches of all rules that fit a request it
 * picks, in this order, an Exact path over a prefix, the longest prefix, a match with a method, the
 * most header matches, the most query parameter matches; only then the earlier rule and match. Then a
 * backend is drawn by weight (an omitted weight is 1).
 */

export interface HttpRouteRequest {
  /** The Host header; checked against spec.hostnames when given. */
  host?: string;
  /** Path, optionally with a query string. Default `/`. */
  uri?: string;
  /** Default GET. */
  method?: string;
  headers?: Readonly<Record<string, string>>;
  /** Sent as one `Cookie` header, as browsers do. */
  cookies?: Readonly<Record<string, string>>;
  /** Added to those of the uri's query string. */
  queryParams?: Readonly<Record<string, string>>;
}

export interface RoutedBackend {
  name: string;
  namespace?: string;
  port?: number;
  /** Not a Service: group/kind of the referent. */
  kind?: string;
  weight: number;
  /** Share of the rule's requests, in percent. */
  percent: number;
}

export type HttpRouteEvaluation =
  | {
      kind: 'matched';
      route: string;
      /** Index in spec.rules and in its matches of the match that won. */
      rule: number;
      match: number;
      name?: string;
      /** The match that fired, e.g. `path PathPrefix /api, header end-user Exact testuser`. */
      matched: string;
      backends: RoutedBackend[];
      mirror?: { name: string; percent: number };
      notes: string[];
    }
  | { kind: 'no-match'; route: string; notes: string[] };

interface Request {
  host: string | undefined;
  path: string;
  method: string;
  headers: Map<string, string>;
  query: Map<string, string>;
}

function normalize(request: HttpRouteRequest): Request {
  const { path, headers, query } = requestParts(request);
  return {
    host: request.host,
    path,
    method: (request.method ?? 'GET').toUpperCase(),
    headers,
    query,
  };
}

/** A regular expression matched against the whole value, as Envoy does. Undefined when JS cannot compile it. */
function fullMatch(pattern: string, value: string): boolean | undefined {
  try {
    return new RegExp(`^(?:${pattern})$`).test(value);
  } catch {
    return undefined;
  }
}

/** PathPrefix matches whole path elements: /foo matches /foo and /foo/bar, not /foobar. */
function prefixMatches(prefix: string, path: string): boolean {
  const p = prefix.length > 1 ? prefix.replace(/\/+$/, '') : prefix;
  if (p === '/' || p === '') return true;
  return path === p || path.startsWith(`${p}/`);
}

function pathMatches(m: PathMatch, path: string, notes: string[]): boolean {
  const value = m.value ?? '/';
  switch (m.type ?? 'PathPrefix') {
    case 'Exact':
      return path === value;
    case 'PathPrefix':
      return prefixMatches(value, path);
    case 'RegularExpression': {
      const result = fullMatch(value, path);
      if (result === undefined)
        notes.push(`path regex ${JSON.stringify(value)} is not one JavaScript can check`);
      return result === true;
    }
  }
}

function valueMatches(m: HeaderMatch, value: string | undefined, what: string, notes: string[]): boolean {
  if (value === undefined) return false;
  if ((m.type ?? 'Exact') === 'Exact') return value === m.value;
  const result = fullMatch(m.value, value);
  if (result === undefined)
    notes.push(`${what} regex ${JSON.stringify(m.value)} is not one JavaScript can check`);
  return result === true;
}

function matches(m: HttpRouteMatch, request: Request, notes: string[]): boolean {
  if (!pathMatches(m.path ?? {}, request.path, notes)) return false;
  if (m.method !== undefined && m.method.toUpperCase() !== request.method) return false;
  // Gateway API considers only the first entry of equal header names
  const seen = new Set<string>();
  for (const h of m.headers ?? []) {
    const name = h.name.toLowerCase();
    if (seen.has(name)) continue;
    seen.add(name);
    if (!valueMatches(h, request.headers.get(name), `header ${h.name}`, notes)) return false;
  }
  for (const q of m.queryParams ?? []) {
    if (!valueMatches(q, request.query.get(q.name), `query parameter ${q.name}`, notes)) return false;
  }
  return true;
}

/** Bigger is more specific, compared in order; Gateway API's precedence within one route. */
function precedence(m: HttpRouteMatch): number[] {
  const type = m.path?.type ?? 'PathPrefix';
  const length = (m.path?.value ?? '/').length;
  return [
    type === 'Exact' ? 2 : type === 'PathPrefix' ? 1 : 0,
    type === 'RegularExpression' ? 0 : length,
    m.method === undefined ? 0 : 1,
    new Set((m.headers ?? []).map((h) => h.name.toLowerCase())).size,
    (m.queryParams ?? []).length,
  ];
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let k = 0; k < a.length; k++) {
    const d = (a[k] ?? 0) - (b[k] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const describeMatch = (m: HttpRouteMatch): string =>
  [
    `path ${m.path?.type ?? 'PathPrefix'} ${m.path?.value ?? '/'}`,
    ...(m.method ? [`method ${m.method}`] : []),
    ...(m.headers ?? []).map((h) => `header ${h.name} ${h.type ?? 'Exact'} ${h.value}`),
    ...(m.queryParams ?? []).map((q) => `query ${q.name} ${q.type ?? 'Exact'} ${q.value}`),
  ].join(', ');

function hostMatches(hostnames: readonly string[], host: string): boolean {
  const h = host.replace(/:\d+$/, '').toLowerCase();
  return hostnames.some((name) => {
    const n = name.toLowerCase();
    return n.startsWith('*.') ? h.endsWith(n.slice(1)) && h.length > n.length - 1 : h === n;
  });
}

export function evaluateHttpRoute(route: HttpRoute, input: HttpRouteRequest): HttpRouteEvaluation {
  const request = normalize(input);
  const notes: string[] = [];
  const name = route.metadata.name;
  const hostnames = route.spec.hostnames ?? [];
  if (request.host !== undefined && hostnames.length && !hostMatches(hostnames, request.host)) {
    return {
      kind: 'no-match',
      route: name,
      notes: [`host ${request.host} is not one of ${hostnames.join(', ')}`],
    };
  }
  let best: { rule: number; match: number; key: number[]; m: HttpRouteMatch } | undefined;
  (route.spec.rules ?? []).forEach((rule, i) => {
    const blocks = rule.matches?.length ? rule.matches : [{}];
    blocks.forEach((m, j) => {
      if (!matches(m, request, notes)) return;
      const key = precedence(m);
      // strictly more specific only: on a tie the earlier rule and match keep it
      const better = !best || compare(key, best.key) > 0;
      if (better) best = { rule: i, match: j, key, m };
    });
  });
  if (!best) return { kind: 'no-match', route: name, notes };
  const rule = route.spec.rules?.[best.rule] ?? {};
  const refs = rule.backendRefs ?? [];
  const total = refs.reduce((sum, r) => sum + (r.weight ?? 1), 0);
  if (refs.length && total === 0)
    notes.push('every backendRef has weight 0: the request is answered with 500');
  if (!refs.length)
    notes.push('the rule has no backendRefs: the request is answered with 500 unless a filter answers it');
  const backends = refs.map((r) => {
    const weight = r.weight ?? 1;
    const out: RoutedBackend = { name: r.name, weight, percent: total > 0 ? (weight / total) * 100 : 0 };
    if (r.namespace !== undefined) out.namespace = r.namespace;
    if (r.port !== undefined) out.port = r.port;
    if (!isServiceRef(r)) out.kind = `${r.group ?? ''}/${r.kind ?? 'Service'}`;
    return out;
  });
  const result: HttpRouteEvaluation = {
    kind: 'matched',
    route: name,
    rule: best.rule,
    match: best.match,
    matched: describeMatch(best.m),
    backends,
    notes,
  };
  if (rule.name !== undefined) result.name = rule.name;
  const mirror = (rule.filters ?? []).find((f) => f.type === 'RequestMirror' && f.requestMirror);
  if (mirror?.requestMirror)
    result.mirror = { name: mirror.requestMirror.backendRef.name, percent: mirrorPercentOf(mirror) };
  return result;
}
