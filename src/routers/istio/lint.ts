import type { CanaryRelease } from '../../api/canary-release.js';
import {
  parseAnalysisTemplate,
  parseCanaryRelease,
  parseClusterAnalysisTemplate,
} from '../../api/validation.js';
import { kindOf, rawLabel, reporter, type LintFinding, type LintInput, type Report } from '../lint-report.js';
import { gatewayMatches, MESH, qualifyHost, sameHost } from './hosts.js';
import { compileIstioRegex } from './string-match.js';
import {
  namespaceOf,
  parseDestinationRule,
  parseVirtualService,
  type DestinationRule,
  type HttpMatchRequest,
  type HttpRoute,
  type VirtualService,
} from './types.js';
import {
  misplacedWeights,
  overlappingSubsets,
  pathOf,
  routingTargetProblems,
  type PathSegments,
} from './validate.js';
import { effectiveWeights, requiresWeightSum100 } from './routes.js';

export type { LintFinding, LintInput } from '../lint-report.js';

export interface LintOptions {
  /** The mesh's Istio version; before 1.15 the weights of a route must add up to 100. */
  istioVersion?: string;
}

interface Loaded<T> {
  input: LintInput;
  resource: T;
  label: string;
}

const labelOf = (kind: string, r: { metadata: { name: string; namespace?: string | undefined } }) =>
  `${kind} ${namespaceOf(r)}/${r.metadata.name}`;

/** `v1 75%, v2 25%`: what Istio does with weights that do not add up to 100 (it scales them). */
function normalizedSplit(
  destinations: readonly { destination: { host: string; subset?: string | undefined } }[],
  weights: readonly number[],
): string {
  const sum = weights.reduce((a, b) => a + b, 0);
  return destinations
    .map(
      (d, i) =>
        `${d.destination.subset ?? d.destination.host} ${Number((((weights[i] ?? 0) * 100) / sum).toFixed(2))}%`,
    )
    .join(', ');
}

/** A route that takes every request that reaches it: no match, or only `uri: {prefix: /}`. */
function isCatchAll(route: HttpRoute): boolean {
  if (!route.match?.length) return true;
  return route.match.some((m) => {
    const conditions = Object.keys(m).filter((k) => k !== 'name' && k !== 'ignoreUriCase');
    return conditions.length === 1 && m.uri?.prefix === '/';
  });
}

function lintRouteOrder(vs: VirtualService, report: Report): void {
  const routes = vs.spec.http ?? [];
  const ns = namespaceOf(vs);
  const vsGateways = vs.spec.gateways?.length ? vs.spec.gateways : [MESH];
  const catchAll = routes.findIndex(isCatchAll);
  if (catchAll < 0) return;
  routes.slice(catchAll + 1).forEach((route, offset) => {
    const i = catchAll + 1 + offset;
    // a block bound to a gateway the catch-all does not serve can still be reached there
    const qualified = (g: string) => (g === MESH || g.includes('/') ? g : `${ns}/${g}`);
    const reachable = (route.match ?? []).some((m) =>
      (m.gateways ?? []).some((g) => !vsGateways.some((v) => gatewayMatches(v, ns, qualified(g)))),
    );
    if (reachable) return;
    report(
      'error',
      ['spec', 'http', i],
      `this route is never used: spec.http[${catchAll}] before it has no match conditions and takes every request (Istio uses the first route that matches)`,
      `move the catch-all route spec.http[${catchAll}] to the end of spec.http`,
    );
  });
}

