import type { CanaryRelease } from '../../api/canary-release.js';
import type { ResolvedGatewayApiRouting } from '../../api/gateway-api.js';
import { gatewayRoutingOf, managedServiceOf } from '../../api/routing.js';
import { parseCanaryRelease } from '../../api/validation.js';
import { ownedBy } from '../../managed/labels.js';
import { kindOf, rawLabel, reporter, type LintFinding, type LintInput, type Report } from '../lint-report.js';
import { asService } from './manifests.js';
import { findManagedRule, refersTo, ruleList, weightOf } from './routes.js';
import type { Service } from './services.js';
import { isServiceRef, parseHttpRoute, type HttpRoute } from './types.js';
import { httpRouteProblems, parentRefProblems, segmentsOf } from './validate.js';

/*
 * `canaria lint` for Gateway API: the HTTPRoutes in the files, and each CanaryRelease with
 * trafficRouting.gatewayAPI checked against its HTTPRoute and Services as the controller would check
 * them (validate.ts), before anything reaches a cluster. What the files cannot show (a route or
 * Service that may live only in the cluster) is a note, not an error.
 */

interface Loaded<T> {
  input: LintInput;
  resource: T;
  label: string;
}

type Named = { metadata: { name: string; namespace?: string | undefined } };
const namespaceOf = (r: Named): string => r.metadata.namespace ?? 'default';
const labelOf = (kind: string, r: Named) => `${kind} ${namespaceOf(r)}/${r.metadata.name}`;
const find = <T extends Named>(list: readonly Loaded<T>[], namespace: string, name: string) =>
  list.find((l) => l.resource.metadata.name === name && namespaceOf(l.resource) === namespace);

/** The checks of one route that need no release: parents, weights, and backends the files show. */
function lintRoute(
  route: Loaded<HttpRoute>,
  services: readonly Loaded<Service>[],
  /** Managed mode: the Services canaria creates (`namespace/name`), and the user's Service each copies. */
  created: ReadonlyMap<string, string>,
  report: Report,
): void {
  for (const p of parentRefProblems(route.resource)) report('error', p.path, p.message, p.fix);
  const namespace = namespaceOf(route.resource);
  const servicesHere = services.filter((s) => namespaceOf(s.resource) === namespace);
  ruleList(route.resource).forEach((rule, i) => {
    const refs = rule.backendRefs ?? [];
    if (refs.length && refs.every((ref) => weightOf(ref) === 0)) {
      report(
        'error',
        ['spec', 'rules', i, 'backendRefs'],
        'every backendRef has weight 0: every request this rule takes is answered with 500',
        'give one backendRef a weight above 0',
      );
    }
    refs.forEach((ref, j) => {
      if (!isServiceRef(ref) || (ref.namespace !== undefined && ref.namespace !== namespace)) return;
      const path = ['spec', 'rules', i, 'backendRefs', j];
      const copied = created.get(`${namespace}/${ref.name}`);
      const service = find(servicesHere, namespace, copied ?? ref.name);
      if (!service) {
        // a missing user Service of a managed release is reported on the release
        if (servicesHere.length && copied === undefined) {
          report(
            'warning',
            [...path, 'name'],
            `Service ${ref.name} is not in the files, which hold Service ${servicesHere.map((s) => s.resource.metadata.name).join(', ')} in namespace ${namespace}; the share sent there is answered with 500 unless it exists in the cluster`,
            `name one of them, or give the file that holds Service ${ref.name}`,
          );
        }
        return;
      }
      if (ref.port === undefined) {
        report(
          'error',
          path,
          `backendRef to Service ${ref.name} has no port; Gateway API requires one for a Service`,
          `add port: ${service.resource.spec?.ports?.[0]?.port ?? '<port>'}`,
        );
        return;
      }
      const ports = (service.resource.spec?.ports ?? []).map((p) => p.port);
      if (ports.length && !ports.includes(ref.port)) {
        report(
          'error',
          [...path, 'port'],
          `Service ${ref.name} has no port ${ref.port} (its ports: ${ports.join(', ')}); the share sent there is answered with 500`,
          `use one of its ports: ${ports.join(', ')}`,
        );
      }
    });
  });
}

