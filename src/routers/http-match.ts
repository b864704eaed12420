/*
 * What every HTTP router builds its A/B matches from: Istio and Gateway API both match a cookie only
 * as a regular expression on the whole Cookie header, and both take a literal as an escaped regex.
 */

/** `text` as a regular expression that matches it literally. */
export const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The Cookie header carries `name` with a value matching `valueRegex`. Cookies are separated by "; ",
 * so the cookie may come first, last or in the middle, with or without the space.
 */
export const cookieHeaderRegex = (name: string, valueRegex: string): string =>
  `^(.*?;\\s*)?(${escapeRegex(name)}=(?:${valueRegex}))(;.*)?$`;

/** A request as a test describes it: a uri with an optional query string, headers, cookies. */
export interface HttpRequestParts {
  uri?: string | undefined;
  headers?: Readonly<Record<string, string>> | undefined;
  cookies?: Readonly<Record<string, string>> | undefined;
  queryParams?: Readonly<Record<string, string>> | undefined;
}

/**
 * The request as a proxy sees it: the path without the query, headers by lower-case name with the
 * cookies joined into one Cookie header (as browsers send them), query parameters (the first of a
 * repeated name, as Envoy takes it; `queryParams` over those of the uri).
 */
export function requestParts(request: HttpRequestParts): {
  path: string;
  headers: Map<string, string>;
  query: Map<string, string>;
} {
  const uri = request.uri ?? '/';
  const queryStart = uri.indexOf('?');
  const query = new Map<string, string>();
  if (queryStart >= 0) {
    for (const [k, v] of new URLSearchParams(uri.slice(queryStart + 1))) if (!query.has(k)) query.set(k, v);
  }
  for (const [k, v] of Object.entries(request.queryParams ?? {})) query.set(k, v);
  const headers = new Map(Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const cookies = Object.entries(request.cookies ?? {}).map(([k, v]) => `${k}=${v}`);
  if (cookies.length) {
    const existing = headers.get('cookie');
    headers.set('cookie', [...(existing ? [existing] : []), ...cookies].join('; '));
  }
  return { path: queryStart >= 0 ? uri.slice(0, queryStart) : uri, headers, query };
}