function lintWeights(
  vs: VirtualService,
  options: LintOptions,
  report: Report,
  intendedTotals: ReadonlySet<number> = new Set(),
): void {
  const misplaced = new Set(misplacedWeights(vs).flatMap((p) => (p.path[1] === 'http' ? [p.path[2]] : [])));
  (vs.spec.http ?? []).forEach((route, i) => {
    const destinations = route.route ?? [];
    if (destinations.length < 2 || misplaced.has(i)) return;
    const sum = effectiveWeights(destinations).reduce((a, b) => a + b, 0);
    if (sum === 0) {
      report(
        'error',
        ['spec', 'http', i, 'route'],
        'every destination has weight 0 or none; Istio rejects the route ("total destination weight = 0")',
        'give each destination a weight, e.g. 90 and 10',
      );
    } else if (sum !== 100 && requiresWeightSum100(options.istioVersion)) {
      report(
        'error',
        ['spec', 'http', i, 'route'],
        `the weights add up to ${sum}; Istio ${options.istioVersion ?? ''} rejects a route whose weights do not add up to 100`,
        'make the weights add up to 100 (Istio 1.15 and later accept any total)',
      );
    } else if (sum !== 100 && !intendedTotals.has(sum)) {
      // a release with weightTotal 1000 or 10000 writes such totals on purpose; anything else is a slip
      report(
        'warning',
        ['spec', 'http', i, 'route'],
        `the weights add up to ${sum}, not 100; Istio scales them, so the split is ${normalizedSplit(destinations, effectiveWeights(destinations))}`,
        'make the weights add up to 100',
      );
    }
  });
}

function lintRegexes(vs: VirtualService, report: Report): void {
  (vs.spec.http ?? []).forEach((route, i) => {
    (route.match ?? []).forEach((block, j) => {
      const where = ['spec', 'http', i, 'match', j];
      for (const field of ['uri', 'scheme', 'method', 'authority'] as const) {
        const regex = block[field]?.regex;
        if (regex !== undefined) checkRegex(regex, [...where, field, 'regex'], report);
      }
      for (const map of ['headers', 'withoutHeaders', 'queryParams'] as const) {
        for (const [name, m] of Object.entries(block[map] ?? {})) {
          if (m.regex !== undefined && m.regex !== '*') {
            checkRegex(m.regex, [...where, map, name, 'regex'], report);
            if (map === 'headers' && name === 'cookie')
              checkCookieRegex(m.regex, [...where, map, name, 'regex'], report);
          }
          if (map !== 'queryParams' && name !== name.toLowerCase()) {
            report(
              'warning',
              [...where, map, name],
              `header name ${name} has upper-case letters; Envoy compares lower-cased header names, so this never matches`,
              `write it as ${name.toLowerCase()}`,
            );
          }
        }
      }
    });
  });
}

/**
 * The common cookie idiom `^(.*?;)?(name=...)(;.*)?$` (seed 002) expects the cookie right after a ";", but
 * browsers separate cookies with "; ", so it matches only when the cookie comes first.
 */
function checkCookieRegex(regex: string, path: PathSegments, report: Report): void {
  if (!/;\)\?\(/.test(regex)) return;
  report(
    'warning',
    path,
    'this cookie regex expects the cookie right after ";", but browsers send "; " between cookies, so it matches only when the cookie comes first in the header',
    'allow the space: write (.*?;\\s*)? instead of (.*?;)?',
  );
}

function checkRegex(regex: string, path: PathSegments, report: Report): void {
  const compiled = compileIstioRegex(regex);
  if (compiled instanceof Error) {
    report(
      'error',
      path,
      `invalid regex for Istio (RE2): ${compiled.message}`,
      'write an RE2 regular expression',
    );
  }
}

/**
 * Every subset a route sends to must be defined in a DestinationRule whose host is the
 * destination's host, short names resolved in each resource's namespace as Istio does: a subset
 * defined only under another host answers 503 in the mesh.
 */
