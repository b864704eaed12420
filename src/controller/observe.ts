import type { AnalysisTemplateSpec } from '../api/analysis-template.js';
import type { CanaryReleaseSpec } from '../api/canary-release.js';
import {
  describeIssues,
  parseAnalysisTemplate,
  parseClusterAnalysisTemplate,
  type ValidationIssue,
} from '../api/validation.js';
import { resolveMetrics, type TemplateCatalog } from '../analysis/resolve.js';
import { routeClaimIssue } from './claims.js';
import type { ResolvedMetric } from '../analysis/types.js';
import { fingerprint } from '../engine/spec-hash.js';
import type { ObservedRouting, Observations } from '../engine/types.js';
import { readRouting } from '../istio/routes.js';
import {
  destinationRule as destinationRuleSchema,
  virtualService as virtualServiceSchema,
  type DestinationRule,
  type VirtualService,
} from '../istio/types.js';
import { validateRoutingTargets } from '../istio/validate.js';
import type { KubePort } from '../kube/port.js';
import type { RevisionLabel } from '../metrics/request-stats.js';
import type { Deployment, KubeObject } from '../kube/resources.js';
import { jsonEqual } from '../kube/json-patch.js';
import { ownedBy, primaryName, REVISION_ANNOTATION } from '../managed/labels.js';
import { planConfigCopies, type ConfigCopyPlan } from '../managed/configs.js';
import { promotedTemplate, targetSelectorIssue } from '../managed/primary.js';
import {
  referencedConfigs,
  revisionLabelKey,
  workloadRevision,
  type ConfigRef,
} from '../managed/revision.js';
import { desiredSubsets, subsetsPointed, type SubsetLabels } from '../managed/subsets.js';

/** What one reconcile reads about a release, all from the caches. */
/** Managed mode: the objects the reconciler acts on, as this reconcile saw them. */
export interface ManagedWorkloads {
  target: Deployment;
  primary?: Deployment;
  /** The pod label that carries the revision Istio reports. */
  revisionKey: string;
  destinationRule: DestinationRule;
  subsets: SubsetLabels;
  /** The primary's copies of the ConfigMaps and Secrets the user's template reads, as of this revision. */
  configs: ConfigCopyPlan;
}

export interface ObserveOptions {
  /** The release's name: what canaria created for it carries it. */
  release: string;
  /** Whether Secrets count in a revision (the controller may read them). */
  trackSecrets: boolean;
  /** The metrics providers the controller has; metrics naming another are a configuration issue. */
  metricsProviders?: readonly string[];
  /** False when the controller runs without managed mode (and without its permissions). */
  managedMode?: boolean;
}

export interface ReleaseObservation {
  observations: Observations;
  metrics: ResolvedMetric[];
  /** The Kubernetes Service measured in Prometheus. */
  service: string;
  /** The revision label values Istio reports for each side, for the queries. */
  reported: { canary?: string | undefined; stable?: string | undefined };
  virtualService?: VirtualService;
  managed?: ManagedWorkloads;
}

const releaseField = (path: string, message: string): ValidationIssue => ({ path, message });

function parseIstio<T>(
  schema: { safeParse(input: unknown): { success: true; data: T } | { success: false } },
  object: KubeObject | undefined,
): T | undefined {
  if (!object) return undefined;
  const parsed = schema.safeParse(object);
  return parsed.success ? parsed.data : undefined;
}

/** The templates a release in `namespace` may use; templates that do not parse are reported when referenced. */
export function templateCatalog(
  kube: KubePort,
  namespace: string,
): { catalog: TemplateCatalog; broken: Map<string, string> } {
  const namespaced = new Map<string, AnalysisTemplateSpec>();
  const cluster = new Map<string, AnalysisTemplateSpec>();
  const broken = new Map<string, string>();
  for (const object of kube.list('AnalysisTemplate', namespace)) {
    const parsed = parseAnalysisTemplate(object);
    if (parsed.ok) namespaced.set(object.metadata.name, parsed.value.spec);
    else broken.set(`AnalysisTemplate/${object.metadata.name}`, describeIssues(parsed.issues));
  }
  for (const object of kube.list('ClusterAnalysisTemplate')) {
    const parsed = parseClusterAnalysisTemplate(object);
    if (parsed.ok) cluster.set(object.metadata.name, parsed.value.spec);
    else broken.set(`ClusterAnalysisTemplate/${object.metadata.name}`, describeIssues(parsed.issues));
  }
  return { catalog: { namespaced, cluster }, broken };
}

