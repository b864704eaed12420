import { RE2JS } from 're2js';

/*
 * Istio hands every regex of a VirtualService to Envoy, which runs it with Google's RE2: no
 * lookaround, no backreferences, but POSIX classes ([[:alpha:]]), inline flags ((?i)) and \pN
 * that JavaScript's RegExp reads differently or not at all. re2js is a port of RE2 (through
 * RE2/J) to JavaScript: the same syntax, the same full-match semantics, no native code.
 */

/** A regex as Envoy runs it: `matches` is a full match of the whole value. */
export interface Re2 {
  matches(input: string): boolean;
}

const compiled = new Map<string, Re2 | Error>();

/** What RE2 says, with the usual reason named for the JavaScript habits it rejects. */
function explain(source: string, said: string): string {
  if (/\(\?<?[=!]/.test(source) && /Perl syntax/.test(said)) {
    return `lookaround such as (?=...) or (?!...) is not supported by RE2 (${said})`;
  }
  if (/\\[1-9]/.test(source) && /escape/.test(said)) {
    return `backreferences such as \\1 are not supported by RE2 (${said})`;
  }
  return said;
}

/** Compiles an RE2 regex, once per source; an Error saying why when RE2 rejects it. */
export function compileRe2(source: string): Re2 | Error {
  let re = compiled.get(source);
  if (!re) {
    try {
      const pattern = RE2JS.compile(source);
      re = { matches: (input) => pattern.matches(input) };
    } catch (err) {
      re = new Error(explain(source, err instanceof Error ? err.message : String(err)));
    }
    compiled.set(source, re);
  }
  return re;
}
