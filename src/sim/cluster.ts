import { readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { resolveMetrics } from '../analysis/resolve.js';
import type { ResolvedMetric } from '../analysis/types.js';
import type { CanaryReleaseSpec } from '../api/canary-release.js';
import { parseCanaryRelease, type ValidationIssue } from '../api/validation.js';
import { templateCatalog } from '../controller/observe.js';
import { reportedRevision } from '../controller/workloads.js';
import { destinationRule as destinationRuleSchema, type DestinationRule } from '../routers/istio/types.js';
import type { RevisionLabel } from '../metrics/request-stats.js';
import { ISTIO_LATENCY_BUCKETS_MS } from './histogram.js';
import { istioResources, type Manifest, type ManifestProblem } from '../routers/istio/manifests.js';
import type { PathSegments } from '../routers/istio/validate.js';
import { MemoryKube } from '../kube/memory.js';
import { ALL_KINDS, type Deployment, type Kind, type KubeObject, type Ref } from '../kube/resources.js';
import type { ServiceTargets } from './traffic.js';
import { gatewayRoutingOf, managedServiceOf } from '../api/routing.js';
import { gatewayResources } from '../routers/gateway-api/manifests.js';
import type { Service } from '../routers/gateway-api/services.js';

/** The release in a simulated cluster: everything the simulator needs besides the scenario. */
export interface SimulatedCluster {
  kube: MemoryKube;
  release: Ref;
  /** The file the CanaryRelease came from, for messages. */
  file: string;
  spec: CanaryReleaseSpec;
  /** Subsets mode: one Deployment per version. Managed: the user's Deployment and canaria's primary copy. */
  mode: 'subsets' | 'managed';
  /** The router the release names: a VirtualService with DestinationRule subsets, or an HTTPRoute with a Service per side. */
  router: 'istio' | 'gatewayAPI';
  /** Istio: the VirtualService the requests go through, and the DestinationRule whose subsets are the sides. */
  virtualService?: Ref;
  destinationRule?: Ref;
  /** Gateway API: the HTTPRoute the requests go through; the sides are Services. */
  httpRoute?: Ref;
  /** Managed mode: the user's Deployment, which runs the canary. */
  target?: Ref;
  service: ServiceTargets;
  /**
   * Subset (Gateway API: Service) and reported revision value of each side. In managed mode the
   * primary's value is the revision canaria gives it, known once the simulation has set the primary up.
   */
  stable: { subset: string; revision: string };
  canary: { subset: string; revision: string };
  /** The metrics the release is analysed with, its templates resolved. */
  metrics: ResolvedMetric[];
}

export interface LoadOptions {
  /** Which CanaryRelease to simulate when the files hold several: `name` or `namespace/name`. */
  release?: string;
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; problems: ManifestProblem[] };

const TEMPLATES_DIR = new URL('../../analysis-templates/', import.meta.url);

/** The default templates the chart installs (analysis-templates/*.yaml), as ClusterAnalysisTemplates. */
export function defaultTemplates(): KubeObject[] {
  const files = readdirSync(TEMPLATES_DIR).filter((f) => /\.ya?ml$/.test(f));
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(new URL(file, TEMPLATES_DIR), 'utf8')).map((d) => d.toJS() as KubeObject),
  );
}