const matchesLabels = (labels: Record<string, string> | undefined, wanted: Record<string, string>): boolean =>
  Object.entries(wanted).every(([k, v]) => labels?.[k] === v);

/** A Deployment is ready when its current template is rolled out and available. */
export function deploymentReady(d: Deployment): boolean {
  const wanted = d.spec?.replicas ?? 1;
  const status = d.status ?? {};
  return (
    wanted > 0 &&
    (status.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
    (status.updatedReplicas ?? 0) >= wanted &&
    (status.availableReplicas ?? 0) >= wanted
  );
}

/**
 * The value Istio reports for a pod's revision: `destination_canonical_revision` comes from
 * service.istio.io/canonical-revision, then app.kubernetes.io/version, then version, else "latest";
 * `destination_version` from the version label.
 */
export function reportedRevision(d: Deployment, label: RevisionLabel): string | undefined {
  const labels = d.spec?.template?.metadata?.labels ?? {};
  if (label === 'destination_version') return labels.version;
  return (
    labels['service.istio.io/canonical-revision'] ??
    labels['app.kubernetes.io/version'] ??
    labels.version ??
    'latest'
  );
}

/** A revision is the pod template: any change of it is a new canary. */
export const templateRevision = (d: Deployment): string => fingerprint(d.spec?.template ?? {});

/**
 * Finds the Deployment that runs a subset: the one named in the release, or the one whose pod labels
 * carry the subset's labels. Several candidates are a configuration issue, not a guess.
 */
function subsetDeployment(
  kube: KubePort,
  namespace: string,
  dr: DestinationRule,
  subset: string,
  named: string | undefined,
  path: string,
): { deployment?: Deployment; issue?: ValidationIssue } {
  if (named) {
    const deployment = kube.get('Deployment', { namespace, name: named }) as Deployment | undefined;
    return deployment ? { deployment } : {};
  }
  const labels = dr.spec.subsets?.find((s) => s.name === subset)?.labels;
  if (!labels || !Object.keys(labels).length) return {};
  const candidates = (kube.list('Deployment', namespace) as Deployment[]).filter((d) =>
    matchesLabels(d.spec?.template?.metadata?.labels, labels),
  );
  if (candidates.length > 1) {
    const names = candidates.map((d) => d.metadata.name).join(', ');
    return {
      issue: releaseField(
        path,
        `several Deployments run subset ${subset} (${names}); name the right one in ${path}`,
      ),
    };
  }
  return candidates[0] ? { deployment: candidates[0] } : {};
}

/**
 * Everything `decide` needs to know about a release in subsets mode, read from the caches: whether
 * the configuration holds together, the canary's revision and readiness, and the routing as the
 * VirtualService shows it.
 */
export function observeRelease(
  kube: KubePort,
  namespace: string,
  spec: CanaryReleaseSpec,
  options: ObserveOptions = { release: '', trackSecrets: false },
): ReleaseObservation {
  const istio = spec.trafficRouting.istio;
  const issues: ValidationIssue[] = [];
  const vsName = istio.virtualService.name;
  const drName = istio.destinationRule.name;
  const vsObject = kube.get('VirtualService', { namespace, name: vsName });
  const drObject = kube.get('DestinationRule', { namespace, name: drName });
  const vs = parseIstio<VirtualService>(virtualServiceSchema, vsObject);
  const dr = parseIstio<DestinationRule>(destinationRuleSchema, drObject);
  if (!vsObject) {
    issues.push(
      releaseField(
        'spec.trafficRouting.istio.virtualService.name',
        `VirtualService "${vsName}" not found in namespace "${namespace}"`,
      ),
    );
  } else if (!vs) {
    issues.push(
      releaseField(
        'spec.trafficRouting.istio.virtualService.name',
        `VirtualService "${vsName}" is not a valid VirtualService; run canaria lint on it`,
      ),
    );
  }
  if (!drObject) {
    issues.push(
      releaseField(
        'spec.trafficRouting.istio.destinationRule.name',
        `DestinationRule "${drName}" not found in namespace "${namespace}"`,
      ),
    );
  } else if (!dr) {
    issues.push(
      releaseField(
        'spec.trafficRouting.istio.destinationRule.name',
        `DestinationRule "${drName}" is not a valid DestinationRule; run canaria lint on it`,
      ),
    );
  }
  if (vs && dr) {
    issues.push(
      ...validateRoutingTargets(vs, dr, istio, { subsetLabelsManaged: spec.targetRef !== undefined }),
    );
  }
  const claimed = options.release ? routeClaimIssue(kube, namespace, options.release, spec, vs) : undefined;
  if (claimed) issues.push(claimed);

  const { catalog, broken } = templateCatalog(kube, namespace);
  const resolved = resolveMetrics(
    spec.analysis,
    catalog,
    options.metricsProviders ? { providers: options.metricsProviders } : {},
  );
  for (const issue of resolved.issues) {
    const ref = /^spec\.analysis\.templates\[(\d+)\]/.exec(issue.path);
    const template = ref ? spec.analysis?.templates?.[Number(ref[1])] : undefined;
    const why = template && broken.get(`${template.kind}/${template.name}`);
    issues.push(
      why ? { path: issue.path, message: `${template.kind} "${template.name}" is invalid: ${why}` } : issue,
    );
  }

  const observations: Observations = { canaryReady: false, configIssues: issues };
  const reported: ReleaseObservation['reported'] = {};
  if (dr && spec.subsets) {
    const canary = subsetDeployment(
      kube,
      namespace,
      dr,
      istio.canarySubset,
      spec.subsets.canaryDeployment,
      'spec.subsets.canaryDeployment',
    );
    const stable = subsetDeployment(
      kube,
      namespace,
      dr,
      istio.stableSubset,
      spec.subsets.stableDeployment,
      'spec.subsets.stableDeployment',
    );
    for (const found of [canary, stable]) if (found.issue) issues.push(found.issue);
    const label = spec.analysis?.revisionLabel ?? 'destination_canonical_revision';
    if (canary.deployment) {
      observations.canaryRevision = templateRevision(canary.deployment);
      observations.canaryReady = deploymentReady(canary.deployment);
      reported.canary = reportedRevision(canary.deployment, label);
    }
    if (stable.deployment) {
      observations.stableRevision = templateRevision(stable.deployment);
      reported.stable = reportedRevision(stable.deployment, label);
    }
    if (resolved.metrics.length && canary.deployment && stable.deployment) {
      if (!reported.canary || !reported.stable) {
        issues.push(
          releaseField(
            'spec.analysis.revisionLabel',
            `${label} needs a "version" pod label on both Deployments; add it or use destination_canonical_revision`,
          ),
        );
      } else if (reported.canary === reported.stable) {
        issues.push(
          releaseField(
            'spec.analysis.revisionLabel',
            `the stable and canary pods both report ${label}="${reported.canary}", so Prometheus cannot tell them apart; give the pods distinct version labels`,
          ),
        );
      }
    }
  }
  let managed: ManagedWorkloads | undefined;
  if (spec.targetRef && options.managedMode === false) {
    issues.push(
      releaseField(
        'spec.targetRef',
        'managed mode is turned off in this controller (--managed-mode=false; chart value managedMode.enabled=false), so it neither reads nor writes Deployments for a targetRef; remove spec.targetRef and name the two Deployments in spec.subsets, or turn managed mode on',
      ),
    );
  } else if (dr && spec.targetRef) {
    managed = observeManaged(kube, namespace, spec, dr, options, issues, observations, reported);
  }
  if (vs) {
    const reading = readRouting(vs, istio);
    if (reading.ok) {
      const actual: ObservedRouting = {
        stableWeight: reading.value.stableWeight,
        canaryWeight: reading.value.canaryWeight,
        total: reading.value.total,
        match: reading.value.matchRoute !== undefined,
      };
      if (reading.value.mirrorPercent !== undefined) actual.mirrorPercent = reading.value.mirrorPercent;
      observations.actualRouting = actual;
    }
  }
  const host = dr?.spec.host ?? '';
  const service = spec.service ?? host.split('.')[0] ?? '';
  const result: ReleaseObservation = { observations, metrics: resolved.metrics, service, reported };
  if (vs) result.virtualService = vs;
  if (managed) result.managed = managed;
  return result;
}

/**
 * Managed mode: the user's Deployment runs the canary and `<name>-primary` the stable revision. A
 * revision is the pod template plus the content of the ConfigMaps (and Secrets) it reads.
 */
function observeManaged(
  kube: KubePort,
  namespace: string,
  spec: CanaryReleaseSpec,
  dr: DestinationRule,
  options: ObserveOptions,
  issues: ValidationIssue[],
  observations: Observations,
  reported: ReleaseObservation['reported'],
): ManagedWorkloads | undefined {
  const name = spec.targetRef?.name ?? '';
  const target = kube.get('Deployment', { namespace, name }) as Deployment | undefined;
  if (!target) return undefined; // the release waits for it, as for a canary Deployment
  const label = spec.analysis?.revisionLabel ?? 'destination_canonical_revision';
  const revisionKey = revisionLabelKey(target, label);
  const canaryValue = revisionKey && target.spec?.template?.metadata?.labels?.[revisionKey];
  if (!revisionKey || !canaryValue) {
    const keys =
      label === 'destination_version'
        ? 'a "version" label'
        : 'a "version" label (or app.kubernetes.io/version, service.istio.io/canonical-revision)';
    issues.push(
      releaseField(
        'spec.targetRef.name',
        `Deployment "${name}" has no revision label on its pods; add ${keys} to spec.template.metadata.labels, e.g. version: canary: the canary subset selects its pods by it, and the primary copy gets a value of its own`,
      ),
    );
    return undefined;
  }
  const selectorIssue = targetSelectorIssue(target, revisionKey);
  if (selectorIssue) {
    issues.push(selectorIssue);
    return undefined;
  }
  const primary = kube.get('Deployment', { namespace, name: primaryName(name) }) as Deployment | undefined;
  if (primary && !ownedBy(primary.metadata.labels, options.release)) {
    issues.push(
      releaseField(
        'spec.targetRef.name',
        `Deployment "${primaryName(name)}" exists and was not created by canaria for this release; rename or delete it, canaria keeps its primary copy under that name`,
      ),
    );
    return undefined;
  }
  const lookup = (ref: ConfigRef) =>
    ref.kind === 'Secret' && !options.trackSecrets
      ? ('untracked' as const)
      : kube.get(ref.kind, { namespace, name: ref.name });
  const revision = workloadRevision(target.spec?.template, lookup);
  // from the same cache reads as the revision: the copies hold exactly the content it was judged with
  const configs = planConfigCopies(options.release, namespace, target.spec?.template, lookup);
  issues.push(...configs.issues);
  const untrackedSecrets = options.trackSecrets
    ? []
    : referencedConfigs(target.spec?.template?.spec)
        .filter((ref) => ref.kind === 'Secret')
        .map((ref) => ref.name);
  const subsets = desiredSubsets(spec.trafficRouting.istio, revisionKey, canaryValue);
  observations.canaryRevision = revision;
  observations.canaryReady = deploymentReady(target);
  reported.canary = canaryValue;
  const primaryRevision = primary?.metadata.annotations?.[REVISION_ANNOTATION];
  observations.managed = {
    primaryReady: primary ? deploymentReady(primary) : false,
    primaryReplicas: Math.max(1, primary?.spec?.replicas ?? target.spec?.replicas ?? 1),
    canaryReplicas: target.spec?.replicas ?? 1,
    subsetsPointed: subsetsPointed(dr, subsets),
    untrackedSecrets,
    templateRevertible:
      primary !== undefined && !jsonEqual(promotedTemplate(primary) ?? {}, target.spec?.template ?? {}),
  };
  if (primaryRevision !== undefined) {
    observations.managed.primaryRevision = primaryRevision;
    observations.stableRevision = primaryRevision;
    reported.stable = primary?.spec?.template?.metadata?.labels?.[revisionKey];
  }
  const workloads: ManagedWorkloads = { target, revisionKey, destinationRule: dr, subsets, configs };
  if (primary) workloads.primary = primary;
  return workloads;
}