/** Where a release's named Service is missing from files that hold other Services, or only may be. */
function lintServicePresence(
  name: string,
  field: string,
  namespace: string,
  services: readonly Loaded<Service>[],
  report: Report,
  why: string,
): Loaded<Service> | undefined {
  const found = find(services, namespace, name);
  if (found) return found;
  const others = services
    .filter((s) => namespaceOf(s.resource) === namespace)
    .map((s) => s.resource.metadata.name);
  const path = ['spec', ...field.split('.')];
  if (others.length) {
    report(
      'warning',
      path,
      `Service ${name} is not in the files, which hold Service ${others.join(', ')} in namespace ${namespace}; ${why}`,
      `name one of ${others.join(', ')}, or give the file that holds Service ${name}`,
    );
  } else {
    report(
      'info',
      path,
      `not checked: Service ${namespace}/${name} is not in the files, so lint cannot check what it selects; give its file too`,
    );
  }
  return undefined;
}

const sameSelector = (a: Service, b: Service): boolean =>
  JSON.stringify(Object.entries(a.spec?.selector ?? {}).sort()) ===
  JSON.stringify(Object.entries(b.spec?.selector ?? {}).sort());

function lintServices(
  release: CanaryRelease,
  routing: ResolvedGatewayApiRouting,
  services: readonly Loaded<Service>[],
  report: Report,
): void {
  const namespace = namespaceOf(release);
  const name = release.metadata.name;
  const user = managedServiceOf(release.spec);
  if (user !== undefined) {
    // managed mode: canaria creates the pair from the user's Service; one of the files is in the way
    lintServicePresence(
      user,
      release.spec.service !== undefined ? 'service' : 'targetRef.name',
      namespace,
      services,
      report,
      `managed mode copies its selector and ports into ${routing.stableService} and ${routing.canaryService}, and the release fails (ConfigValid False) unless it exists in the cluster`,
    );
    for (const [side, service] of [
      ['stableService', routing.stableService],
      ['canaryService', routing.canaryService],
    ] as const) {
      const existing = find(services, namespace, service);
      if (!existing || ownedBy(existing.resource.metadata.labels, name)) continue;
      report(
        'error',
        ['spec', 'trafficRouting', 'gatewayAPI', side],
        `managed mode creates and owns Service ${service}, but the files hold a Service ${service} (${existing.input.file}) that is not canaria's; canaria leaves it alone and the release fails (ConfigValid False)`,
        `remove Service ${service} from the files, or set trafficRouting.gatewayAPI.${side} to another name`,
      );
    }
    return;
  }
  const why = 'the release fails (ConfigValid False) unless it exists in the cluster';
  const stable = lintServicePresence(
    routing.stableService,
    'trafficRouting.gatewayAPI.stableService',
    namespace,
    services,
    report,
    why,
  );
  const canary = lintServicePresence(
    routing.canaryService,
    'trafficRouting.gatewayAPI.canaryService',
    namespace,
    services,
    report,
    why,
  );
  for (const s of [stable, canary]) {
    if (s && !Object.keys(s.resource.spec?.selector ?? {}).length) {
      report(
        'warning',
        ['spec', 'trafficRouting', 'gatewayAPI', s === stable ? 'stableService' : 'canaryService'],
        `Service ${s.resource.metadata.name} has no selector, so its endpoints are not a version's pods; the release cannot tell which Deployment runs that side`,
        'give the Service the selector of its version, e.g. {app: ..., version: ...}',
      );
    }
  }
  if (
    stable &&
    canary &&
    Object.keys(stable.resource.spec?.selector ?? {}).length &&
    sameSelector(stable.resource, canary.resource)
  ) {
    report(
      'error',
      ['spec', 'trafficRouting', 'gatewayAPI', 'canaryService'],
      `Services ${routing.stableService} and ${routing.canaryService} have the same selector, so both sides reach the same pods: the canary's share is not the canary's, and the analysis compares a version with itself`,
      `select each version's pods apart, e.g. with a version label in ${routing.canaryService}'s selector`,
    );
  }
}

