import type { AnalysisTemplateSpec } from '../api/analysis-template.js';
import type { CanaryReleaseSpec } from '../api/canary-release.js';
import {
  describeIssues,
  parseAnalysisTemplate,
  parseClusterAnalysisTemplate,
  type ValidationIssue,
} from '../api/validation.js';
import { resolveMetrics, type TemplateCatalog } from '../analysis/resolve.js';
import type { ResolvedMetric } from '../analysis/types.js';
import type { Observations } from '../engine/index.js';
import { routingSides } from '../api/routing.js';
import { routerOf } from '../routers/registry.js';
import type { RouterKey, RoutingView, Side } from '../routers/router.js';
import type { KubePort } from '../kube/port.js';
import type { Deployment } from '../kube/resources.js';
import { observeManaged, type ManagedWorkloads } from './managed.js';
import {
  deploymentReady,
  releaseField,
  reportedRevision,
  templateRevision,
  type Reported,
} from './workloads.js';

export interface ObserveOptions {
  /** The release's name: what canaria created for it carries it. */
  release: string;
  /** Whether Secrets count in a revision (the controller may read them). */
  trackSecrets: boolean;
  /** The metrics providers the controller has; metrics naming another are a configuration issue. */
  metricsProviders?: readonly string[];
  /** False when the controller runs without managed mode (and without its permissions). */
  managedMode?: boolean;
  /** The traffic routers this controller runs (and has the permissions of); all when undefined. */
  routers?: readonly RouterKey[];
}

export interface ReleaseObservation {
  observations: Observations;
  metrics: ResolvedMetric[];
  /** The Kubernetes Service each side's requests are measured under in Prometheus. */
  services: Record<Side, string>;
  /** The revision label values Istio reports for each side, for the queries. */
  reported: Reported;
  /** The release's routing as its router read it, and how to change it. */
  routing?: RoutingView;
  managed?: ManagedWorkloads;
  /** The pod labels a side's Deployment was looked for by, and the Deployments that carried them. */
  selected?: Selected[];
}

export interface Selected {
  labels: Record<string, string>;
  names: string[];
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

/**
 * Finds the Deployment that runs one side: the one named in the release, or the one whose pod labels
 * carry the side's labels (its subset's, or its Service's selector). Several candidates are a
 * configuration issue, not a guess.
 */
function sideDeployment(
  kube: KubePort,
  namespace: string,
  labels: Record<string, string> | undefined,
  what: string,
  named: string | undefined,
  path: string,
): { deployment?: Deployment; issue?: ValidationIssue; selected?: Selected } {
  if (named) {
    const deployment = kube.get('Deployment', { namespace, name: named }) as Deployment | undefined;
    return deployment ? { deployment } : {};
  }
  if (!labels || !Object.keys(labels).length) return {};
  const candidates = (kube.list('Deployment', namespace) as Deployment[]).filter((d) =>
    matchesLabels(d.spec?.template?.metadata?.labels, labels),
  );
  const selected = { labels, names: candidates.map((d) => d.metadata.name) };
  if (candidates.length > 1) {
    return {
      issue: releaseField(
        path,
        `several Deployments run ${what} (${selected.names.join(', ')}); name the right one in ${path}`,
      ),
      selected,
    };
  }
  return candidates[0] ? { deployment: candidates[0], selected } : { selected };
}

/**
 * Everything `decide` needs to know about a release, read from the caches: whether the configuration
 * holds together, the canary's revision and readiness, and the routing as its router shows it.
 */
export function observeRelease(
  kube: KubePort,
  namespace: string,
  spec: CanaryReleaseSpec,
  options: ObserveOptions = { release: '', trackSecrets: false },
): ReleaseObservation {
  const issues: ValidationIssue[] = [];
  const router = routerOf(spec);
  const sides = routingSides(spec);
  let routing: RoutingView | undefined;
  if (options.routers && !options.routers.includes(router.key)) {
    issues.push(
      releaseField(
        sides.path,
        `the ${router.key} router is not enabled in this controller (--routers=${options.routers.join(',')}; chart value routers.${router.key}.enabled), so it neither reads nor patches ${router.kinds.join(' or ')}s; enable it, or use another router`,
      ),
    );
  } else {
    routing = router.observe(kube, namespace, spec, { release: options.release });
    issues.push(...routing.issues);
  }

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
  const selected: Selected[] = [];
  if (routing && spec.subsets) {
    const find = (side: Side, named: string | undefined, path: string) =>
      sideDeployment(
        kube,
        namespace,
        routing.podLabels(side),
        `${sides.side} ${sides[side].name}`,
        named,
        path,
      );
    const canary = find('canary', spec.subsets.canaryDeployment, 'spec.subsets.canaryDeployment');
    const stable = find('stable', spec.subsets.stableDeployment, 'spec.subsets.stableDeployment');
    for (const found of [canary, stable]) {
      if (found.issue) issues.push(found.issue);
      if (found.selected) selected.push(found.selected);
    }
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
    const sameService = routing.services.stable === routing.services.canary;
    if (resolved.metrics.length && canary.deployment && stable.deployment && sameService) {
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
  } else if (routing && spec.targetRef) {
    managed = observeManaged(kube, namespace, spec, routing, options, issues, observations, reported);
  }
  if (routing?.actual) observations.actualRouting = routing.actual;
  const services = routing?.services ?? { stable: spec.service ?? '', canary: spec.service ?? '' };
  const result: ReleaseObservation = {
    observations,
    metrics: resolved.metrics,
    services,
    reported,
    selected,
  };
  if (routing) result.routing = routing;
  if (managed) result.managed = managed;
  return result;
}