/** `spec.steps[0].setWeight` -> ['spec', 'steps', 0, 'setWeight'], to find an issue's line. */
function segments(path: string): PathSegments {
  return path
    .split(/\.|(?=\[)/)
    .filter(Boolean)
    .map((part) => (part.startsWith('[') ? Number(part.slice(1, -1)) : part));
}

const isKind = (kind: unknown): kind is Kind =>
  typeof kind === 'string' && (ALL_KINDS as string[]).includes(kind);

/** The status the deployment controller gives a Deployment whose pods all run: ready at its replica count. */
function readyStatus(d: Deployment): NonNullable<Deployment['status']> {
  const replicas = d.spec?.replicas ?? 1;
  return {
    observedGeneration: d.metadata.generation ?? 1,
    replicas,
    updatedReplicas: replicas,
    readyReplicas: replicas,
    availableReplicas: replicas,
  };
}

/** Deployments in the simulation run their pods: ready, at their wanted replica count. */
function ready(d: Deployment): Deployment {
  return { ...d, status: readyStatus(d) };
}

/**
 * Plays the deployment controller: every Deployment's status catches up with its spec at once (new
 * pods are ready the moment they are wanted). Returns whether anything changed.
 */
export function rollOutDeployments(kube: MemoryKube): boolean {
  let changed = false;
  for (const object of kube.list('Deployment')) {
    const d = object as Deployment;
    const status = readyStatus(d);
    if (JSON.stringify(d.status) === JSON.stringify(status)) continue;
    kube.apply('Deployment', { ...d, status });
    changed = true;
  }
  return changed;
}

const matches = (labels: Record<string, string> | undefined, wanted: Record<string, string>): boolean =>
  Object.entries(wanted).every(([k, v]) => labels?.[k] === v);

/**
 * Which revision value Istio reports for each subset of the DestinationRule, from the Deployments
 * whose pods carry the subset's labels and run (a Deployment scaled to zero has no pods to answer).
 */
export function subsetRevisions(
  kube: MemoryKube,
  destinationRule: Ref,
  label: RevisionLabel,
): Map<string, string> {
  const parsed = destinationRuleSchema.safeParse(kube.get('DestinationRule', destinationRule));
  const revisions = new Map<string, string>();
  if (!parsed.success) return revisions;
  const running = (kube.list('Deployment', destinationRule.namespace) as Deployment[])
    .filter((d) => (d.spec?.replicas ?? 1) > 0)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const subset of parsed.data.spec.subsets ?? []) {
    const deployment = running.find((d) => matches(d.spec?.template?.metadata?.labels, subset.labels ?? {}));
    const revision = deployment && reportedRevision(deployment, label);
    if (revision !== undefined) revisions.set(subset.name, revision);
  }
  return revisions;
}

/**
 * Gateway API: which revision value Istio reports for each of the Services, from the running
 * Deployments whose pods the Service's selector selects. A Service without a selector selects no pods
 * here.
 */
export function serviceRevisions(
  kube: MemoryKube,
  namespace: string,
  services: readonly string[],
  label: RevisionLabel,
): Map<string, string> {
  const revisions = new Map<string, string>();
  const running = (kube.list('Deployment', namespace) as Deployment[])
    .filter((d) => (d.spec?.replicas ?? 1) > 0)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const name of services) {
    const selector = (kube.get('Service', { namespace, name }) as Service | undefined)?.spec?.selector;
    if (!selector || !Object.keys(selector).length) continue;
    const deployment = running.find((d) => matches(d.spec?.template?.metadata?.labels, selector));
    const revision = deployment && reportedRevision(deployment, label);
    if (revision !== undefined) revisions.set(name, revision);
  }
  return revisions;
}

/** The metrics the release names, resolved from the cluster's templates as the controller would. */
function releaseMetrics(kube: MemoryKube, namespace: string, spec: CanaryReleaseSpec): ResolvedMetric[] {
  return resolveMetrics(spec.analysis, templateCatalog(kube, namespace).catalog).metrics;
}

/**
 * Metrics the simulated mesh cannot measure: custom PromQL (there is no Prometheus to run it) and a
 * slow-request bound that is not a bucket bound of Istio's histogram. Each would answer an Error,
 * which holds the release until the simulation's time limit; better to say so before it runs.
 */
