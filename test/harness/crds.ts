import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { BUILD_COMMAND, REPO_ROOT } from './e2e-paths.js';
import { kubeRequest, type KubeEndpoint } from './kube-http.js';
import { waitUntil } from './wait.js';

/** A CRD as the API server serves it once established. */
export interface EstablishedCrd {
  readonly name: string;
  readonly group: string;
  readonly kind: string;
  readonly plural: string;
  readonly servedVersions: readonly string[];
  readonly storageVersion: string;
}

interface CrdManifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly group: string;
    readonly names: { readonly kind: string; readonly plural: string };
    readonly versions: readonly {
      readonly name: string;
      readonly served: boolean;
      readonly storage: boolean;
    }[];
  };
}

interface CrdStatus {
  readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}

const ISTIO_CRDS_FILE = join(REPO_ROOT, '.cache', 'istio', 'crds.yaml');
/** Gateway API's standard channel, as a cluster installs it (fetched from sigs.k8s.io/gateway-api). */
export const GATEWAY_API_CRDS_DIR = join(REPO_ROOT, '.cache', 'gateway-api', 'standard');
const CHART_CRDS_DIR = join(REPO_ROOT, 'charts', 'canaria', 'files', 'crds');

/**
 * Istio's CRDs (fetched from the istio.io/api module by the build script), Gateway API's standard
 * channel (from sigs.k8s.io/gateway-api), then every CRD of the chart. The chart folder may still be
 * empty; a missing Istio file or Gateway API folder is a setup error.
 */
export function loadCrdManifests(): CrdManifest[] {
  if (!existsSync(ISTIO_CRDS_FILE)) {
    throw new Error(`Istio CRDs not found at ${ISTIO_CRDS_FILE}: run \`${BUILD_COMMAND}\` first`);
  }
  if (!existsSync(GATEWAY_API_CRDS_DIR)) {
    throw new Error(`Gateway API CRDs not found in ${GATEWAY_API_CRDS_DIR}: run \`${BUILD_COMMAND}\` first`);
  }
  const gatewayFiles = readdirSync(GATEWAY_API_CRDS_DIR).filter((file) => /\.ya?ml$/.test(file));
  const files = [ISTIO_CRDS_FILE, ...gatewayFiles.sort().map((file) => join(GATEWAY_API_CRDS_DIR, file))];
  if (existsSync(CHART_CRDS_DIR)) {
    const chartFiles = readdirSync(CHART_CRDS_DIR).filter((file) => /\.ya?ml$/.test(file));
    files.push(...chartFiles.sort().map((file) => join(CHART_CRDS_DIR, file)));
  }
  return files.flatMap((file) => parseCrds(file));
}

function parseCrds(file: string): CrdManifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).flatMap((doc, index) => {
    if (doc.errors.length > 0) {
      throw new Error(`${file}, document ${index}: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value = doc.toJS() as unknown;
    if (value == null) return [];
    const manifest = value as Partial<CrdManifest>;
    if (manifest.kind !== 'CustomResourceDefinition') {
      throw new Error(
        `${file}, document ${index}: expected a CustomResourceDefinition, got kind ${String(manifest.kind)}`,
      );
    }
    return [value as CrdManifest];
  });
}

/**
 * Server-side-applies the CRDs (idempotent, and no client-side model in between that could drop
 * schema fields), then waits until each is Established and its versions appear in discovery, which
 * is what clients resolving kinds to resources rely on.
 */
export async function applyCrds(
  endpoint: KubeEndpoint,
  manifests: readonly CrdManifest[],
  timeoutMs = 60_000,
): Promise<EstablishedCrd[]> {
  for (const manifest of manifests) {
    const response = await kubeRequest(endpoint, {
      method: 'PATCH',
      path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${manifest.metadata.name}?fieldManager=canaria-e2e&force=true`,
      body: manifest,
      contentType: 'application/apply-patch+yaml',
    });
    if (response.status !== 200 && response.status !== 201) {
      throw new Error(
        `applying CRD ${manifest.metadata.name} failed with HTTP ${response.status}: ${JSON.stringify(response.body)}`,
      );
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const manifest of manifests) {
    await waitUntil(
      `CRD ${manifest.metadata.name} to be Established`,
      () => isEstablished(endpoint, manifest.metadata.name),
      {
        deadline,
      },
    );
  }
  const established = manifests.map(describe);
  for (const crd of established) {
    for (const version of crd.servedVersions) {
      await waitUntil(
        `${crd.group}/${version} to serve ${crd.plural}`,
        () => isDiscoverable(endpoint, crd.group, version, crd.plural),
        { deadline },
      );
    }
  }
  return established;
}

function describe(manifest: CrdManifest): EstablishedCrd {
  const storage = manifest.spec.versions.find((version) => version.storage);
  return {
    name: manifest.metadata.name,
    group: manifest.spec.group,
    kind: manifest.spec.names.kind,
    plural: manifest.spec.names.plural,
    servedVersions: manifest.spec.versions.filter((version) => version.served).map((version) => version.name),
    storageVersion: storage?.name ?? '',
  };
}

async function isEstablished(endpoint: KubeEndpoint, name: string): Promise<boolean> {
  const response = await kubeRequest(endpoint, {
    method: 'GET',
    path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
  });
  const conditions = (response.body as CrdStatus).status?.conditions ?? [];
  return conditions.some((condition) => condition.type === 'Established' && condition.status === 'True');
}

async function isDiscoverable(endpoint: KubeEndpoint, group: string, version: string, plural: string) {
  const response = await kubeRequest(endpoint, { method: 'GET', path: `/apis/${group}/${version}` });
  if (response.status !== 200) return false;
  const resources = (response.body as { resources?: readonly { name: string }[] }).resources ?? [];
  return resources.some((resource) => resource.name === plural);
}
