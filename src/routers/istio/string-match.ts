import { compileRe2, type Re2 } from '../../api/re2.js';
import type { StringMatch } from './types.js';

/*
 * Istio's StringMatch: exact, prefix, or an RE2 regex that must match the whole value. A match with none
 * of the three, or the regex "*", only asks that the header or parameter be present.
 */

/** The regex as Envoy runs it (RE2, full match); an Error when RE2 rejects it, as Istio does. */
export function compileIstioRegex(source: string): Re2 | Error {
  return compileRe2(source);
}

export function isPresenceMatch(m: StringMatch): boolean {
  return (m.exact === undefined && m.prefix === undefined && m.regex === undefined) || m.regex === '*';
}

/** Whether `value` (undefined when the header or parameter is absent) satisfies the match. */
export function matchesString(m: StringMatch, value: string | undefined, ignoreCase = false): boolean {
  if (value === undefined) return false;
  if (isPresenceMatch(m)) return true;
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  if (m.exact !== undefined) return fold(value) === fold(m.exact);
  if (m.prefix !== undefined) return fold(value).startsWith(fold(m.prefix));
  const re = compileIstioRegex(m.regex ?? '');
  return !(re instanceof Error) && re.matches(value);
}

export function describeStringMatch(m: StringMatch): string {
  if (isPresenceMatch(m)) return 'present';
  if (m.exact !== undefined) return `exact ${m.exact}`;
  if (m.prefix !== undefined) return `prefix ${m.prefix}`;
  return `regex ${m.regex ?? ''}`;
}
