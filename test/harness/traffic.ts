/**
 * Synthetic traffic for the e2e suite: reads the routing from the API server as it is right now (the
 * VirtualService and DestinationRule, or the HTTPRoute and the Services it sends to), routes each
 * request with canaria's route evaluators (Istio's first-match rules and weights; Gateway API's most
 * specific match and backendRef weights), and reports what each revision served through the mesh
 * emitter, which Prometheus scrapes. So the weights canaria writes decide who serves, and what is
 * served decides what canaria reads back.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { evaluateHttpRoute } from '../../src/routers/gateway-api/evaluate.js';
import { httpRoute as httpRouteSchema, type HttpRoute } from '../../src/routers/gateway-api/types.js';
import { evaluateRoute, pickDestination, type RouteRequest } from '../../src/routers/istio/evaluate.js';
import {
  destinationRule,
  virtualService,
  type DestinationRule,
  type VirtualService,
} from '../../src/routers/istio/types.js';
import { createRng } from '../../src/sim/rng.js';
import type { MeshEmitter } from './mesh-emitter.js';

export interface Behaviour {
  errorRate: number;
  latencyMs: number;
}

/** A kind of request and its share of the traffic, e.g. the testers with `end-user: testuser`. */
export interface RequestClass {
  share: number;
  request: RouteRequest;
}

export interface TrafficOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  virtualService: string;
  destinationRule: string;
  /**
   * Route through this HTTPRoute instead of the VirtualService: a request goes to the backendRef
   * drawn by weight, to the pods the Service's selector selects, and is reported under that Service.
   */
  httpRoute?: string;
  /** Istio's destination_service_name of the reports (through a VirtualService). */
  service: string;
  mesh: MeshEmitter;
  requestsPerSecond: number;
  /** How each version (the pods' `version` label) behaves; change it to inject a fault. */
  behaviour: Record<string, Behaviour>;
  classes: RequestClass[];
  tickMs?: number;
  seed?: number;
  /**
   * The pods behind the service, when a subset's labels alone do not say the version (managed mode:
   * the stable subset selects canaria's primary label). A request to a subset goes to the first
   * workload whose labels include the subset's; it reports that workload's `version` label and
   * behaves as `behaviour[workload.behaviour]`. Without it the subset's `version` label is both.
   */
  workloads?: () => Promise<{ labels: Record<string, string>; behaviour: string }[]>;
}

export interface Traffic {
  setBehaviour(version: string, behaviour: Behaviour): void;
  /** Requests each version served so far, and how many failed. */
  served(): Record<string, { total: number; errors: number }>;
  /** Ticks that could not read the routing (API server down or objects missing). */
  readonly misses: number;
  stop(): Promise<void>;
}

