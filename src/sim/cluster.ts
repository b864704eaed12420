import { readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { CanaryReleaseSpec } from '../api/canary-release.js';
import { parseCanaryRelease } from '../api/validation.js';
import { reportedRevision } from '../controller/observe.js';
import { istioResources, type Manifest, type ManifestProblem } from '../istio/manifests.js';
import type { PathSegments } from '../istio/validate.js';
import { MemoryKube } from '../kube/memory.js';
import { ALL_KINDS, type Deployment, type Kind, type KubeObject, type Ref } from '../kube/resources.js';
import type { ServiceTargets } from './traffic.js';

/** The release in a simulated cluster: everything the simulator needs besides the scenario. */
export interface SimulatedCluster {
  kube: MemoryKube;
  release: Ref;
  spec: CanaryReleaseSpec;
  virtualService: Ref;
  service: ServiceTargets;
  /** Subset and reported revision value of each side. */
  stable: { subset: string; revision: string };
  canary: { subset: string; revision: string };
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

/** Deployments in the simulation run their pods: ready, at their wanted replica count. */
function ready(d: Deployment): Deployment {
  const replicas = d.spec?.replicas ?? 1;
  return {
    ...d,
    status: {
      observedGeneration: 1,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
    },
  };
}

const matches = (labels: Record<string, string> | undefined, wanted: Record<string, string>): boolean =>
  Object.entries(wanted).every(([k, v]) => labels?.[k] === v);

/**
 * Puts the release file's objects into an in-memory cluster: the CanaryRelease, its VirtualService and
 * DestinationRule, Deployments (made up from the subsets' labels where the files have none, all
 * ready), and analysis templates (the files' own, over the defaults).
 */
export function loadCluster(manifests: readonly Manifest[]): Loaded<SimulatedCluster> {
  const problem = (file: string, message: string, line?: number): ManifestProblem =>
    line === undefined ? { file, message } : { file, message, line };
  const releases = manifests.filter((m) => (m.doc as { kind?: unknown } | null)?.kind === 'CanaryRelease');
  const [releaseManifest] = releases;
  if (!releaseManifest || releases.length > 1) {
    const files = [...new Set(manifests.map((m) => m.file))].join(', ') || 'the files';
    return {
      ok: false,
      problems: [
        problem(
          files,
          releaseManifest
            ? `${releases.length} CanaryReleases found; simulate one at a time (put the others in another file)`
            : 'no CanaryRelease found; add one (apiVersion: canaria.dev/v1alpha1, kind: CanaryRelease)',
        ),
      ],
    };
  }
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
  if (!spec.subsets) {
    return {
      ok: false,
      problems: [
        problem(
          releaseManifest.file,
          'spec.targetRef: managed mode cannot be simulated yet; simulate the policy in subsets mode (spec.subsets: {})',
        ),
      ],
    };
  }

  const istio = istioResources(manifests);
  if (istio.problems.length) return { ok: false, problems: istio.problems };
  const inNamespace = <T extends { metadata: { name: string; namespace?: string | undefined } }>(
    list: readonly T[],
    name: string,
  ) => list.find((r) => r.metadata.name === name && (r.metadata.namespace ?? namespace) === namespace);
  const routing = spec.trafficRouting.istio;
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
        `spec.trafficRouting.istio.destinationRule.name: DestinationRule "${routing.destinationRule.name}" (namespace ${namespace}) is not in the files; add it, its subsets say which pods are which revision`,
      ),
    );
  }
  if (!vs || !dr) return { ok: false, problems: missing };

  const kube = new MemoryKube();
  for (const template of defaultTemplates()) kube.apply('ClusterAnalysisTemplate', template);
  for (const m of manifests) {
    const object = m.doc as KubeObject;
    const kind: unknown = object.kind;
    if (!isKind(kind) || typeof object.metadata !== 'object') continue;
    const namespaced = kind !== 'ClusterAnalysisTemplate';
    const placed: KubeObject = namespaced
      ? { ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? namespace } }
      : { ...object };
    // a rollout in the simulation starts from scratch, whatever status the file carries
    if (kind === 'CanaryRelease') delete placed.status;
    kube.apply(kind, kind === 'Deployment' ? ready(placed as Deployment) : placed);
  }

  const label = spec.analysis?.revisionLabel ?? 'destination_canonical_revision';
  const deployments = () => kube.list('Deployment', namespace) as Deployment[];
  const revisions = new Map<string, string>();
  for (const subset of dr.spec.subsets ?? []) {
    const labels = subset.labels ?? {};
    let deployment = deployments().find((d) => matches(d.spec?.template?.metadata?.labels, labels));
    if (!deployment) {
      // pods of a made-up Deployment need a label Istio reports as their revision
      const podLabels = { ...labels, ...(labels.version ? {} : { version: subset.name }) };
      const host = dr.spec.host.split('.')[0] ?? dr.spec.host;
      deployment = ready({
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
      });
      kube.apply('Deployment', deployment);
    }
    const revision = reportedRevision(deployment, label);
    if (revision !== undefined) revisions.set(subset.name, revision);
  }
  const side = (subset: string) => ({ subset, revision: revisions.get(subset) ?? subset });
  return {
    ok: true,
    value: {
      kube,
      release,
      spec,
      virtualService: { namespace, name: vs.metadata.name },
      service: { host: dr.spec.host, namespace: dr.metadata.namespace ?? namespace, revisions },
      stable: side(routing.stableSubset),
      canary: side(routing.canarySubset),
    },
  };
}