function lintSubsets(vs: VirtualService, rules: readonly DestinationRule[], report: Report): void {
  const ns = namespaceOf(vs);
  const unchecked = new Set<string>();
  (vs.spec.http ?? []).forEach((route, i) => {
    (route.route ?? []).forEach(({ destination }, j) => {
      if (destination.subset === undefined) return;
      const path = ['spec', 'http', i, 'route', j, 'destination', 'subset'];
      const host = qualifyHost(destination.host, ns);
      const forHost = rules.filter((dr) => sameHost(dr.spec.host, namespaceOf(dr), destination.host, ns));
      if (forHost.some((dr) => dr.spec.subsets?.some((s) => s.name === destination.subset))) return;
      const elsewhere = rules.filter((dr) => dr.spec.subsets?.some((s) => s.name === destination.subset));
      if (forHost.length) {
        const rule = forHost[0];
        report(
          'error',
          path,
          `subset ${destination.subset} is not defined in DestinationRule ${rule?.metadata.name ?? ''} (host ${rule?.spec.host ?? ''}); Istio answers 503 for this share`,
          `add subset ${destination.subset} to DestinationRule ${rule?.metadata.name ?? ''} or use one of: ${forHost.flatMap((dr) => (dr.spec.subsets ?? []).map((s) => s.name)).join(', ') || '(none)'}`,
        );
      } else if (elsewhere.length) {
        const names = elsewhere.map(
          (dr) => `${dr.metadata.name} (host ${qualifyHost(dr.spec.host, namespaceOf(dr))})`,
        );
        report(
          'error',
          path,
          `subset ${destination.subset} is defined only for other hosts, in DestinationRule ${names.join(', ')}; this route sends to ${host}, for which no DestinationRule defines it, so Istio answers 503 for this share`,
          `send to the host the subset belongs to (destination.host), or define subset ${destination.subset} in a DestinationRule with host: ${destination.host}`,
        );
      } else if (!unchecked.has(host)) {
        unchecked.add(host);
        report(
          'info',
          path,
          `not checked: no DestinationRule for host ${host} in the files, so lint cannot tell whether subset ${destination.subset} exists; give the file with that DestinationRule too`,
        );
      }
    });
  });
}

const boundToMeshOnly = (vs: VirtualService) =>
  !vs.spec.gateways?.length || vs.spec.gateways.every((g) => g === MESH);

/**
 * A header or query-parameter match on a service that clients reach only through another service works
 * only if that service forwards the header or parameter on its own calls (seed 004's warning).
 */
function lintPropagation(vs: VirtualService, all: readonly VirtualService[], report: Report): void {
  if (!boundToMeshOnly(vs)) return;
  const ns = namespaceOf(vs);
  const edge = all.filter((other) => other !== vs && !boundToMeshOnly(other) && namespaceOf(other) === ns);
  if (!edge.length) return;
  const ownHosts = vs.spec.hosts ?? [];
  const entryHosts = new Set<string>();
  for (const other of edge) {
    for (const route of other.spec.http ?? []) {
      for (const { destination } of route.route ?? []) {
        if (ownHosts.some((h) => sameHost(h, ns, destination.host, namespaceOf(other)))) return;
        entryHosts.add(destination.host);
      }
    }
  }
  if (!entryHosts.size) return;
  const via = [...entryHosts].join(', ');
  (vs.spec.http ?? []).forEach((route, i) => {
    (route.match ?? []).forEach((block: HttpMatchRequest, j) => {
      for (const map of ['headers', 'queryParams'] as const) {
        for (const name of Object.keys(block[map] ?? {})) {
          const what = map === 'headers' ? `header ${name}` : `query parameter ${name}`;
          report(
            'warning',
            ['spec', 'http', i, 'match', j, map, name],
            `${ownHosts.join(', ')} is reached only through ${via} (the gateway routes there, not here): the ${what} must be passed on by ${via} in its own requests, or this match never fires`,
            `make ${via} forward the ${what} from the incoming request to its calls of ${ownHosts.join(', ')}`,
          );
        }
      }
    });
  });
}

/** `managedSubsets`: subsets whose labels a managed-mode release writes, so their labels are not the user's. */
function lintDestinationRule(dr: DestinationRule, report: Report, managedSubsets: ReadonlySet<string>): void {
  const seen = new Set<string>();
  (dr.spec.subsets ?? []).forEach((s, i) => {
    if (seen.has(s.name)) {
      report(
        'error',
        ['spec', 'subsets', i, 'name'],
        `subset name ${s.name} is used twice; Istio rejects the DestinationRule`,
        'rename one of them',
      );
    }
    seen.add(s.name);
  });
  // a subset without labels may be meant (all pods); two subsets with the same labels never are
  const userSubsets = (dr.spec.subsets ?? []).map((x) => x.name).filter((name) => !managedSubsets.has(name));
  for (const p of overlappingSubsets(dr, userSubsets)) {
    report(p.rule === 'subset-unlabeled' ? 'warning' : 'error', p.path, p.message, p.fix);
  }
}

