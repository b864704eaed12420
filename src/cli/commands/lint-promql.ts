import type { CustomQuery, LintFinding } from '../../routers/istio/lint.js';
import { renderTemplate, type PlaceholderValue } from '../../metrics/promql.js';
import { formatPath } from '../../api/validation.js';

/*
 * Custom queries are parsed with Prometheus' own grammar (@prometheus-io/lezer-promql, the parser of
 * Prometheus' web UI). It costs about 1 MB on disk and is loaded only when the files hold a
 * `type: promql` metric, so lint of plain Istio manifests starts as fast as before.
 */

/** Values a query is rendered with before it is parsed: realistic shapes, not real data. */
const SAMPLE: [string, PlaceholderValue][] = [
  ['revision', { value: 'v2' }],
  ['namespace', { value: 'default' }],
  ['service', { value: 'reviews' }],
  ['name', { value: 'reviews' }],
  ['reporter', { value: 'destination' }],
  ['window', { value: '300s' }],
  ['revisionLabel', { value: 'destination_canonical_revision', labelName: true }],
];

const ARG = /\{\{\s*args\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Findings for the custom queries that do not render or do not parse as PromQL. */
export async function checkCustomQueries(queries: readonly CustomQuery[]): Promise<LintFinding[]> {
  if (!queries.length) return [];
  const { parser } = await import('@prometheus-io/lezer-promql');
  const findings: LintFinding[] = [];
  for (const q of queries) {
    const values = new Map<string, PlaceholderValue>(SAMPLE);
    // an argument without a default is the release's to pass: any value shows the shape
    for (const [, name] of q.query.matchAll(ARG)) {
      if (name !== undefined) values.set(`args.${name}`, { value: q.args[name] ?? 'x' });
    }
    const finding = (message: string, fix?: string): LintFinding => {
      const f: LintFinding = {
        severity: 'error',
        file: q.input.file,
        resource: q.label,
        path: formatPath(q.path),
        message,
      };
      if (fix !== undefined) f.fix = fix;
      const line = q.input.line?.(q.path);
      if (line !== undefined) f.line = line;
      return f;
    };
    const rendered = renderTemplate(q.query, values);
    if (!rendered.ok) {
      findings.push(finding(`the query does not render: ${rendered.message}`));
      continue;
    }
    const errors: string[] = [];
    parser.parse(rendered.query).iterate({
      enter(node) {
        if (node.type.isError) {
          const near = rendered.query.slice(Math.max(0, node.from - 10), node.to + 10);
          errors.push(`at offset ${node.from}${near ? ` near ${JSON.stringify(near)}` : ' (the end)'}`);
        }
      },
    });
    if (errors.length) {
      findings.push(
        finding(
          `the query is not valid PromQL (Prometheus' grammar stops ${errors.slice(0, 2).join(', ')}); rendered with sample values it reads: ${rendered.query}`,
          'correct the query; try it in the Prometheus UI with the placeholders filled in',
        ),
      );
    }
  }
  return findings;
}