export function unsimulatableMetrics(cluster: SimulatedCluster): ValidationIssue[] {
  const analysis = cluster.spec.analysis;
  /** Where the metric is named: its place in spec.analysis.metrics, or the template reference. */
  const placeOf = (metric: ResolvedMetric): string => {
    if (metric.source === 'inline') {
      return `spec.analysis.metrics[${analysis?.metrics?.findIndex((m) => m.name === metric.name) ?? 0}]`;
    }
    const i = analysis?.templates?.findIndex((t) => metric.source === `${t.kind} ${t.name}`) ?? -1;
    return `spec.analysis.templates[${Math.max(i, 0)}] (${metric.source})`;
  };
  return cluster.metrics.flatMap((metric): ValidationIssue[] => {
    const where = `${placeOf(metric)}: metric "${metric.name}"`;
    if (metric.type === 'promql') {
      return [
        {
          path: where,
          message:
            'custom PromQL cannot be simulated (there is no Prometheus behind the simulated mesh); the simulator measures errorRatio, successRate, slowRatio and latencyQuantile. Simulate the release without it (remove it from spec.analysis or its template) and try the query on a real Prometheus',
        },
      ];
    }
    if (metric.type === 'slowRatio' && !ISTIO_LATENCY_BUCKETS_MS.includes(metric.latencyThresholdMs ?? NaN)) {
      return [
        {
          path: where,
          message: `latencyThresholdMs ${metric.latencyThresholdMs ?? '(unset)'} is not a bucket bound of istio_request_duration_milliseconds, so it cannot be measured (in the simulation or in Prometheus); use one of ${ISTIO_LATENCY_BUCKETS_MS.join(', ')}`,
        },
      ];
    }
    return [];
  });
}

