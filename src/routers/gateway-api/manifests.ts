import type { Manifest, ManifestProblem } from '../istio/manifests.js';
import type { Service } from './services.js';
import { parseHttpRoute, type HttpRoute } from './types.js';

/*
 * The Gateway API side of a set of YAML files, for the commands that work offline (lint, route-test,
 * simulate): the HTTPRoutes, and the Services they send to. Other kinds are ignored.
 */

export interface GatewayResources {
  httpRoutes: HttpRoute[];
  services: Service[];
  /** HTTPRoutes that do not have the shape Gateway API requires. */
  problems: ManifestProblem[];
}

const kindOf = (doc: unknown): unknown => (doc as { kind?: unknown } | null)?.kind;

/** A core/v1 Service as written; only its name is required here. */
export function asService(doc: unknown): Service | undefined {
  const d = doc as Partial<Service> | null;
  if (kindOf(d) !== 'Service' || typeof d?.metadata?.name !== 'string') return undefined;
  const apiVersion = d.apiVersion ?? 'v1';
  return apiVersion === 'v1' ? (d as Service) : undefined;
}

export function gatewayResources(manifests: readonly Manifest[]): GatewayResources {
  const out: GatewayResources = { httpRoutes: [], services: [], problems: [] };
  for (const m of manifests) {
    const kind = kindOf(m.doc);
    if (kind === 'HTTPRoute') {
      const parsed = parseHttpRoute(m.doc);
      if (parsed.ok) out.httpRoutes.push(parsed.value);
      else
        out.problems.push({
          file: m.file,
          message: `HTTPRoute: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        });
    } else if (kind === 'Service') {
      const service = asService(m.doc);
      if (service) out.services.push(service);
    }
  }
  return out;
}
