import { z } from 'zod';
import { toIssues, type Parsed } from '../../api/validation.js';

/*
 * The parts of gateway.networking.k8s.io/v1 HTTPRoute (and GRPCRoute, which shares parentRefs, rule
 * names, backendRefs and filters) that canaria reads. Every object is loose: fields canaria does not
 * know (timeouts, sessionPersistence, fields of newer Gateway API versions) pass through untouched,
 * because canaria patches the user's resource and must not drop them.
 */

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export const parentRef = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string(),
  sectionName: z.string().optional(),
  port: z.int().optional(),
});
export type ParentRef = z.infer<typeof parentRef>;

export const headerMatch = z.looseObject({
  type: z.enum(['Exact', 'RegularExpression']).optional(),
  name: z.string(),
  value: z.string(),
});
export type HeaderMatch = z.infer<typeof headerMatch>;

export const pathMatch = z.looseObject({
  type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).optional(),
  value: z.string().optional(),
});
export type PathMatch = z.infer<typeof pathMatch>;

export const httpRouteMatch = z.looseObject({
  path: pathMatch.optional(),
  headers: z.array(headerMatch).optional(),
  queryParams: z.array(headerMatch).optional(),
  method: z.string().optional(),
});
export type HttpRouteMatch = z.infer<typeof httpRouteMatch>;

const weight = z
  .int({ error: 'weight must be a whole number' })
  .min(0, { error: 'weight must be >= 0' })
  .max(1_000_000, { error: 'weight must be <= 1000000' });

export const backendObjectRef = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  name: z.string(),
  namespace: z.string().optional(),
  port: z.int().optional(),
});
export type BackendObjectRef = z.infer<typeof backendObjectRef>;

export const requestMirror = z.looseObject({
  backendRef: backendObjectRef,
  percent: z.int().min(0).max(100).optional(),
  fraction: z.looseObject({ numerator: z.int().min(0), denominator: z.int().min(1).optional() }).optional(),
});
export type RequestMirror = z.infer<typeof requestMirror>;

export const routeFilter = z.looseObject({
  type: z.string(),
  requestMirror: requestMirror.optional(),
});
export type RouteFilter = z.infer<typeof routeFilter>;

export const backendRef = backendObjectRef.extend({
  weight: weight.optional(),
  filters: z.array(routeFilter).optional(),
});
export type BackendRef = z.infer<typeof backendRef>;

const ruleBase = {
  name: z.string().optional(),
  filters: z.array(routeFilter).optional(),
  backendRefs: z.array(backendRef).optional(),
};

export const httpRouteRule = z.looseObject({ ...ruleBase, matches: z.array(httpRouteMatch).optional() });
export type HttpRouteRule = z.infer<typeof httpRouteRule>;

const metadata = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  generation: z.number().optional(),
  resourceVersion: z.string().optional(),
});

const routeSpec = {
  parentRefs: z.array(parentRef).optional(),
  hostnames: z.array(z.string()).optional(),
};

export const httpRoute = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.literal('HTTPRoute').optional(),
  metadata,
  spec: z.looseObject({ ...routeSpec, rules: z.array(httpRouteRule).optional() }),
});
export type HttpRoute = z.infer<typeof httpRoute>;

/** A GRPCRoute's matches (service, method, headers) have their own shape; they pass through. */
export const grpcRoute = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.literal('GRPCRoute').optional(),
  metadata,
  spec: z.looseObject({
    ...routeSpec,
    rules: z.array(z.looseObject({ ...ruleBase, matches: z.array(z.looseObject({})).optional() })).optional(),
  }),
});
export type GrpcRoute = z.infer<typeof grpcRoute>;

/** Validates, and returns the input itself: zod's output would add keys that were not there. */
function parseLoose<T>(schema: z.ZodType<T>, input: unknown): Parsed<T> {
  const result = schema.safeParse(input);
  return result.success
    ? { ok: true, value: input as T }
    : { ok: false, issues: toIssues(result.error, schema) };
}

export const parseHttpRoute = (input: unknown): Parsed<HttpRoute> => parseLoose(httpRoute, input);
export const parseGrpcRoute = (input: unknown): Parsed<GrpcRoute> => parseLoose(grpcRoute, input);

/** Gateway API defaults a backendRef to the core group and kind Service. */
export function isServiceRef(ref: { group?: string | undefined; kind?: string | undefined }): boolean {
  return (ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service';
}
