/**
 * Safe PromQL text building. Every value that comes from a resource (a release's name, a service, a
 * revision, a template argument) enters a query only as the content of a string literal, escaped, so
 * it can never end the literal and add PromQL of its own.
 */

/** A double-quoted PromQL string literal whose value is exactly `value`. */
export function quote(value: string): string {
  return `"${escapeFor('"', value)}"`;
}

/** An RE2 pattern that matches exactly `value` (Go's regexp.QuoteMeta). */
export function escapeRegex(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label names cannot be quoted in Prometheus 2, so they must already be safe identifiers. */
export function labelName(name: string): string {
  if (!LABEL_NAME.test(name)) throw new Error(`"${name}" is not a Prometheus label name`);
  return name;
}

export function selector(metric: string, matchers: readonly LabelMatcher[]): string {
  const inside = matchers.map((m) => `${labelName(m.label)}${m.op}${quote(m.value)}`).join(',');
  return `${labelName(metric)}{${inside}}`;
}

/** Matches any of `values` exactly: `=` for one, an anchored alternation for several. */
export function oneOf(label: string, values: readonly string[]): LabelMatcher {
  const [only] = values;
  if (values.length === 1 && only !== undefined) return { label, op: '=', value: only };
  return { label, op: '=~', value: values.map(escapeRegex).join('|') };
}

export type RenderResult = { ok: true; query: string } | { ok: false; message: string };

/** A placeholder's value, and whether it is a label name (allowed bare, never inside a string). */
export interface PlaceholderValue {
  value: string;
  labelName?: boolean;
}

const PLACEHOLDER = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?)\s*\}\}/;
const BARE_NUMBER_OR_DURATION = /^(?:\d+(?:\.\d+)?|(?:\d+(?:ms|[smhdwy]))+)$/;

type Context = 'code' | '"' | "'" | '`' | 'comment';

/**
 * Substitutes `{{ name }}` placeholders in a PromQL template. Inside a quoted string the value is
 * escaped for that kind of quote; outside one (code) only numbers, durations and label names are
 * accepted, because anything else would be spliced in as PromQL. Comments are left alone.
 */
export function renderTemplate(
  template: string,
  values: ReadonlyMap<string, PlaceholderValue>,
): RenderResult {
  let out = '';
  let context: Context = 'code';
  let i = 0;
  while (i < template.length) {
    const ch = template.charAt(i);
    if (context !== 'comment' && ch === '{' && template.startsWith('{{', i)) {
      const match = PLACEHOLDER.exec(template.slice(i));
      if (!match?.[1]) {
        return { ok: false, message: `malformed placeholder at offset ${i}; write it as {{ name }}` };
      }
      const name = match[1];
      const entry = values.get(name);
      if (entry === undefined) {
        const known = [...values.keys()].join(', ');
        return {
          ok: false,
          message: name.startsWith('args.')
            ? `template argument "${name.slice(5)}" has no value; give it a default in the template's args or pass it in the release's templates[].args`
            : `unknown placeholder {{ ${name} }}; known: ${known}`,
        };
      }
      const rendered = renderValue(name, entry, context);
      if (!rendered.ok) return rendered;
      out += rendered.query;
      i += match[0].length;
      continue;
    }
    out += ch;
    i++;
    if (context === 'code') {
      if (ch === '"' || ch === "'" || ch === '`') context = ch;
      else if (ch === '#') context = 'comment';
    } else if (context === 'comment') {
      if (ch === '\n') context = 'code';
    } else if (ch === '\\' && context !== '`') {
      // An escaped character never ends the string.
      out += template.charAt(i);
      i++;
    } else if (ch === context) {
      context = 'code';
    }
  }
  return { ok: true, query: out };
}

function renderValue(
  name: string,
  entry: PlaceholderValue,
  context: Exclude<Context, 'comment'>,
): RenderResult {
  const { value } = entry;
  switch (context) {
    case 'code':
      if (entry.labelName ? LABEL_NAME.test(value) : BARE_NUMBER_OR_DURATION.test(value)) {
        return { ok: true, query: value };
      }
      return {
        ok: false,
        message: `{{ ${name} }} stands outside quotes, where its value ${JSON.stringify(value.length > 128 ? `${value.slice(0, 128)}…` : value)} would become PromQL code; put it inside a quoted string ("{{ ${name} }}"), or pass a number or a duration`,
      };
    case '"':
    case "'":
      return { ok: true, query: escapeFor(context, value) };
    case '`':
      if (value.includes('`')) {
        return {
          ok: false,
          message: `{{ ${name} }} is inside a \`raw\` string, which cannot hold its value's backtick; use a "double-quoted" string`,
        };
      }
      return { ok: true, query: value };
  }
}

function escapeFor(quoteChar: '"' | "'", value: string): string {
  let out = '';
  for (const ch of value) {
    if (ch === '\\' || ch === quoteChar) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else out += ch;
  }
  return out;
}