export function startTraffic(options: TrafficOptions): Traffic {
  const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const rng = createRng(options.seed ?? 1);
  const tickMs = options.tickMs ?? 250;
  const behaviour = { ...options.behaviour };
  const served: Record<string, { total: number; errors: number }> = {};
  let misses = 0;
  let stopped = false;
  let carry = 0;

  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  type Routing =
    | { kind: 'istio'; vs: VirtualService; dr: DestinationRule }
    | { kind: 'gatewayAPI'; route: HttpRoute; selectors: Map<string, Record<string, string>> };
  const read = async (): Promise<Routing | undefined> => {
    if (options.httpRoute !== undefined) {
      try {
        const [route, services] = await Promise.all([
          api.getNamespacedCustomObject({
            group: 'gateway.networking.k8s.io',
            version: 'v1',
            namespace: options.namespace,
            plural: 'httproutes',
            name: options.httpRoute,
          }) as Promise<unknown>,
          core.listNamespacedService({ namespace: options.namespace }),
        ]);
        const selectors = new Map(
          services.items.map((svc) => [svc.metadata?.name ?? '', svc.spec?.selector ?? {}]),
        );
        return { kind: 'gatewayAPI', route: httpRouteSchema.parse(route), selectors };
      } catch {
        return undefined;
      }
    }
    try {
      const common = { group: 'networking.istio.io', version: 'v1', namespace: options.namespace };
      const [vs, dr] = (await Promise.all([
        api.getNamespacedCustomObject({ ...common, plural: 'virtualservices', name: options.virtualService }),
        api.getNamespacedCustomObject({
          ...common,
          plural: 'destinationrules',
          name: options.destinationRule,
        }),
      ])) as unknown[];
      return { kind: 'istio', vs: virtualService.parse(vs), dr: destinationRule.parse(dr) };
    } catch {
      return undefined;
    }
  };

  // a series must exist at zero for a scrape before Prometheus can see it grow
  const declaredAt = new Map<string, number>();
  const ready = (service: string, version: string): boolean => {
    const key = `${service}/${version}`;
    const at = declaredAt.get(key);
    if (at === undefined) {
      options.mesh.declare({ namespace: options.namespace, service, version });
      declaredAt.set(key, Date.now());
      return false;
    }
    return Date.now() - at > 2_500;
  };
  /** Where one request goes: the pods' labels, and the Service it is reported under. */
  const destinationOf = (routing: Routing, request: RouteRequest) => {
    if (routing.kind === 'istio') {
      const result = evaluateRoute(routing.vs, [routing.dr], request);
      if (result.kind !== 'matched') return undefined;
      const labels = pickDestination(result.destinations, rng())?.labels;
      return { service: options.service, labels };
    }
    // the same request, as Gateway API reads it (the Host header is the route's business, not ours)
    const result = evaluateHttpRoute(routing.route, {
      ...(request.uri !== undefined ? { uri: request.uri } : {}),
      ...(request.method !== undefined ? { method: request.method } : {}),
      ...(request.headers ? { headers: request.headers } : {}),
      ...(request.cookies ? { cookies: request.cookies } : {}),
      ...(request.queryParams ? { queryParams: request.queryParams } : {}),
    });
    if (result.kind !== 'matched') return undefined;
    const total = result.backends.reduce((sum, b) => sum + b.weight, 0);
    let threshold = rng() * total;
    const picked = result.backends.find((b) => b.weight > 0 && (threshold -= b.weight) < 0);
    return picked && { service: picked.name, labels: routing.selectors.get(picked.name) };
  };

  const tick = async () => {
    const routing = await read();
    const workloads = options.workloads ? await options.workloads().catch(() => undefined) : [];
    if (!routing || !workloads) {
      misses++;
      return;
    }
    const serve = (
      service: string,
      labels: Record<string, string> | undefined,
    ): { version: string; behaves: string } | undefined => {
      if (!options.workloads) {
        const version = labels?.version;
        // through a VirtualService the series exist from the start; a Service of an HTTPRoute may be new
        if (!version || (options.httpRoute !== undefined && !ready(service, version))) return undefined;
        return { version, behaves: version };
      }
      const workload = workloads.find((w) =>
        Object.entries(labels ?? {}).every(([key, value]) => w.labels[key] === value),
      );
      const version = workload?.labels.version;
      return workload && version && ready(service, version)
        ? { version, behaves: workload.behaviour }
        : undefined;
    };
    carry += (options.requestsPerSecond * tickMs) / 1000;
    const requests = Math.floor(carry);
    carry -= requests;
    const counts = new Map<string, { total: number; errors: number; behaves: string }>();
    for (let i = 0; i < requests; i++) {
      let pick = rng();
      const cls = options.classes.find((c) => (pick -= c.share) < 0) ?? options.classes.at(-1);
      if (!cls) return;
      const destination = destinationOf(routing, cls.request);
      if (!destination) continue;
      const target = serve(destination.service, destination.labels);
      if (!target) continue;
      const key = JSON.stringify([destination.service, target.version]);
      const c = counts.get(key) ?? { total: 0, errors: 0, behaves: target.behaves };
      c.total++;
      if (rng() < (behaviour[target.behaves]?.errorRate ?? 0)) c.errors++;
      counts.set(key, c);
    }
    for (const [key, c] of counts) {
      const [service = '', version = ''] = JSON.parse(key) as string[];
      options.mesh.inject({
        namespace: options.namespace,
        service,
        version,
        requests: c.total,
        errors: c.errors,
        latencyMs: behaviour[c.behaves]?.latencyMs ?? 20,
      });
      const total = (served[version] ??= { total: 0, errors: 0 });
      total.total += c.total;
      total.errors += c.errors;
    }
  };

  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      await tick();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, tickMs - (Date.now() - started))));
    }
  })();

  return {
    setBehaviour(version, b) {
      behaviour[version] = b;
    },
    served: () => structuredClone(served),
    get misses() {
      return misses;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
