import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { loadKubeConfig } from './client.js';

/** A kubeconfig file with one context per named server. */
function kubeconfigFile(servers: Record<string, string>, current: string): string {
  const names = Object.keys(servers);
  const path = join(mkdtempSync(join(tmpdir(), 'canaria-kubeconfig-')), 'config');
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: names.map((name) => ({ name, cluster: { server: servers[name] } })),
      users: [{ name: 'user', user: { token: 'secret' } }],
      contexts: names.map((name) => ({ name, context: { cluster: name, user: 'user' } })),
      'current-context': current,
    }),
  );
  return path;
}

describe('loadKubeConfig', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('loads the given file and switches to the given context', () => {
    const file = kubeconfigFile({ staging: 'https://staging:6443', prod: 'https://prod:6443' }, 'staging');
    expect(loadKubeConfig({ kubeconfig: file }).getCurrentCluster()?.server).toBe('https://staging:6443');
    expect(loadKubeConfig({ kubeconfig: file, context: 'prod' }).getCurrentCluster()?.server).toBe(
      'https://prod:6443',
    );
  });

  it('names the contexts there are when the one asked for is missing', () => {
    const file = kubeconfigFile({ staging: 'https://staging:6443', prod: 'https://prod:6443' }, 'staging');
    expect(() => loadKubeConfig({ kubeconfig: file, context: 'dev' })).toThrow(
      'context "dev" is not in the kubeconfig; pick one of: staging, prod',
    );
  });

  it('uses the in-cluster service account inside a pod that has no KUBECONFIG', () => {
    vi.stubEnv('KUBECONFIG', '');
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.96.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe('https://10.96.0.1:443');
  });

  it('prefers KUBECONFIG over the in-cluster account', () => {
    vi.stubEnv('KUBECONFIG', kubeconfigFile({ laptop: 'https://laptop:6443' }, 'laptop'));
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.96.0.1');
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe('https://laptop:6443');
  });
});
