import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodesNamed, parsePromql } from '../../test/harness/promql-grammar.js';
import { escapeRegex, oneOf, quote, renderTemplate, selector, type PlaceholderValue } from './promql.js';

const HOSTILE = 'a"} or vector(1) #';

/** Reads a double-quoted PromQL literal back the way Prometheus does for the escapes quote() writes. */
function unquote(literal: string): string {
  const escapes: Record<string, string> = { n: '\n', r: '\r' };
  return literal.slice(1, -1).replace(/\\(.)/gs, (_, ch: string) => escapes[ch] ?? ch);
}

const values = (entries: Record<string, string | PlaceholderValue>) =>
  new Map(Object.entries(entries).map(([k, v]) => [k, typeof v === 'string' ? { value: v } : v]));

describe('quote', () => {
  it('keeps a hostile release name inside one string literal of one selector', () => {
    const query = selector('istio_requests_total', [
      { label: 'destination_service_name', op: '=', value: HOSTILE },
    ]);
    const parsed = parsePromql(query);
    expect(parsed.errors).toEqual([]);
    expect(nodesNamed(parsed, 'VectorSelector')).toEqual([query]);
    expect(nodesNamed(parsed, 'BinaryExpr')).toEqual([]);
    expect(nodesNamed(parsed, 'LineComment')).toEqual([]);
    const literals = nodesNamed(parsed, 'StringLiteral');
    expect(literals.map(unquote)).toEqual([HOSTILE]);
  });

  it('round-trips any string through one literal (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const parsed = parsePromql(`x{l=${quote(value)}}`);
        expect(parsed.errors).toEqual([]);
        expect(nodesNamed(parsed, 'VectorSelector')).toHaveLength(1);
        expect(nodesNamed(parsed, 'StringLiteral').map(unquote)).toEqual([value]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('escapeRegex and oneOf', () => {
  it('matches exactly the literal value (property)', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const re = new RegExp(`^(?:${escapeRegex(value)})$`);
        expect(re.test(value)).toBe(true);
        expect(re.test(`${value}x`)).toBe(false);
      }),
    );
  });

  it('uses = for one value and an escaped alternation for several', () => {
    expect(oneOf('svc', ['a.b'])).toEqual({ label: 'svc', op: '=', value: 'a.b' });
    expect(oneOf('svc', ['a.b', 'c|d'])).toEqual({ label: 'svc', op: '=~', value: 'a\\.b|c\\|d' });
  });

  it('refuses a label name that is not an identifier', () => {
    expect(() => selector('x', [{ label: 'a"b', op: '=', value: 'v' }])).toThrow(
      /not a Prometheus label name/,
    );
  });
});

describe('renderTemplate', () => {
  it('escapes values per quote kind', () => {
    const result = renderTemplate(
      `x{a="{{ args.v }}", b='{{ args.v }}', c=\`{{ name }}\`}`,
      values({ 'args.v': `"'\\`, name: 'n' }),
    );
    expect(result).toEqual({ ok: true, query: `x{a="\\"'\\\\", b='"\\'\\\\', c=\`n\`}` });
    if (result.ok) expect(parsePromql(result.query).errors).toEqual([]);
  });

  it('cannot be broken out of by a hostile argument (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const result = renderTemplate('sum(x{a="{{ args.v }}"})', values({ 'args.v': value }));
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        const parsed = parsePromql(result.query);
        expect(parsed.errors).toEqual([]);
        expect(nodesNamed(parsed, 'VectorSelector')).toHaveLength(1);
        expect(nodesNamed(parsed, 'StringLiteral').map(unquote)).toEqual([value]);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts numbers and durations outside quotes, and nothing else', () => {
    const template = 'rate(x[{{ window }}]) > {{ args.limit }}';
    expect(renderTemplate(template, values({ window: '300s', 'args.limit': '0.5' }))).toEqual({
      ok: true,
      query: 'rate(x[300s]) > 0.5',
    });
    const hostile = renderTemplate(template, values({ window: '300s', 'args.limit': '1 or vector(1)' }));
    expect(hostile.ok).toBe(false);
    if (!hostile.ok) expect(hostile.message).toMatch(/outside quotes.*put it inside a quoted string/);
  });

  it('accepts a label name outside quotes only where the value is declared a label name', () => {
    const template = 'x{ {{ revisionLabel }}="v1" }';
    expect(
      renderTemplate(template, values({ revisionLabel: { value: 'destination_version', labelName: true } })),
    ).toEqual({ ok: true, query: 'x{ destination_version="v1" }' });
    expect(
      renderTemplate(template, values({ revisionLabel: { value: 'a="b"} or y{c', labelName: true } })).ok,
    ).toBe(false);
  });

  it('refuses a backtick inside a raw string, where it cannot be escaped', () => {
    const result = renderTemplate('x{a=`{{ args.v }}`}', values({ 'args.v': 'a`} or vector(1) #' }));
    expect(result.ok).toBe(false);
  });

  it('leaves comments alone and sees through escaped quotes', () => {
    expect(renderTemplate('x{a="\\"{{ name }}"} # {{ whatever }}', values({ name: 'n"' }))).toEqual({
      ok: true,
      query: 'x{a="\\"n\\""} # {{ whatever }}',
    });
  });

  it('names an unknown placeholder and a missing argument', () => {
    const unknown = renderTemplate('x{a="{{ nmae }}"}', values({ name: 'n' }));
    expect(unknown).toEqual({ ok: false, message: 'unknown placeholder {{ nmae }}; known: name' });
    const missing = renderTemplate('x{a="{{ args.team }}"}', values({}));
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.message).toMatch(/argument "team" has no value/);
    expect(renderTemplate('x{a="{{ }}"}', values({})).ok).toBe(false);
  });
});