const releaseName = (m: Manifest): string => {
  const metadata = (m.doc as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
  const name = typeof metadata?.name === 'string' ? metadata.name : '(unnamed)';
  return typeof metadata?.namespace === 'string' ? `${metadata.namespace}/${name}` : name;
};

/** The CanaryRelease to simulate: the only one, or the one `--release` names. */
function pickRelease(manifests: readonly Manifest[], wanted: string | undefined): Loaded<Manifest> {
  const files = [...new Set(manifests.map((m) => m.file))].join(', ') || 'the files';
  const releases = manifests.filter((m) => (m.doc as { kind?: unknown } | null)?.kind === 'CanaryRelease');
  const fail = (message: string): Loaded<Manifest> => ({ ok: false, problems: [{ file: files, message }] });
  if (!releases.length) {
    return fail('no CanaryRelease found; add one (apiVersion: canaria.dev/v1alpha1, kind: CanaryRelease)');
  }
  const names = releases.map(releaseName);
  if (wanted === undefined) {
    const [only] = releases;
    if (only && releases.length === 1) return { ok: true, value: only };
    return fail(
      `${releases.length} CanaryReleases found (${names.join(', ')}); pick one with --release NAME, e.g. --release ${names[0] ?? ''}`,
    );
  }
  const picked = releases.filter((_, i) => {
    const name = names[i] ?? '';
    return wanted.includes('/')
      ? name === wanted || `default/${name}` === wanted
      : name.split('/').at(-1) === wanted;
  });
  const [one] = picked;
  if (one && picked.length === 1) return { ok: true, value: one };
  return fail(
    picked.length
      ? `--release ${wanted}: ${picked.length} CanaryReleases of that name (${picked.map(releaseName).join(', ')}); name one as namespace/name`
      : `--release ${wanted}: no CanaryRelease of that name in the files; they have ${names.join(', ')}`,
  );
}

/**
 * Puts the release file's objects into an in-memory cluster: the CanaryRelease, its VirtualService and
 * DestinationRule, Deployments (in subsets mode made up from the subsets' labels where the files have
 * none; all ready), and analysis templates (the files' own, over the defaults).
 */
export function loadCluster(
  manifests: readonly Manifest[],
  options: LoadOptions = {},
): Loaded<SimulatedCluster> {
  const problem = (file: string, message: string, line?: number): ManifestProblem =>
    line === undefined ? { file, message } : { file, message, line };
  const picked = pickRelease(manifests, options.release);
  if (!picked.ok) return picked;
  const releaseManifest = picked.value;
  const parsed = parseCanaryRelease(releaseManifest.doc);
  if (!parsed.ok) {
    return {
      ok: false,
      problems: parsed.issues.map((i) =>
        problem(releaseManifest.file, `${i.path}: ${i.message}`, releaseManifest.line(segments(i.path))),
      ),
    };
  }
  const { spec, metadata } = parsed.value;
  const namespace = metadata.namespace ?? 'default';
  const release = { namespace, name: metadata.name };
  const mode = spec.targetRef ? 'managed' : 'subsets';

  const istio = istioResources(manifests);
  if (istio.problems.length) return { ok: false, problems: istio.problems };
  if (spec.trafficRouting.gatewayAPI) return loadGatewayCluster(manifests, releaseManifest, spec, release);
  const inNamespace = <T extends { metadata: { name: string; namespace?: string | undefined } }>(
    list: readonly T[],
    name: string,
  ) => list.find((r) => r.metadata.name === name && (r.metadata.namespace ?? namespace) === namespace);
  const routing = spec.trafficRouting.istio;
  if (!routing) {
    return {
      ok: false,
      problems: [problem(releaseManifest.file, 'spec.trafficRouting: set istio or gatewayAPI')],
    };
  }
  const vs = inNamespace(istio.virtualServices, routing.virtualService.name);
  const dr = inNamespace(istio.destinationRules, routing.destinationRule.name);
  const missing: ManifestProblem[] = [];
  if (!vs) {
    missing.push(
      problem(
        releaseManifest.file,
        `spec.trafficRouting.istio.virtualService.name: VirtualService "${routing.virtualService.name}" (namespace ${namespace}) is not in the files; add it, the simulator routes every request through it`,
      ),
    );
  }
  if (!dr) {
    missing.push(
      problem(
        releaseManifest.file,
        `spec.trafficRouting.istio.destinationRule.name: DestinationRule "${routing.destinationRule.name}" (namespace ${namespace}) is not in the files; add it, ${mode === 'managed' ? 'canaria points its subsets at the primary and at your Deployment' : 'its subsets say which pods are which revision'}`,
      ),
    );
  }
  const { targetName, targetDoc } = findTarget(manifests, spec, namespace, releaseManifest.file, missing);
  if (!vs || !dr || missing.length) return { ok: false, problems: missing };

  const kube = clusterOf(manifests, releaseManifest, namespace);

  const label = spec.analysis?.revisionLabel ?? 'destination_canonical_revision';
  const drRef = { namespace: dr.metadata.namespace ?? namespace, name: dr.metadata.name };
  if (mode === 'subsets') makeUpDeployments(kube, dr, namespace);
  const revisions = subsetRevisions(kube, drRef, label);
  const target = targetDoc && (kube.get('Deployment', { namespace, name: targetName ?? '' }) as Deployment);
  // managed: the canary subset runs the user's pods, the stable one canaria's primary (set up later)
  const canaryValue = target ? reportedRevision(target, label) : undefined;
  const side = (subset: string, managedValue?: string) => ({
    subset,
    revision: (mode === 'managed' ? managedValue : revisions.get(subset)) ?? subset,
  });
  const cluster: SimulatedCluster = {
    kube,
    release,
    file: releaseManifest.file,
    spec,
    mode,
    router: 'istio',
    virtualService: { namespace, name: vs.metadata.name },
    destinationRule: drRef,
    service: { host: dr.spec.host, namespace: drRef.namespace, revisions },
    stable: side(routing.stableSubset),
    canary: side(routing.canarySubset, canaryValue),
    metrics: releaseMetrics(kube, namespace, spec),
  };
  if (target) cluster.target = { namespace, name: target.metadata.name };
  return { ok: true, value: cluster };
}

/** Managed mode: the user's Deployment in the files; a problem added to `missing` when it is not there. */
function findTarget(
  manifests: readonly Manifest[],
  spec: CanaryReleaseSpec,
  namespace: string,
  file: string,
  missing: ManifestProblem[],
): { targetName: string | undefined; targetDoc: Manifest | undefined } {
  const targetName = spec.targetRef?.name;
  const targetDoc =
    targetName === undefined
      ? undefined
      : manifests.find((m) => {
          const d = m.doc as Partial<KubeObject> | null;
          return (
            d?.kind === 'Deployment' &&
            d.metadata?.name === targetName &&
            (d.metadata.namespace ?? namespace) === namespace
          );
        });
  if (targetName !== undefined && !targetDoc) {
    missing.push({
      file,
      message: `spec.targetRef.name: Deployment "${targetName}" (namespace ${namespace}) is not in the files; add it, the simulator sets up its primary copy from it and runs your change of it as the canary`,
    });
  }
  return { targetName, targetDoc };
}

/** An in-memory cluster with the default templates and the files' objects (the one release of them). */
function clusterOf(manifests: readonly Manifest[], releaseManifest: Manifest, namespace: string): MemoryKube {
  const kube = new MemoryKube();
  for (const template of defaultTemplates()) kube.apply('ClusterAnalysisTemplate', template);
  for (const m of manifests) {
    const object = m.doc as KubeObject;
    const kind: unknown = object.kind;
    if (!isKind(kind) || typeof object.metadata !== 'object') continue;
    // the other releases of the files stay out: they would claim the same routes
    if (kind === 'CanaryRelease' && m !== releaseManifest) continue;
    const namespaced = kind !== 'ClusterAnalysisTemplate';
    const placed: KubeObject = namespaced
      ? { ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? namespace } }
      : { ...object };
    // a rollout in the simulation starts from scratch, whatever status the file carries
    if (kind === 'CanaryRelease') delete placed.status;
    kube.apply(kind, kind === 'Deployment' ? ready(placed as Deployment) : placed);
  }
  return kube;
}

