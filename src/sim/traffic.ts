import { evaluateRoute, type RouteEvaluation, type RouteRequest } from '../routers/istio/evaluate.js';
import { hostMatchSpecificity, MESH, sameHost } from '../routers/istio/hosts.js';
import { namespaceOf, type DestinationRule, type VirtualService } from '../routers/istio/types.js';
import { binomial, multinomial } from './rng.js';
import type { RequestClass } from './scenario.js';

/** The release's service: its host, and the revision behind each DestinationRule subset that has pods. */
export interface ServiceTargets {
  host: string;
  /** The DestinationRule's namespace, where a short host is resolved. */
  namespace: string;
  /** Subset name -> the value Istio reports for its pods' revision label. */
  revisions: ReadonlyMap<string, string>;
}

/** Why requests did not reach a revision of the release's service. */
export type DropReason =
  | 'no route matched (404)'
  | 'no pods for the subset (503)'
  | 'another destination'
  | 'a host the VirtualService does not serve';

/** Where one slice's requests went. */
export interface RoutedSlice {
  /** Requests per revision value, including mirrored copies. */
  byRevision: Map<string, number>;
  /** Of those, the mirrored copies: extra requests whose answers nobody waits for. */
  mirrored: Map<string, number>;
  dropped: Map<DropReason, number>;
}

/** The request a class describes, with the VirtualService's first host and gateway as defaults. */
export function classRequest(requestClass: RequestClass, vs: VirtualService): RouteRequest {
  const gateways = vs.spec.gateways ?? [];
  // a wildcard host stands for any name under it: www.example.com for *.example.com
  const host = vs.spec.hosts?.find((h) => !h.includes('*')) ?? vs.spec.hosts?.[0]?.replace('*', 'www') ?? '';
  const request: RouteRequest = { host: requestClass.host ?? host };
  const gateway = requestClass.gateway ?? (gateways.includes(MESH) ? undefined : gateways[0]);
  if (gateway !== undefined) request.gateway = gateway;
  if (requestClass.uri !== undefined) request.uri = requestClass.uri;
  if (requestClass.method !== undefined) request.method = requestClass.method;
  if (requestClass.headers) request.headers = requestClass.headers;
  if (requestClass.cookies) request.cookies = requestClass.cookies;
  if (requestClass.queryParams) request.queryParams = requestClass.queryParams;
  return request;
}

/**
 * Routes simulated requests through the VirtualService as Istio would: every request class is
 * evaluated by the route evaluator, and its requests are split over the chosen route's destinations
 * (and mirrored) by multinomial draws, which is what Envoy's per-request weighted choice adds up to.
 */
export class TrafficRouter {
  /** Per class: where the VirtualService sends it, or undefined when it is not for the VirtualService's hosts. */
  private evaluations: (RouteEvaluation | undefined)[] = [];
  private vsNamespace = '';

  constructor(
    private readonly rng: () => number,
    private readonly classes: readonly RequestClass[],
    private service: ServiceTargets,
  ) {}

  /** Pods changed: the subsets now run these revisions. */
  retarget(service: ServiceTargets): void {
    this.service = service;
  }

  /** Evaluates every request class against the VirtualService as it is now. */
  update(
    vs: VirtualService,
    destinationRules: readonly DestinationRule[],
    delegates: readonly VirtualService[],
  ): void {
    this.vsNamespace = namespaceOf(vs);
    this.evaluations = this.classes.map((c) => {
      const request = classRequest(c, vs);
      const served = (vs.spec.hosts ?? []).some(
        (h) => hostMatchSpecificity(h, this.vsNamespace, request.host, this.vsNamespace) !== undefined,
      );
      return served ? evaluateRoute(vs, destinationRules, request, delegates) : undefined;
    });
  }

  /** Where requests to `host`/`subset` end up: a revision of the service, or a reason they did not. */
  private destinationOf(host: string, subset: string | undefined): { revision: string } | DropReason {
    // without a subset Istio balances over every pod of the service: not one revision's traffic
    if (subset === undefined || !sameHost(host, this.vsNamespace, this.service.host, this.service.namespace))
      return 'another destination';
    const revision = this.service.revisions.get(subset);
    return revision === undefined ? 'no pods for the subset (503)' : { revision };
  }

  route(requests: number): RoutedSlice {
    const out: RoutedSlice = { byRevision: new Map(), mirrored: new Map(), dropped: new Map() };
    const add = (revision: string, n: number) => {
      if (n > 0) out.byRevision.set(revision, (out.byRevision.get(revision) ?? 0) + n);
    };
    const drop = (reason: DropReason, n: number) => {
      if (n > 0) out.dropped.set(reason, (out.dropped.get(reason) ?? 0) + n);
    };
    const reach = (host: string, subset: string | undefined, n: number) => {
      const where = this.destinationOf(host, subset);
      if (typeof where === 'string') drop(where, n);
      else add(where.revision, n);
    };
    const perClass = multinomial(
      this.rng,
      requests,
      this.classes.map((c) => c.share),
    );
    this.evaluations.forEach((evaluation, i) => {
      const n = perClass[i] ?? 0;
      if (!evaluation) {
        drop('a host the VirtualService does not serve', n);
        return;
      }
      if (evaluation.kind === 'no-match') {
        drop('no route matched (404)', n);
        return;
      }
      if (!evaluation.destinations.some((d) => d.weight > 0)) {
        // a redirect, a direct response, or weights Istio would reject: nothing reaches a revision
        drop('another destination', n);
        return;
      }
      const split = multinomial(
        this.rng,
        n,
        evaluation.destinations.map((d) => d.weight),
      );
      evaluation.destinations.forEach((d, j) => {
        reach(d.host, d.subset, split[j] ?? 0);
      });
      const mirror = evaluation.mirror;
      if (mirror) {
        // mirrored copies are extra requests, never dropped ones; Istio reports them at the mirror's pods
        const where = this.destinationOf(mirror.host, mirror.subset);
        if (typeof where !== 'string') {
          const copies = binomial(this.rng, n, mirror.percent / 100);
          add(where.revision, copies);
          if (copies > 0) out.mirrored.set(where.revision, (out.mirrored.get(where.revision) ?? 0) + copies);
        }
      }
    });
    return out;
  }
}
