/**
 * Synthetic traffic for the e2e suite: reads the VirtualService and DestinationRule from the API
 * server as they are right now, routes each request with canaria's route evaluator (Istio's
 * first-match rules and weights), and reports what each revision served through the mesh emitter,
 * which Prometheus scrapes. So the weights canaria writes decide who serves, and what is served
 * decides what canaria reads back.
 */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { evaluateRoute, pickDestination, type RouteRequest } from '../../src/istio/evaluate.js';
import {
  destinationRule,
  virtualService,
  type DestinationRule,
  type VirtualService,
} from '../../src/istio/types.js';
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
  /** Istio's destination_service_name of the reports. */
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

  const read = async (): Promise<{ vs: VirtualService; dr: DestinationRule } | undefined> => {
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
      return { vs: virtualService.parse(vs), dr: destinationRule.parse(dr) };
    } catch {
      return undefined;
    }
  };

  // a series must exist at zero for a scrape before Prometheus can see it grow
  const declaredAt = new Map<string, number>();
  const ready = (version: string): boolean => {
    const at = declaredAt.get(version);
    if (at === undefined) {
      options.mesh.declare({ namespace: options.namespace, service: options.service, version });
      declaredAt.set(version, Date.now());
      return false;
    }
    return Date.now() - at > 2_500;
  };

  const tick = async () => {
    const routing = await read();
    const workloads = options.workloads ? await options.workloads().catch(() => undefined) : [];
    if (!routing || !workloads) {
      misses++;
      return;
    }
    const serve = (
      labels: Record<string, string> | undefined,
    ): { version: string; behaves: string } | undefined => {
      if (!options.workloads)
        return labels?.version ? { version: labels.version, behaves: labels.version } : undefined;
      const workload = workloads.find((w) =>
        Object.entries(labels ?? {}).every(([key, value]) => w.labels[key] === value),
      );
      const version = workload?.labels.version;
      return workload && version && ready(version) ? { version, behaves: workload.behaviour } : undefined;
    };
    carry += (options.requestsPerSecond * tickMs) / 1000;
    const requests = Math.floor(carry);
    carry -= requests;
    const counts = new Map<string, { total: number; errors: number; behaves: string }>();
    for (let i = 0; i < requests; i++) {
      let pick = rng();
      const cls = options.classes.find((c) => (pick -= c.share) < 0) ?? options.classes.at(-1);
      if (!cls) return;
      const result = evaluateRoute(routing.vs, [routing.dr], cls.request);
      if (result.kind !== 'matched') continue;
      const target = serve(pickDestination(result.destinations, rng())?.labels);
      if (!target) continue;
      const c = counts.get(target.version) ?? { total: 0, errors: 0, behaves: target.behaves };
      c.total++;
      if (rng() < (behaviour[target.behaves]?.errorRate ?? 0)) c.errors++;
      counts.set(target.version, c);
    }
    for (const [version, c] of counts) {
      options.mesh.inject({
        namespace: options.namespace,
        service: options.service,
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
