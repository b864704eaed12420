import type { ResolvedGatewayApiRouting } from '../../api/gateway-api.js';
import { jsonEqual, type JsonPatchOperation } from '../../kube/json-patch.js';
import type { KubeObject } from '../../kube/resources.js';
import { MANAGED_BY, ownedBy, PRIMARY_LABEL, RELEASE_LABEL } from '../../managed/labels.js';

/*
 * Managed mode with Gateway API: a route weighs Services, not subsets, so canaria creates and owns two
 * Services beside the user's: `<service>-primary` selecting the primary's pods (by the primary label,
 * as the Istio router's stable subset does) and `<service>-canary` selecting the user's Deployment's
 * pods (by the revision label's canary value, which the primary's pods carry with another value). Both
 * copy the user's Service's ports, so a backendRef's port means the same on all three.
 */

/** The parts of a core/v1 Service canaria reads and writes. */
export interface Service extends KubeObject {
  spec?: {
    type?: string;
    selector?: Record<string, string>;
    ports?: ServicePort[];
    [key: string]: unknown;
  };
}

export interface ServicePort {
  name?: string;
  protocol?: string;
  appProtocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  [key: string]: unknown;
}

export interface DesiredServices {
  stable: Service;
  canary: Service;
}

/** The user's ports as a ClusterIP Service carries them (a node port belongs to the user's Service). */
function copyPorts(ports: readonly ServicePort[]): ServicePort[] {
  return ports.map((p) => {
    const out: ServicePort = { port: p.port };
    for (const key of ['name', 'protocol', 'appProtocol', 'targetPort'] as const) {
      if (p[key] !== undefined) (out as Record<string, unknown>)[key] = p[key];
    }
    return out;
  });
}

/**
 * The two Services for `release`, from the user's Service `userService`. `revisionKey` is the pod label
 * that tells revisions apart and `canaryValue` its value on the canary's pods.
 */
export function desiredServices(
  release: KubeObject,
  userService: Service,
  routing: ResolvedGatewayApiRouting,
  revisionKey: string,
  canaryValue: string,
): DesiredServices {
  const selector = userService.spec?.selector ?? {};
  const make = (name: string, extra: Record<string, string>): Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: userService.metadata.namespace,
      labels: { ...MANAGED_BY, [RELEASE_LABEL]: release.metadata.name },
    },
    spec: {
      type: 'ClusterIP',
      selector: { ...selector, ...extra },
      ports: copyPorts(userService.spec?.ports ?? []),
    },
  });
  return {
    stable: make(routing.stableService, { [PRIMARY_LABEL]: 'true' }),
    canary: make(routing.canaryService, { [revisionKey]: canaryValue }),
  };
}

const pointed = (existing: Service | undefined, desired: Service): boolean =>
  existing !== undefined &&
  jsonEqual(existing.spec?.selector ?? {}, desired.spec?.selector ?? {}) &&
  jsonEqual(copyPorts(existing.spec?.ports ?? []), desired.spec?.ports ?? []);

/** Whether both Services exist and select the pods (and carry the ports) they should. */
export function servicesPointed(
  existing: { stable?: Service | undefined; canary?: Service | undefined },
  desired: DesiredServices,
): boolean {
  return pointed(existing.stable, desired.stable) && pointed(existing.canary, desired.canary);
}

export type ServicePlan =
  | { kind: 'none' }
  | { kind: 'create'; service: Service }
  | { kind: 'patch'; name: string; ops: JsonPatchOperation[] }
  /** A Service of that name exists and is not this release's: canaria leaves it alone and says so. */
  | { kind: 'conflict'; name: string; message: string; fix: string };

/**
 * What brings one Service to `desired`: create it, or patch its selector and ports, guarded by a test
 * that it is still this release's (its labels) and of the values replaced. A Service canaria did not
 * create is never touched.
 */
export function planService(existing: Service | undefined, desired: Service, release: string): ServicePlan {
  if (!existing) return { kind: 'create', service: desired };
  const name = desired.metadata.name;
  if (!ownedBy(existing.metadata.labels, release)) {
    return {
      kind: 'conflict',
      name,
      message: `Service ${name} exists and was not created by canaria for release ${release}`,
      fix: `delete or rename that Service, or set trafficRouting.gatewayAPI.stableService/canaryService to other names`,
    };
  }
  if (pointed(existing, desired)) return { kind: 'none' };
  const ops: JsonPatchOperation[] = [
    { op: 'test', path: '/metadata/labels', value: existing.metadata.labels },
  ];
  for (const field of ['selector', 'ports'] as const) {
    const want = desired.spec?.[field];
    const have = existing.spec?.[field];
    if (
      field === 'ports' ? jsonEqual(copyPorts(existing.spec?.ports ?? []), want) : jsonEqual(have ?? {}, want)
    )
      continue;
    if (have === undefined) ops.push({ op: 'add', path: `/spec/${field}`, value: want });
    else
      ops.push(
        { op: 'test', path: `/spec/${field}`, value: have },
        { op: 'replace', path: `/spec/${field}`, value: want },
      );
  }
  return { kind: 'patch', name, ops };
}

/** The plans for both Services, stable first. */
export function planServices(
  existing: { stable?: Service | undefined; canary?: Service | undefined },
  desired: DesiredServices,
  release: string,
): ServicePlan[] {
  return [
    planService(existing.stable, desired.stable, release),
    planService(existing.canary, desired.canary, release),
  ];
}