/**
 * Gateway API: the CanaryRelease, its HTTPRoute, the Services (subsets mode: one per version, whose
 * selectors pick the Deployments, made up where the files have none; managed mode: the user's, which
 * canaria copies into `-primary` and `-canary`), Deployments and templates.
 */
function loadGatewayCluster(
  manifests: readonly Manifest[],
  releaseManifest: Manifest,
  spec: CanaryReleaseSpec,
  release: Ref,
): Loaded<SimulatedCluster> {
  const { namespace } = release;
  const file = releaseManifest.file;
  const routing = gatewayRoutingOf(spec);
  const mode = spec.targetRef ? 'managed' : 'subsets';
  if (!routing) {
    return {
      ok: false,
      problems: [{ file, message: 'spec.trafficRouting.gatewayAPI: set stableService and canaryService' }],
    };
  }
  const gateway = gatewayResources(manifests);
  if (gateway.problems.length) return { ok: false, problems: gateway.problems };
  const here = <T extends { metadata: { name: string; namespace?: string | undefined } }>(
    list: readonly T[],
    name: string,
  ) => list.find((r) => r.metadata.name === name && (r.metadata.namespace ?? namespace) === namespace);
  const missing: ManifestProblem[] = [];
  const route = here(gateway.httpRoutes, routing.httpRoute.name);
  if (!route) {
    missing.push({
      file,
      message: `spec.trafficRouting.gatewayAPI.httpRoute.name: HTTPRoute "${routing.httpRoute.name}" (namespace ${namespace}) is not in the files; add it, the simulator routes every request through it`,
    });
  }
  const user = managedServiceOf(spec);
  const wanted: [string, string, string][] =
    mode === 'managed' && user !== undefined
      ? [
          [
            spec.service !== undefined ? 'spec.service' : 'spec.targetRef.name',
            user,
            `canaria copies its selector and ports into ${routing.stableService} and ${routing.canaryService}`,
          ],
        ]
      : [
          [
            'spec.trafficRouting.gatewayAPI.stableService',
            routing.stableService,
            'its selector picks the stable pods',
          ],
          [
            'spec.trafficRouting.gatewayAPI.canaryService',
            routing.canaryService,
            'its selector picks the canary pods',
          ],
        ];
  for (const [path, name, why] of wanted) {
    if (!here(gateway.services, name))
      missing.push({
        file,
        message: `${path}: Service "${name}" (namespace ${namespace}) is not in the files; add it, ${why}`,
      });
  }
  const { targetName, targetDoc } = findTarget(manifests, spec, namespace, file, missing);
  if (!route || missing.length) return { ok: false, problems: missing };

  const kube = clusterOf(manifests, releaseManifest, namespace);
  const label = spec.analysis?.revisionLabel ?? 'destination_canonical_revision';
  const sides = [routing.stableService, routing.canaryService];
  if (mode === 'subsets') makeUpServiceDeployments(kube, sides, namespace);
  const revisions = serviceRevisions(kube, namespace, sides, label);
  const target = targetDoc && (kube.get('Deployment', { namespace, name: targetName ?? '' }) as Deployment);
  const canaryValue = target ? reportedRevision(target, label) : undefined;
  const side = (service: string, managedValue?: string) => ({
    subset: service,
    revision: (mode === 'managed' ? managedValue : revisions.get(service)) ?? service,
  });
  const cluster: SimulatedCluster = {
    kube,
    release,
    file,
    spec,
    mode,
    router: 'gatewayAPI',
    httpRoute: { namespace, name: route.metadata.name },
    service: { host: user ?? routing.stableService, namespace, revisions },
    stable: side(routing.stableService),
    canary: side(routing.canaryService, canaryValue),
    metrics: releaseMetrics(kube, namespace, spec),
  };
  if (target) cluster.target = { namespace, name: target.metadata.name };
  return { ok: true, value: cluster };
}