function lintRelease(
  release: CanaryRelease,
  routing: ResolvedGatewayApiRouting,
  routes: readonly Loaded<HttpRoute>[],
  services: readonly Loaded<Service>[],
  invalidRoutes: ReadonlySet<string>,
  report: Report,
  findings: LintFinding[],
): void {
  const namespace = namespaceOf(release);
  const routeName = routing.httpRoute.name;
  const path = ['spec', 'trafficRouting', 'gatewayAPI', 'httpRoute', 'name'];
  const route = find(routes, namespace, routeName);
  if (!route && !invalidRoutes.has(`${namespace}/${routeName}`)) {
    const others = routes
      .filter((r) => namespaceOf(r.resource) === namespace)
      .map((r) => r.resource.metadata.name);
    if (others.length) {
      report(
        'warning',
        path,
        `HTTPRoute ${routeName} is not in the files, which hold HTTPRoute ${others.join(', ')} in namespace ${namespace}; the release fails (ConfigValid False) unless it exists in the cluster`,
        `name one of ${others.join(', ')}, or give the file that holds HTTPRoute ${routeName}`,
      );
    } else {
      report(
        'info',
        path,
        `not checked: HTTPRoute ${namespace}/${routeName} is not in the files, so lint cannot check the rule and Services the release uses; give its file too`,
      );
    }
  }
  if (route) {
    const onRoute = reporter(findings, route.input, route.label);
    // parentRef problems are the route's own, reported for every route
    for (const p of httpRouteProblems(route.resource, routing)) {
      if (p.path[1] === 'parentRefs') continue;
      onRoute('error', p.path, `${p.message} (CanaryRelease ${namespace}/${release.metadata.name})`, p.fix);
    }
    const managed = findManagedRule(route.resource, routing);
    if (managed.ok) {
      const rule = ruleList(route.resource)[managed.value.index] ?? {};
      const foreign = (rule.backendRefs ?? []).filter(
        (ref) =>
          !refersTo(route.resource, ref, routing.stableService) &&
          !refersTo(route.resource, ref, routing.canaryService),
      );
      if (foreign.length) {
        onRoute(
          'warning',
          ['spec', 'rules', managed.value.index, 'backendRefs'],
          `the rule canaria manages also sends to ${foreign.map((r) => r.name).join(', ')}; canaria sets only the stable and canary weights, so that share is neither side's and the split the release reports is not what clients see`,
          `move the other backendRefs to a rule of their own`,
        );
      }
    }
  }
  lintServices(release, routing, services, report);
}

/** Findings for the HTTPRoutes in the files, and for the CanaryReleases that route through them. */
export function lintGatewayApiDocuments(inputs: readonly LintInput[]): LintFinding[] {
  const findings: LintFinding[] = [];
  const routes: Loaded<HttpRoute>[] = [];
  const services: Loaded<Service>[] = [];
  const invalidRoutes = new Set<string>();
  const releases: { input: LintInput; release: CanaryRelease }[] = [];
  for (const input of inputs) {
    const kind = kindOf(input.doc);
    if (kind === 'HTTPRoute') {
      const parsed = parseHttpRoute(input.doc);
      if (!parsed.ok) {
        const label = rawLabel(kind, input.doc);
        invalidRoutes.add(label.slice(kind.length + 1));
        const report = reporter(findings, input, label);
        for (const issue of parsed.issues) report('error', segmentsOf(issue.path), issue.message);
        continue;
      }
      routes.push({ input, resource: parsed.value, label: labelOf(kind, parsed.value) });
    } else if (kind === 'Service') {
      const service = asService(input.doc);
      if (service) services.push({ input, resource: service, label: labelOf(kind, service) });
    } else if (kind === 'CanaryRelease') {
      // an invalid release is reported by the release checks (istio/lint.ts lints every release)
      const parsed = parseCanaryRelease(input.doc);
      if (parsed.ok && parsed.value.spec.trafficRouting.gatewayAPI)
        releases.push({ input, release: parsed.value });
    }
  }
  const created = new Map<string, string>();
  for (const { release } of releases) {
    const routing = gatewayRoutingOf(release.spec);
    const user = managedServiceOf(release.spec);
    if (!routing || user === undefined) continue;
    const ns = namespaceOf(release);
    created.set(`${ns}/${routing.stableService}`, user).set(`${ns}/${routing.canaryService}`, user);
  }
  for (const route of routes)
    lintRoute(route, services, created, reporter(findings, route.input, route.label));
  for (const { input, release } of releases) {
    const routing = gatewayRoutingOf(release.spec);
    if (!routing) continue;
    const report = reporter(findings, input, labelOf('CanaryRelease', release));
    lintRelease(release, routing, routes, services, invalidRoutes, report, findings);
  }
  return findings;
}
