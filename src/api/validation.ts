import type { z } from 'zod';
import {
  canaryRelease,
  canaryReleaseSpec,
  type CanaryRelease,
  type CanaryReleaseSpec,
} from './canary-release.js';
import {
  analysisTemplate,
  clusterAnalysisTemplate,
  type AnalysisTemplate,
  type ClusterAnalysisTemplate,
} from './analysis-template.js';
import { memoizeFrozen } from '../lib/frozen.js';
import { LIMITS, truncate } from './limits.js';

/** One problem with a resource: where it is (`spec.strategy.steps[2].setWeight`) and how to fix it. */
export interface ValidationIssue {
  path: string;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: ValidationIssue[] };

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    // a field name is user input too (an unknown key can be as long as the request)
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${truncate(String(part), LIMITS.quoted)}` : truncate(String(part), LIMITS.quoted);
  }
  return out;
}

/** Edit distance, for "did you mean" on misspelt field names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Known keys of the object schema at `path`, found by walking the schema alongside the input. */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: unknown = schema;
  const unwrap = (s: unknown): unknown => {
    let node = s as { _zod?: { def?: Record<string, unknown> } };
    for (;;) {
      const def = node._zod?.def;
      if (!def) return node;
      if (def.innerType) node = def.innerType;
      else if (def.type === 'pipe' && def.in) node = def.in;
      else return node;
    }
  };
  for (const part of path) {
    const node = unwrap(current) as { _zod?: { def?: Record<string, unknown> } };
    const def = node._zod?.def;
    if (!def) return [];
    if (def.type === 'object' && typeof part === 'string') {
      current = (def.shape as Record<string, unknown>)[part];
    } else if (def.type === 'array') {
      current = def.element;
    } else if (def.type === 'record') {
      // a map by name (a scenario's hooks, revisions): every key has the value schema
      current = def.valueType;
    } else {
      return [];
    }
  }
  const def = (unwrap(current) as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape as object) : [];
}

export function toIssues(
  error: z.ZodError,
  schema: z.ZodType,
  prefix: PropertyKey[] = [],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        const hint = key.length <= LIMITS.quoted ? suggest(key, known) : undefined;
        issues.push({
          path: formatPath([...path, key]),
          message: `unknown field ${JSON.stringify(truncate(key, LIMITS.quoted))}${hint ? `; did you mean "${hint}"?` : known.length ? `; known fields here: ${known.join(', ')}` : ''}`,
        });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && issue.input === undefined) {
      message = `is required (${issue.message.replace(/^Invalid input: /, '')})`;
    }
    issues.push({ path: formatPath(path), message: truncate(message, LIMITS.issue) });
  }
  return issues;
}

function parseWith<T>(schema: z.ZodType<T>, input: unknown, prefix: PropertyKey[] = []): Parsed<T> {
  // reportInput: tells a missing field (input undefined) from one of the wrong type
  const result = schema.safeParse(input, { reportInput: true });
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, issues: toIssues(result.error, schema, prefix) };
}

// Each parses a frozen object (what the controller's caches hold) once: a reconcile re-parses only
// what changed, where it parsed its spec, every other release's spec and every template each time.
export const parseCanaryRelease = memoizeFrozen((input: unknown): Parsed<CanaryRelease> =>
  parseWith(canaryRelease, input),
);
export const parseCanaryReleaseSpec = memoizeFrozen((input: unknown): Parsed<CanaryReleaseSpec> =>
  parseWith(canaryReleaseSpec, input, ['spec']),
);
export const parseAnalysisTemplate = memoizeFrozen((input: unknown): Parsed<AnalysisTemplate> =>
  parseWith(analysisTemplate, input),
);
export const parseClusterAnalysisTemplate = memoizeFrozen((input: unknown): Parsed<ClusterAnalysisTemplate> =>
  parseWith(clusterAnalysisTemplate, input),
);

/**
 * The issues in one line for a condition, an Event and the CLI: the first LIMITS.issues of them, each
 * cut to LIMITS.issue, and a count of the rest, so that what a bad input makes canaria write always
 * fits into a status.
 */
export function describeIssues(issues: readonly ValidationIssue[]): string {
  const shown = issues
    .slice(0, LIMITS.issues)
    .map((i) => truncate(i.path ? `${i.path}: ${i.message}` : i.message, LIMITS.issue));
  const more = issues.length - shown.length;
  return truncate(
    `${shown.join('; ')}${more > 0 ? `; and ${more} more issue${more === 1 ? '' : 's'}` : ''}`,
    LIMITS.message - 256, // room for the sentence around it
  );
}
