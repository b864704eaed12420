import {
  evaluateHttpRoute,
  type HttpRouteEvaluation,
  type HttpRouteRequest,
} from '../routers/gateway-api/evaluate.js';
import type { HttpRoute } from '../routers/gateway-api/types.js';
import { binomial, multinomial } from './rng.js';
import type { RequestClass } from './scenario.js';
import type { DropReason, RoutedSlice, ServiceTargets } from './traffic.js';

/** The request a class describes, for an HTTPRoute: its path, method, headers, cookies and query. */
export function classHttpRequest(requestClass: RequestClass): HttpRouteRequest {
  const request: HttpRouteRequest = {};
  // a route attached to a Service serves that Service's name whatever the hostnames say
  if (requestClass.host !== undefined) request.host = requestClass.host;
  if (requestClass.uri !== undefined) request.uri = requestClass.uri;
  if (requestClass.method !== undefined) request.method = requestClass.method;
  if (requestClass.headers) request.headers = requestClass.headers;
  if (requestClass.cookies) request.cookies = requestClass.cookies;
  if (requestClass.queryParams) request.queryParams = requestClass.queryParams;
  return request;
}

/**
 * Routes simulated requests through an HTTPRoute as a Gateway API implementation would: every
 * request class is evaluated against the route as the controller last patched it, and its requests
 * are split over the winning rule's backendRefs by weight (and mirrored) with multinomial draws. A
 * backend is a Service; `service.revisions` says which revision the pods behind each side's Service
 * run.
 */
export class HttpRouteTrafficRouter {
  private evaluations: HttpRouteEvaluation[] = [];

  constructor(
    private readonly rng: () => number,
    private readonly classes: readonly RequestClass[],
    private service: ServiceTargets,
    /** The release's two Services: a request sent to one of them without pods is a 503, not another destination. */
    private readonly sides: readonly string[],
  ) {}

  /** Pods changed: the Services now select these revisions. */
  retarget(service: ServiceTargets): void {
    this.service = service;
  }

  /** Evaluates every request class against the HTTPRoute as it is now. */
  update(route: HttpRoute): void {
    this.evaluations = this.classes.map((c) => evaluateHttpRoute(route, classHttpRequest(c)));
  }

  private destinationOf(
    name: string,
    namespace: string | undefined,
    kind: string | undefined,
  ): { revision: string } | DropReason {
    if (kind !== undefined || (namespace !== undefined && namespace !== this.service.namespace))
      return 'another destination';
    const revision = this.service.revisions.get(name);
    if (revision !== undefined) return { revision };
    return this.sides.includes(name) ? 'no pods for the subset (503)' : 'another destination';
  }

  route(requests: number): RoutedSlice {
    const out: RoutedSlice = { byRevision: new Map(), mirrored: new Map(), dropped: new Map() };
    const add = (revision: string, n: number) => {
      if (n > 0) out.byRevision.set(revision, (out.byRevision.get(revision) ?? 0) + n);
    };
    const drop = (reason: DropReason, n: number) => {
      if (n > 0) out.dropped.set(reason, (out.dropped.get(reason) ?? 0) + n);
    };
    const perClass = multinomial(
      this.rng,
      requests,
      this.classes.map((c) => c.share),
    );
    this.evaluations.forEach((evaluation, i) => {
      const n = perClass[i] ?? 0;
      if (evaluation.kind === 'no-match') {
        drop('no route matched (404)', n);
        return;
      }
      if (!evaluation.backends.some((b) => b.weight > 0)) {
        // no backend or all weights 0: the implementation answers 500, nothing reaches a revision
        drop('another destination', n);
        return;
      }
      const split = multinomial(
        this.rng,
        n,
        evaluation.backends.map((b) => b.weight),
      );
      evaluation.backends.forEach((b, j) => {
        const where = this.destinationOf(b.name, b.namespace, b.kind);
        const count = split[j] ?? 0;
        if (typeof where === 'string') drop(where, count);
        else add(where.revision, count);
      });
      const mirror = evaluation.mirror;
      if (mirror) {
        // mirrored copies are extra requests whose answers nobody waits for
        const where = this.destinationOf(mirror.name, undefined, undefined);
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
