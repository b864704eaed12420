/**
 * Server-side apply of any manifest, as `kubectl apply --server-side` does it: the kind is resolved to
 * its resource through the API server's discovery, so custom resources need no table of their own.
 */
import { kubeRequest, type KubeEndpoint } from './kube-http.js';

export interface ApplyTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string | undefined };
  [field: string]: unknown;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

export interface ResourceInfo {
  /** The plural resource name, as RBAC rules say it. */
  resource: string;
  namespaced: boolean;
}

/** What the API server answered; `ok` for 200/201. */
export interface ApplyResult {
  ok: boolean;
  status: number;
  body: unknown;
}

export class Applier {
  /** By apiVersion: the resources that group/version serves. */
  private readonly discovered = new Map<string, ApiResource[]>();

  constructor(
    private readonly endpoint: KubeEndpoint,
    private readonly fieldManager = 'canaria-tests',
  ) {}

  /** Where the API server keeps this kind; throws when it does not serve it. */
  async resourceOf(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const resources = await this.discover(apiVersion, false);
    let found = resources.find((r) => r.kind === kind && !r.name.includes('/'));
    // A CRD created since the last look: discovery is asked again once.
    if (found === undefined)
      found = (await this.discover(apiVersion, true)).find((r) => r.kind === kind && !r.name.includes('/'));
    if (found === undefined) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
    return { resource: found.name, namespaced: found.namespaced };
  }

  /** The URL path of one object of this manifest's kind. */
  async pathOf(manifest: ApplyTarget): Promise<string> {
    const { resource, namespaced } = await this.resourceOf(manifest.apiVersion, manifest.kind);
    if (namespaced && manifest.metadata.namespace === undefined)
      throw new Error(`${manifest.kind} ${manifest.metadata.name} has no namespace`);
    const base = manifest.apiVersion.includes('/')
      ? `/apis/${manifest.apiVersion}`
      : `/api/${manifest.apiVersion}`;
    const scope = namespaced ? `/namespaces/${manifest.metadata.namespace ?? ''}` : '';
    return `${base}${scope}/${resource}/${manifest.metadata.name}`;
  }

  /** Server-side apply; with dryRun the API server validates and admits it but stores nothing. */
  async apply(manifest: ApplyTarget, options: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    const query = new URLSearchParams({ fieldManager: this.fieldManager, force: 'true' });
    if (options.dryRun === true) query.set('dryRun', 'All');
    const response = await kubeRequest(this.endpoint, {
      method: 'PATCH',
      path: `${await this.pathOf(manifest)}?${query.toString()}`,
      body: manifest,
      contentType: 'application/apply-patch+yaml',
    });
    return { ok: response.status === 200 || response.status === 201, ...response };
  }

  /** Applies and throws with the API server's answer unless it accepted the manifest. */
  async mustApply(manifest: ApplyTarget, options: { dryRun?: boolean } = {}): Promise<void> {
    const result = await this.apply(manifest, options);
    if (!result.ok) {
      throw new Error(
        `${options.dryRun === true ? 'dry-run ' : ''}apply of ${manifest.kind} ${manifest.metadata.name} ` +
          `failed with HTTP ${result.status}: ${JSON.stringify(result.body)}`,
      );
    }
  }

  private async discover(apiVersion: string, fresh: boolean): Promise<ApiResource[]> {
    const cached = this.discovered.get(apiVersion);
    if (cached !== undefined && !fresh) return cached;
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const response = await kubeRequest(this.endpoint, { method: 'GET', path });
    const resources =
      response.status === 200 ? ((response.body as { resources?: ApiResource[] }).resources ?? []) : [];
    this.discovered.set(apiVersion, resources);
    return resources;
  }
}
