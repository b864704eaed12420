import type { StringMatch } from './types.js';

/*
 * Istio's StringMatch: exact, prefix, or an RE2 regex that must match the whole value. A match with none
 * of the three, or the regex "*", only asks that the header or parameter be present.
 */

const compiled = new Map<string, RegExp | Error>();

/** RE2 has no lookaround and no backreferences; Istio rejects such a regex, so canaria does too. */
export function re2Incompatibility(source: string): string | undefined {
  if (/\(\?<?[=!]/.test(source)) return 'lookaround such as (?=...) or (?!...) is not supported by RE2';
  if (/\\[1-9]/.test(source)) return 'backreferences such as \\1 are not supported by RE2';
  return undefined;
}

/** The regex anchored at both ends, as Envoy's full match; an Error when it does not compile. */
export function compileIstioRegex(source: string): RegExp | Error {
  let re = compiled.get(source);
  if (!re) {
    const unsupported = re2Incompatibility(source);
    try {
      re = unsupported ? new Error(unsupported) : new RegExp(`^(?:${source})$`);
    } catch (err) {
      re = err instanceof Error ? err : new Error(String(err));
    }
    compiled.set(source, re);
  }
  return re;
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
  return re instanceof RegExp && re.test(value);
}

export function describeStringMatch(m: StringMatch): string {
  if (isPresenceMatch(m)) return 'present';
  if (m.exact !== undefined) return `exact ${m.exact}`;
  if (m.prefix !== undefined) return `prefix ${m.prefix}`;
  return `regex ${m.regex ?? ''}`;
}