/** A template in the files, by kind, namespace (none for a cluster template) and name. */
interface TemplateEntry {
  kind: 'AnalysisTemplate' | 'ClusterAnalysisTemplate';
  namespace?: string;
  name: string;
}

const TEMPLATE_KINDS = ['AnalysisTemplate', 'ClusterAnalysisTemplate'] as const;

/**
 * What an Istio release names that lint can look for in the files: its VirtualService and
 * DestinationRule. One the files should have held (others of its kind are there) is a warning; one
 * that may live only in the cluster is a note saying lint could not check it.
 */
function lintReleaseReferences(
  release: CanaryRelease,
  found: { vs: boolean; dr: boolean },
  all: {
    virtualServices: readonly VirtualService[];
    destinationRules: readonly DestinationRule[];
  },
  report: Report,
): void {
  const namespace = namespaceOf(release);
  const istio = release.spec.trafficRouting.istio;
  if (!istio) return;
  const refs = [
    {
      kind: 'VirtualService',
      name: istio.virtualService.name,
      present: found.vs,
      others: all.virtualServices.filter((v) => namespaceOf(v) === namespace).map((v) => v.metadata.name),
      path: ['spec', 'trafficRouting', 'istio', 'virtualService', 'name'],
    },
    {
      kind: 'DestinationRule',
      name: istio.destinationRule.name,
      present: found.dr,
      others: all.destinationRules.filter((d) => namespaceOf(d) === namespace).map((d) => d.metadata.name),
      path: ['spec', 'trafficRouting', 'istio', 'destinationRule', 'name'],
    },
  ];
  for (const ref of refs) {
    if (ref.present) continue;
    if (ref.others.length) {
      report(
        'warning',
        ref.path,
        `${ref.kind} ${ref.name} is not in the files, which hold ${ref.kind} ${ref.others.join(', ')} in namespace ${namespace}; the release fails (ConfigValid False) unless it exists in the cluster`,
        `name one of ${ref.others.join(', ')}, or give the file that holds ${ref.kind} ${ref.name}`,
      );
    } else {
      report(
        'info',
        ref.path,
        `not checked: ${ref.kind} ${namespace}/${ref.name} is not in the files, so lint cannot check the routes and subsets the release uses; give its file too`,
      );
    }
  }
}

/**
 * The analysis templates a release names (whatever its router): one the files should have held is a
 * warning; one that may live only in the cluster is a note saying lint could not check it.
 */
function lintTemplateReferences(
  release: CanaryRelease,
  all: { templates: readonly TemplateEntry[]; anyTemplateInFiles: boolean },
  report: Report,
): void {
  const namespace = namespaceOf(release);
  (release.spec.analysis?.templates ?? []).forEach((ref, i) => {
    const wanted = (t: TemplateEntry) =>
      t.kind === ref.kind &&
      t.name === ref.name &&
      (t.kind === 'ClusterAnalysisTemplate' || t.namespace === namespace);
    if (all.templates.some(wanted)) return;
    const path = ['spec', 'analysis', 'templates', i, 'name'];
    const sameKind = all.templates
      .filter(
        (t) => t.kind === ref.kind && (t.kind === 'ClusterAnalysisTemplate' || t.namespace === namespace),
      )
      .map((t) => t.name);
    const where = ref.kind === 'AnalysisTemplate' ? ` in namespace ${namespace}` : '';
    if (all.anyTemplateInFiles) {
      report(
        'warning',
        path,
        `${ref.kind} ${ref.name}${where} is neither in the files nor among canaria's default templates; known here: ${sameKind.join(', ') || '(none)'}`,
        `name one of them, or give the file that holds ${ref.kind} ${ref.name}`,
      );
    } else {
      report(
        'info',
        path,
        `not checked: ${ref.kind} ${ref.kind === 'AnalysisTemplate' ? `${namespace}/` : ''}${ref.name} is neither in the files nor among canaria's default templates; give its file too`,
      );
    }
  });
}

