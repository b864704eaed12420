/**
 * A strict reader of Prometheus' text exposition format (0.0.4), for tests: each family's HELP and
 * TYPE before its samples, its samples together, no series twice, labels and values as Prometheus
 * reads them. Throws on the first line that breaks a rule.
 */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;
const SUFFIXES: Record<string, readonly string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

export function parseExposition(text: string): ParsedSample[] {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const types = new Map<string, string>();
  const finished = new Set<string>();
  const seen = new Set<string>();
  const samples: ParsedSample[] = [];
  let current: string | undefined;
  const enter = (family: string, where: string) => {
    if (family === current) return;
    if (finished.has(family)) throw new Error(`${where}: family ${family} continues after another one`);
    if (current) finished.add(current);
    current = family;
  };
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${i + 1} (${line})`;
    if (line === '') continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) ?(.*)$`).exec(line);
    if (meta) {
      const [, kind, name = '', rest = ''] = meta;
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
          throw new Error(`${where}: unknown type`);
        if (types.has(name)) throw new Error(`${where}: a second TYPE`);
        types.set(name, rest);
      }
      enter(name, where);
      continue;
    }
    if (line.startsWith('#')) continue;
    const head = new RegExp(`^(${NAME})(\\{([^]*)\\})? (\\S+)$`).exec(line);
    if (!head) throw new Error(`${where}: not a sample`);
    const [, name = '', , labelText = '', valueText = ''] = head;
    const family =
      [...types].find(([base, type]) =>
        [base, ...(SUFFIXES[type] ?? [])].some((suffix) => name === (suffix === base ? base : base + suffix)),
      )?.[0] ?? name;
    if (!types.has(family)) throw new Error(`${where}: no TYPE before the sample`);
    enter(family, where);
    const labels: Record<string, string> = {};
    for (let rest = labelText; rest;) {
      const label = LABEL.exec(rest);
      if (!label) throw new Error(`${where}: bad labels at ${rest}`);
      const [whole, key = '', raw = ''] = label;
      if (key in labels) throw new Error(`${where}: label ${key} twice`);
      labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(whole.length);
    }
    // Go's ParseFloat, as Prometheus reads a value: NaN and Inf in any case (prom-client writes Nan)
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(valueText);
    const value = special
      ? special[2]?.toLowerCase() === 'nan'
        ? NaN
        : special[1] === '-'
          ? -Infinity
          : Infinity
      : Number(valueText);
    if (!special && (valueText === '' || Number.isNaN(value))) throw new Error(`${where}: bad value`);
    const id = `${name}{${labelText}}`;
    if (seen.has(id)) throw new Error(`${where}: the series twice`);
    seen.add(id);
    samples.push({ name, labels, value });
  }
  return samples;
}