/** Subsets mode with Gateway API: a ready Deployment for each Service whose selector no Deployment matches. */
function makeUpServiceDeployments(kube: MemoryKube, services: readonly string[], namespace: string): void {
  for (const name of services) {
    const selector = (kube.get('Service', { namespace, name }) as Service | undefined)?.spec?.selector;
    if (!selector || !Object.keys(selector).length) continue;
    const deployments = kube.list('Deployment', namespace) as Deployment[];
    if (deployments.some((d) => matches(d.spec?.template?.metadata?.labels, selector))) continue;
    // pods of a made-up Deployment need a label Istio reports as their revision
    const podLabels = { ...selector, ...(selector.version ? {} : { version: name }) };
    kube.apply(
      'Deployment',
      ready({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace },
        spec: {
          replicas: 1,
          selector: { matchLabels: podLabels },
          template: {
            metadata: { labels: podLabels },
            spec: { containers: [{ name, image: `${name}:latest` }] },
          },
        },
      }),
    );
  }
}

/** Subsets mode: a ready Deployment for each subset that no Deployment of the files runs. */
function makeUpDeployments(kube: MemoryKube, dr: DestinationRule, namespace: string): void {
  for (const subset of dr.spec.subsets ?? []) {
    const labels = subset.labels ?? {};
    const deployments = kube.list('Deployment', namespace) as Deployment[];
    if (deployments.some((d) => matches(d.spec?.template?.metadata?.labels, labels))) continue;
    // pods of a made-up Deployment need a label Istio reports as their revision
    const podLabels = { ...labels, ...(labels.version ? {} : { version: subset.name }) };
    const host = dr.spec.host.split('.')[0] ?? dr.spec.host;
    kube.apply(
      'Deployment',
      ready({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `${host}-${subset.name}`, namespace },
        spec: {
          replicas: 1,
          selector: { matchLabels: podLabels },
          template: {
            metadata: { labels: podLabels },
            spec: { containers: [{ name: host, image: `${host}:${subset.name}` }] },
          },
        },
      }),
    );
  }
}
