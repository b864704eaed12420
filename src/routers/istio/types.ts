import { z } from 'zod';
import { toIssues, type Parsed } from '../../api/validation.js';

/*
 * The parts of networking.istio.io VirtualService and DestinationRule that canaria reads. Every object is
 * loose: fields canaria does not know (retries, timeouts, fault, corsPolicy, fields of newer Istio
 * versions) pass through untouched, because canaria patches the user's resource and must not drop them.
 */

export const stringMatch = z.looseObject({
  exact: z.string().optional(),
  prefix: z.string().optional(),
  regex: z.string().optional(),
});
export type StringMatch = z.infer<typeof stringMatch>;

export const destination = z.looseObject({
  host: z.string({ error: 'host is required, e.g. reviews' }).min(1, { error: 'host must not be empty' }),
  subset: z.string().optional(),
  port: z.looseObject({ number: z.int().optional() }).optional(),
});
export type Destination = z.infer<typeof destination>;

const weight = z.int({ error: 'weight must be a whole number' }).min(0, { error: 'weight must be >= 0' });

export const httpRouteDestination = z.looseObject({
  destination,
  weight: weight.optional(),
});
export type HttpRouteDestination = z.infer<typeof httpRouteDestination>;

export const httpMatchRequest = z.looseObject({
  name: z.string().optional(),
  uri: stringMatch.optional(),
  scheme: stringMatch.optional(),
  method: stringMatch.optional(),
  authority: stringMatch.optional(),
  headers: z.record(z.string(), stringMatch).optional(),
  withoutHeaders: z.record(z.string(), stringMatch).optional(),
  queryParams: z.record(z.string(), stringMatch).optional(),
  ignoreUriCase: z.boolean().optional(),
  port: z.int().optional(),
  gateways: z.array(z.string()).optional(),
  sourceLabels: z.record(z.string(), z.string()).optional(),
  sourceNamespace: z.string().optional(),
});
export type HttpMatchRequest = z.infer<typeof httpMatchRequest>;

export const httpRoute = z.looseObject({
  name: z.string().optional(),
  match: z.array(httpMatchRequest).optional(),
  route: z.array(httpRouteDestination).optional(),
  delegate: z.looseObject({ name: z.string(), namespace: z.string().optional() }).optional(),
  mirror: destination.optional(),
  mirrorPercentage: z.looseObject({ value: z.number() }).optional(),
  /** Deprecated by Istio in favour of mirrorPercentage; still read. */
  mirrorPercent: z.int().optional(),
});
export type HttpRoute = z.infer<typeof httpRoute>;

const metadata = z.looseObject({
  name: z.string({ error: 'metadata.name is required' }),
  namespace: z.string().optional(),
});

export const virtualService = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.literal('VirtualService').optional(),
  metadata,
  spec: z.looseObject({
    /** Empty for a delegate VirtualService. */
    hosts: z.array(z.string()).optional(),
    /** Omitted means the mesh (every sidecar). */
    gateways: z.array(z.string()).optional(),
    http: z.array(httpRoute).optional(),
  }),
});
export type VirtualService = z.infer<typeof virtualService>;

export const subset = z.looseObject({
  name: z.string({ error: 'subset name is required, e.g. v1' }),
  labels: z.record(z.string(), z.string()).optional(),
});
export type Subset = z.infer<typeof subset>;

export const destinationRule = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.literal('DestinationRule').optional(),
  metadata,
  spec: z.looseObject({
    host: z.string({ error: 'host is required, e.g. reviews' }),
    subsets: z.array(subset).optional(),
  }),
});
export type DestinationRule = z.infer<typeof destinationRule>;

/**
 * Checks the shape and returns the input object itself (not zod's copy), so that JSON pointers and
 * `test` values computed from it describe the stored resource exactly.
 */
function parseLoose<T>(schema: z.ZodType<T>, input: unknown): Parsed<T> {
  const result = schema.safeParse(input);
  return result.success
    ? { ok: true, value: input as T }
    : { ok: false, issues: toIssues(result.error, schema) };
}

export const parseVirtualService = (input: unknown): Parsed<VirtualService> =>
  parseLoose(virtualService, input);
export const parseDestinationRule = (input: unknown): Parsed<DestinationRule> =>
  parseLoose(destinationRule, input);

/** Istio's default namespace for a resource that names none. */
export const namespaceOf = (resource: { metadata: { namespace?: string | undefined } }): string =>
  resource.metadata.namespace ?? 'default';