/** Findings for the classic mistakes in Istio routing manifests, and for CanaryReleases among them. */
export function lintDocuments(inputs: readonly LintInput[], options: LintOptions = {}): LintFinding[] {
  const findings: LintFinding[] = [];
  const virtualServices: Loaded<VirtualService>[] = [];
  const destinationRules: Loaded<DestinationRule>[] = [];
  const templates: TemplateEntry[] = [];
  let anyTemplateInFiles = false;
  const releases: LintInput[] = [];
  for (const input of inputs) {
    const kind = kindOf(input.doc);
    if (kind === 'VirtualService' || kind === 'DestinationRule') {
      const parsed =
        kind === 'VirtualService' ? parseVirtualService(input.doc) : parseDestinationRule(input.doc);
      if (!parsed.ok) {
        const report = reporter(findings, input, rawLabel(kind, input.doc));
        for (const issue of parsed.issues) report('error', pathOf(issue.path), issue.message);
        continue;
      }
      if (kind === 'VirtualService') {
        const vs = parsed.value as VirtualService;
        virtualServices.push({ input, resource: vs, label: labelOf(kind, vs) });
      } else {
        const dr = parsed.value as DestinationRule;
        destinationRules.push({ input, resource: dr, label: labelOf(kind, dr) });
      }
    } else if (kind === 'CanaryRelease') {
      releases.push(input);
    } else if (kind !== undefined && (TEMPLATE_KINDS as readonly string[]).includes(kind)) {
      const cluster = kind === 'ClusterAnalysisTemplate';
      const parsed = cluster ? parseClusterAnalysisTemplate(input.doc) : parseAnalysisTemplate(input.doc);
      if (!input.bundled) anyTemplateInFiles = true;
      if (!parsed.ok) {
        const label = cluster
          ? `${kind} ${rawLabel(kind, input.doc).split('/')[1] ?? ''}`
          : rawLabel(kind, input.doc);
        const report = reporter(findings, input, label);
        for (const issue of parsed.issues) report('error', pathOf(issue.path), issue.message);
        continue;
      }
      const entry: TemplateEntry = {
        kind: cluster ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate',
        name: parsed.value.metadata.name,
      };
      if (!cluster) entry.namespace = namespaceOf(parsed.value);
      templates.push(entry);
    }
  }
  const rules = destinationRules.map((d) => d.resource);
  const services = virtualServices.map((v) => v.resource);
  let istioVersion = options.istioVersion;
  /** By `namespace/name` of a DestinationRule. */
  const managedSubsets = new Map<string, Set<string>>();
  /** Route weight totals a release writes on purpose, by `namespace/name` of its VirtualService. */
  const intendedTotals = new Map<string, Set<number>>();

  for (const input of releases) {
    const parsed = parseCanaryRelease(input.doc);
    const label = parsed.ok ? labelOf('CanaryRelease', parsed.value) : rawLabel('CanaryRelease', input.doc);
    const report = reporter(findings, input, label);
    if (!parsed.ok) {
      for (const issue of parsed.issues) report('error', pathOf(issue.path), issue.message);
      continue;
    }
    const release = parsed.value;
    const istio = release.spec.trafficRouting.istio;
    // a release on another router names no VirtualService; its own checks are that router's
    if (!istio) {
      lintTemplateReferences(release, { templates, anyTemplateInFiles }, report);
      continue;
    }
    istioVersion ??= istio.istioVersion;
    const namespace = namespaceOf(release);
    const vs = virtualServices.find(
      (v) => v.resource.metadata.name === istio.virtualService.name && namespaceOf(v.resource) === namespace,
    );
    const dr = destinationRules.find(
      (d) => d.resource.metadata.name === istio.destinationRule.name && namespaceOf(d.resource) === namespace,
    );
    const vsKey = `${namespace}/${istio.virtualService.name}`;
    intendedTotals.set(vsKey, (intendedTotals.get(vsKey) ?? new Set()).add(istio.weightTotal));
    if (release.spec.targetRef) {
      managedSubsets.set(
        `${namespace}/${istio.destinationRule.name}`,
        new Set([istio.stableSubset, istio.canarySubset]),
      );
    }
    lintReleaseReferences(
      release,
      { vs: vs !== undefined, dr: dr !== undefined },
      { virtualServices: services, destinationRules: rules },
      report,
    );
    lintTemplateReferences(release, { templates, anyTemplateInFiles }, report);
    if (!vs || !dr) continue;
    const subsetLabelsManaged = release.spec.targetRef !== undefined;
    for (const p of routingTargetProblems(vs.resource, dr.resource, istio, { subsetLabelsManaged })) {
      // these are reported below for the resources that hold them, release or not
      if (['misplaced-weight', 'subset-unlabeled', 'subset-twin', 'weight-sum'].includes(p.rule)) continue;
      const target = p.resource === 'VirtualService' ? vs : { input, label };
      reporter(findings, target.input, target.label)('error', p.path, p.message, p.fix);
    }
  }

  for (const { input, resource: vs, label } of virtualServices) {
    const report = reporter(findings, input, label);
    for (const p of misplacedWeights(vs)) report('error', p.path, p.message, p.fix);
    lintWeights(
      vs,
      { ...(istioVersion === undefined ? {} : { istioVersion }) },
      report,
      intendedTotals.get(`${namespaceOf(vs)}/${vs.metadata.name}`),
    );
    lintRouteOrder(vs, report);
    lintRegexes(vs, report);
    lintSubsets(vs, rules, report);
    lintPropagation(vs, services, report);
  }
  for (const { input, resource, label } of destinationRules) {
    const managed =
      managedSubsets.get(`${namespaceOf(resource)}/${resource.metadata.name}`) ?? new Set<string>();
    lintDestinationRule(resource, reporter(findings, input, label), managed);
  }
  return findings;
}

