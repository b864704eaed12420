import { usageError } from './errors.js';

/** One requirement of a label selector, as kubectl's -l writes it. */
export type Requirement =
  { key: string; op: 'exists' | 'absent' } | { key: string; op: 'in' | 'notin'; values: string[] };

export type Selector = Requirement[];

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Splits on commas outside parentheses: `app=web,tier in (a,b)` is two requirements. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim());
}

function key(text: string, whole: string): string {
  if (!KEY.test(text))
    throw usageError(`-l "${whole}": "${text}" is not a label key, e.g. app or app.kubernetes.io/name`);
  return text;
}

function value(text: string, whole: string): string {
  if (!VALUE.test(text))
    throw usageError(`-l "${whole}": "${text}" is not a label value (letters, digits, - _ . up to 63)`);
  return text;
}

/**
 * Parses kubectl's label selector syntax: `key`, `!key`, `key=value` (or `==`), `key!=value`,
 * `key in (a,b)`, `key notin (a,b)`, joined by commas; a usage error names what is wrong.
 */
export function parseSelector(text: string): Selector {
  const selector: Selector = [];
  for (const part of splitTop(text)) {
    if (part === '')
      throw usageError(`-l "${text}": an empty requirement; write e.g. -l app=web,tier!=cache`);
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    if (set) {
      const values = (set[3] ?? '').split(',').map((v) => value(v.trim(), text));
      selector.push({ key: key(set[1] ?? '', text), op: set[2] as 'in' | 'notin', values });
      continue;
    }
    const pair = /^([^!=\s]+)\s*(==|!=|=)\s*(\S*)$/.exec(part);
    if (pair) {
      const op = pair[2] === '!=' ? 'notin' : 'in';
      selector.push({ key: key(pair[1] ?? '', text), op, values: [value(pair[3] ?? '', text)] });
      continue;
    }
    if (part.startsWith('!')) {
      selector.push({ key: key(part.slice(1).trim(), text), op: 'absent' });
      continue;
    }
    selector.push({ key: key(part, text), op: 'exists' });
  }
  return selector;
}

/** Whether labels satisfy every requirement; `notin` and `!=` also hold when the key is absent, as in Kubernetes. */
export function matchesSelector(selector: Selector, labels: Record<string, string> | undefined): boolean {
  return selector.every((r) => {
    const v = labels?.[r.key];
    switch (r.op) {
      case 'exists':
        return v !== undefined;
      case 'absent':
        return v === undefined;
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
    }
  });
}
