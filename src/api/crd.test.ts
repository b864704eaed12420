import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCrds, renderCrd } from './crd.js';

const CHART_CRDS = join(import.meta.dirname, '..', '..', 'charts', 'canaria', 'files', 'crds');

function walk(node: unknown, visit: (n: Record<string, unknown>, path: string) => void, path = ''): void {
  if (!node || typeof node !== 'object') return;
  const n = node as Record<string, unknown>;
  visit(n, path);
  for (const [k, v] of Object.entries(n.properties ?? {})) walk(v, visit, `${path}.${k}`);
  if (n.items) walk(n.items, visit, `${path}[]`);
  if (n.additionalProperties && typeof n.additionalProperties === 'object')
    walk(n.additionalProperties, visit, `${path}{}`);
}

describe('generated CRDs', () => {
  it.each(buildCrds().map((c) => [c.file, c.crd] as const))(
    '%s matches the committed file (run npm run gen:crds)',
    (file, crd) => {
      const committed = readFileSync(join(CHART_CRDS, file), 'utf8');
      expect(committed).toBe(renderCrd(crd));
    },
  );

  it.each(buildCrds().map((c) => [c.file, c.crd] as const))(
    '%s is structural: every node has a type, no unions of types',
    (_file, crd) => {
      const version = (crd.spec as { versions: { schema: { openAPIV3Schema: unknown } }[] }).versions[0];
      walk(version?.schema.openAPIV3Schema, (node, path) => {
        // int-or-string is the one kind of node Kubernetes allows without a type
        if (node['x-kubernetes-int-or-string'] !== true)
          expect(node.type, `no type at ${path || '<root>'}`).toBeDefined();
        expect(node.anyOf, `anyOf at ${path}`).toBeUndefined();
        expect(node.oneOf, `oneOf at ${path}`).toBeUndefined();
        expect(node.additionalProperties === false, `additionalProperties: false at ${path}`).toBe(false);
      });
    },
  );

  it.each(buildCrds().map((c) => [c.file, c.crd] as const))(
    '%s describes every field, so kubectl explain tells what it does',
    (_file, crd) => {
      const version = (crd.spec as { versions: { schema: { openAPIV3Schema: unknown } }[] }).versions[0];
      const undescribed: string[] = [];
      walk(version?.schema.openAPIV3Schema, (node, path) => {
        // list items and map values are explained by the field that holds them; the API server
        // refuses a description of metadata and serves ObjectMeta's
        if (/(\[\]|\{\})$/.test(path) || path === '.metadata') return;
        if (typeof node.description !== 'string' || node.description.trim() === '')
          undescribed.push(path || '<root>');
      });
      expect(undescribed, `${undescribed.length} fields without a description`).toEqual([]);
    },
  );

  it('CanaryRelease has the status subresource, short name, category and printer columns', () => {
    const release = buildCrds().find((c) => c.file === 'canaryreleases.yaml')?.crd as {
      spec: {
        names: { shortNames: string[]; categories: string[] };
        versions: { subresources: unknown; additionalPrinterColumns: { name: string }[] }[];
      };
    };
    expect(release.spec.names.shortNames).toEqual(['crel']);
    expect(release.spec.names.categories).toEqual(['canaria']);
    expect(release.spec.versions[0]?.subresources).toEqual({ status: {} });
    expect(release.spec.versions[0]?.additionalPrinterColumns.map((c) => c.name)).toEqual([
      'Phase',
      'Step',
      'Weight',
      'Actual',
      'Age',
      'Message',
    ]);
  });

  it.each(buildCrds().map((c) => [c.file, c.crd] as const))(
    '%s bounds every string and list of the spec, so the API server refuses oversized input',
    (_file, crd) => {
      const version = (crd.spec as { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] })
        .versions[0];
      const spec = (version?.schema.openAPIV3Schema.properties as Record<string, unknown>).spec;
      const unbounded: string[] = [];
      walk(spec, (node, path) => {
        if (node.type === 'string' && node.enum === undefined && node.maxLength === undefined)
          unbounded.push(path);
        if (node.type === 'array' && node.maxItems === undefined) unbounded.push(`${path}[]`);
      });
      expect(unbounded).toEqual([]);
    },
  );
});

describe('structural schemas', () => {
  it('turn a rule name-or-index into int-or-string', async () => {
    const { openApi } = await import('./crd.js');
    const { gatewayApiRouting } = await import('./gateway-api.js');
    const schema = openApi(gatewayApiRouting) as {
      properties: { httpRoute: { properties: { rule: Record<string, unknown> } } };
    };
    const rule = schema.properties.httpRoute.properties.rule;
    expect(rule['x-kubernetes-int-or-string']).toBe(true);
    expect(rule.anyOf).toBeUndefined();
    expect(typeof rule.description).toBe('string');
  });
});
