import { z } from 'zod';
import { stringify } from 'yaml';
import { analysisTemplateSpec } from './analysis-template.js';
import { canaryReleaseSpec, canaryReleaseStatus } from './canary-release.js';
import { API_GROUP, API_VERSION_NAME } from './meta.js';

type Schema = Record<string, unknown>;

const SAFE_INT = Number.MAX_SAFE_INTEGER;

/**
 * Turns zod's OpenAPI 3.0 output into a Kubernetes structural schema: unions of literals become one
 * enum, a union of a string and an integer becomes int-or-string, `additionalProperties: false` goes (the API server prunes unknown fields instead), and the
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
  // a name or an index (trafficRouting.gatewayAPI.httpRoute.rule): Kubernetes' own int-or-string; the
  // branches' bounds are zod's to check
  const types = anyOf?.map((b) => b.type).sort();
  if (out.anyOf && types?.length === 2 && types[0] === 'integer' && types[1] === 'string') {
    delete out.anyOf;
    out['x-kubernetes-int-or-string'] = true;
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

/** A zod schema as a Kubernetes structural schema. */
export const openApi = (schema: z.ZodType): Schema =>
  structural(z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any' }));

/** What `kubectl explain` shows for the kind and its top-level fields. */
interface RootDescriptions {
  kind: string;
  spec: string;
  status?: string;
}

// the wording Kubernetes' own types use, so these read as they do on every other kind
const API_VERSION_DESCRIPTION =
  'APIVersion defines the versioned schema of this representation of an object: canaria.dev/v1alpha1.';
const KIND_DESCRIPTION = 'Kind is a string value representing the REST resource this object represents.';

function rootSchema(descriptions: RootDescriptions, spec: Schema, status?: Schema): Schema {
  return {
    type: 'object',
    description: descriptions.kind,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: API_VERSION_DESCRIPTION },
      kind: { type: 'string', description: KIND_DESCRIPTION },
      // the API server refuses anything but name and generateName here, and serves ObjectMeta's own text
      metadata: { type: 'object' },
      spec: { ...spec, description: descriptions.spec },
      ...(status && descriptions.status ? { status: { ...status, description: descriptions.status } } : {}),
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
  const templateSpec = openApi(analysisTemplateSpec);
  const templateSpecDescription = 'The metrics, and the arguments their queries read as {{ args.NAME }}.';
  return [
    {
      file: 'canaryreleases.yaml',
      crd: crd(
        { kind: 'CanaryRelease', plural: 'canaryreleases', shortNames: ['crel'] },
        'Namespaced',
        rootSchema(
          {
            kind: "One service's canary release on Istio: the steps that move traffic to the canary version, and the metrics that decide at each step to advance, hold or roll back.",
            spec: 'Where the two versions run, how traffic is split between them, the steps, and the analysis.',
            status: 'What the controller observed and decided; written by canaria, not by you.',
          },
          openApi(canaryReleaseSpec),
          openApi(canaryReleaseStatus),
        ),
        {
          subresources: { status: {} },
          // the columns of `kubectl canaria get`, in its order; REVISION columns stay in -o wide there
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Phase of the release' },
            {
              name: 'Step',
              type: 'string',
              jsonPath: '.status.currentStep',
              description: 'Current step, counted from 1, over the number of steps',
            },
            {
              name: 'Weight',
              type: 'number',
              jsonPath: '.status.canaryWeight',
              description: 'Desired canary weight, percent',
            },
            {
              name: 'Actual',
              type: 'number',
              jsonPath: '.status.actualCanaryWeight',
              description: 'Canary weight the VirtualService shows, percent',
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            {
              name: 'Message',
              type: 'string',
              jsonPath: '.status.message',
              description: 'What the release is doing or last decided',
            },
          ],
        },
      ),
    },
    {
      file: 'analysistemplates.yaml',
      crd: crd(
        { kind: 'AnalysisTemplate', plural: 'analysistemplates', shortNames: ['crat'] },
        'Namespaced',
        rootSchema(
          {
            kind: 'Named metrics that CanaryReleases in the same namespace use through spec.analysis.templates (kind: AnalysisTemplate).',
            spec: templateSpecDescription,
          },
          templateSpec,
        ),
      ),
    },
    {
      file: 'clusteranalysistemplates.yaml',
      crd: crd(
        { kind: 'ClusterAnalysisTemplate', plural: 'clusteranalysistemplates', shortNames: ['ccrat'] },
        'Cluster',
        rootSchema(
          {
            kind: 'Named metrics that CanaryReleases in every namespace use through spec.analysis.templates (kind: ClusterAnalysisTemplate).',
            spec: templateSpecDescription,
          },
          templateSpec,
        ),
      ),
    },
  ];
}

export const CRD_HEADER = '# Generated from src/api by `npm run gen:crds`. Do not edit.\n';

export function renderCrd(crdObject: Schema): string {
  return CRD_HEADER + stringify(crdObject, { lineWidth: 0 });
}
