import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CHART_DIR, helm } from '../harness/helm.js';

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
}

const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Schema;
const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;

/** Dotted keys of values.yaml, down to the objects the schema leaves open (labels, Kubernetes types). */
function valueKeys(value: unknown, at: Schema | undefined, prefix: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix];
  // an open map (labels, resources): its keys are the user's, not the chart's
  if (at && !at.properties) return [prefix];
  return Object.entries(value).flatMap(([key, inner]) =>
    valueKeys(inner, at?.properties?.[key], prefix ? `${prefix}.${key}` : key),
  );
}

function schemaKeys(at: Schema, prefix: string): string[] {
  if (!at.properties) return [prefix];
  return Object.entries(at.properties).flatMap(([key, inner]) =>
    schemaKeys(inner, prefix ? `${prefix}.${key}` : key),
  );
}

describe('values.schema.json', () => {
  it('has every key of values.yaml and no other: a new value fails here until the schema has it', () => {
    expect(schemaKeys(schema, '').sort()).toEqual(valueKeys(values, schema, '').sort());
  });

  it('closes every object the chart defines, so an unknown key is refused', () => {
    const open: string[] = [];
    const walk = (at: Schema, path: string) => {
      if (at.properties) {
        if (at.additionalProperties !== false) open.push(path || '(root)');
        for (const [key, inner] of Object.entries(at.properties)) walk(inner, path ? `${path}.${key}` : key);
      }
    };
    walk(schema, '');
    expect(open).toEqual([]);
  });

  it('makes the real helm refuse a misspelt or mistyped value at install, naming the field', async () => {
    const typo = await helm([
      'template',
      'canaria',
      CHART_DIR,
      '--set',
      'prometheus.urll=http://prometheus:9090',
    ]);
    expect(typo.ok).toBe(false);
    expect(typo.output).toContain('prometheus: Additional property urll is not allowed');
    const mistyped = await helm(['template', 'canaria', CHART_DIR, '--set', 'replicaCount=two']);
    expect(mistyped.ok).toBe(false);
    expect(mistyped.output).toContain('replicaCount: Invalid type. Expected: integer, given: string');
    const level = await helm(['template', 'canaria', CHART_DIR, '--set', 'logLevel=verbose']);
    expect(level.output).toMatch(/logLevel: logLevel must be one of the following/);
    const defaults = await helm([
      'template',
      'canaria',
      CHART_DIR,
      '--set',
      'prometheus.url=http://prom:9090',
    ]);
    expect(defaults.ok, defaults.output).toBe(true);
  }, 120_000);
});
