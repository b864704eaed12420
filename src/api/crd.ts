import { z } from 'zod';
import { stringify } from 'yaml';
import { analysisTemplateSpec } from './analysis-template.js';
import { canaryReleaseSpec, canaryReleaseStatus } from './canary-release.js';
import { API_GROUP, API_VERSION_NAME } from './meta.js';

type Schema = Record<string, unknown>;

const SAFE_INT = Number.MAX_SAFE_INTEGER;

/**
 * Turns zod's OpenAPI 3.0 output into a Kubernetes structural schema: unions of literals become one
 * enum, `additionalProperties: false` goes (the API server prunes unknown fields instead), and the
 * safe-integer bounds zod adds to every int are dropped.
 */
function structural(node: Schema): Schema {
  const out: Schema = { ...node };
  const anyOf = out.anyOf as Schema[] | undefined;
  if (anyOf?.every((b) => Array.isArray(b.enum) && b.type === anyOf[0]?.type)) {
    delete out.anyOf;
    const values = anyOf.flatMap((b) => b.enum as unknown[]);
    out.type = values.every((v) => Number.isInteger(v)) ? 'integer' : anyOf[0]?.type;
    out.enum = values;
  }
  if (out.additionalProperties === false) delete out.additionalProperties;
  if (out.maximum === SAFE_INT) delete out.maximum;
  if (out.minimum === -SAFE_INT) delete out.minimum;
  if (out.properties) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, Schema>).map(([k, v]) => [k, structural(v)]),
    );
  }
  if (out.items) out.items = structural(out.items as Schema);
  if (out.additionalProperties && typeof out.additionalProperties === 'object') {
    out.additionalProperties = structural(out.additionalProperties as Schema);
  }
  return out;
}

const openApi = (schema: z.ZodType): Schema =>
  structural(z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any' }));

function rootSchema(spec: Schema, status?: Schema): Schema {
  return {
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec,
      ...(status ? { status } : {}),
    },
  };
}

interface CrdNames {
  kind: string;
  plural: string;
  shortNames: string[];
}

function crd(
  names: CrdNames,
  scope: 'Namespaced' | 'Cluster',
  schema: Schema,
  extra: { subresources?: Schema; additionalPrinterColumns?: Schema[] } = {},
): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${names.plural}.${API_GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'canaria' },
    },
    spec: {
      group: API_GROUP,
      scope,
      names: {
        kind: names.kind,
        listKind: `${names.kind}List`,
        plural: names.plural,
        singular: names.kind.toLowerCase(),
        shortNames: names.shortNames,
        categories: ['canaria'],
      },
      versions: [
        {
          name: API_VERSION_NAME,
          served: true,
          storage: true,
          ...extra,
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

/** The CustomResourceDefinitions, generated from the zod schemas so the two cannot disagree. */
export function buildCrds(): { file: string; crd: Schema }[] {
  const templateSchema = rootSchema(openApi(analysisTemplateSpec));
  return [
    {
      file: 'canaryreleases.yaml',
      crd: crd(
        { kind: 'CanaryRelease', plural: 'canaryreleases', shortNames: ['crel'] },
        'Namespaced',
        rootSchema(openApi(canaryReleaseSpec), openApi(canaryReleaseStatus)),
        {
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            {
              name: 'Weight',
              type: 'number',
              jsonPath: '.status.canaryWeight',
              description: 'Desired canary weight, percent',
            },
            {
              name: 'Step',
              type: 'integer',
              jsonPath: '.status.currentStepIndex',
              description: 'Index of the current step',
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ),
    },
    {
      file: 'analysistemplates.yaml',
      crd: crd(
        { kind: 'AnalysisTemplate', plural: 'analysistemplates', shortNames: ['crat'] },
        'Namespaced',
        templateSchema,
      ),
    },
    {
      file: 'clusteranalysistemplates.yaml',
      crd: crd(
        { kind: 'ClusterAnalysisTemplate', plural: 'clusteranalysistemplates', shortNames: ['ccrat'] },
        'Cluster',
        templateSchema,
      ),
    },
  ];
}

export const CRD_HEADER = '# Generated from src/api by `npm run gen:crds`. Do not edit.\n';

export function renderCrd(crdObject: Schema): string {
  return CRD_HEADER + stringify(crdObject, { lineWidth: 0 });
}