/** A custom PromQL query in the files, for a check with Prometheus' grammar. */
export interface CustomQuery {
  input: LintInput;
  label: string;
  path: PathSegments;
  query: string;
  /** Defaults of the template's args; a release may pass others. */
  args: Record<string, string>;
}

/** Every `type: promql` query of the templates and the releases' inline metrics. */
export function customQueries(inputs: readonly LintInput[]): CustomQuery[] {
  const out: CustomQuery[] = [];
  for (const input of inputs) {
    if (input.bundled) continue;
    const kind = kindOf(input.doc);
    let metrics: { type: string; query?: string | undefined }[] = [];
    let prefix: PathSegments = [];
    let args: Record<string, string> = {};
    let label = '';
    if (kind === 'AnalysisTemplate' || kind === 'ClusterAnalysisTemplate') {
      const parsed =
        kind === 'AnalysisTemplate'
          ? parseAnalysisTemplate(input.doc)
          : parseClusterAnalysisTemplate(input.doc);
      if (!parsed.ok) continue;
      metrics = parsed.value.spec.metrics;
      prefix = ['spec', 'metrics'];
      args = Object.fromEntries(
        (parsed.value.spec.args ?? []).flatMap((a) => (a.value === undefined ? [] : [[a.name, a.value]])),
      );
      label =
        kind === 'AnalysisTemplate' ? labelOf(kind, parsed.value) : `${kind} ${parsed.value.metadata.name}`;
    } else if (kind === 'CanaryRelease') {
      const parsed = parseCanaryRelease(input.doc);
      if (!parsed.ok) continue;
      metrics = parsed.value.spec.analysis?.metrics ?? [];
      prefix = ['spec', 'analysis', 'metrics'];
      label = labelOf(kind, parsed.value);
    }
    metrics.forEach((m, i) => {
      if (m.type === 'promql' && m.query !== undefined)
        out.push({ input, label, path: [...prefix, i, 'query'], query: m.query, args });
    });
  }
  return out;
}
