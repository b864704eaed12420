import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metric, release } from '../../test/harness/metrics-fixtures.js';
import { PROVIDER_TYPES } from '../api/analysis-template.js';
import type { MeasurementRequest, MetricsProvider } from './provider.js';
import {
  METRICS_PROVIDERS,
  MetricsRouter,
  parseProvidersFile,
  type MetricsProviderConfig,
  type MetricsProviderSettings,
} from './registry.js';

describe('METRICS_PROVIDERS', () => {
  it('has an entry for every provider type the API accepts', () => {
    expect(Object.keys(METRICS_PROVIDERS).sort()).toEqual([...PROVIDER_TYPES].sort());
  });
});

/** A provider type that records which settings each backend was built with and what it was asked. */
function recordingType() {
  const calls: { address: string; requests: readonly MeasurementRequest[] }[] = [];
  const created: MetricsProviderSettings[] = [];
  const create = (settings: MetricsProviderSettings): MetricsProvider => {
    created.push(settings);
    return {
      measure(requests) {
        calls.push({ address: settings.address, requests });
        return Promise.resolve(
          new Map(
            requests.map((r) => [
              r.key,
              new Map(
                r.metrics.map((m) => [
                  m.name,
                  { kind: 'scalar' as const, canary: 1, stable: null, query: settings.address },
                ]),
              ),
            ]),
          ),
        );
      },
    };
  };
  return { calls, created, types: { prometheus: { create } } };
}

const providers: MetricsProviderConfig[] = [
  {
    name: 'default',
    type: 'prometheus',
    settings: { address: 'http://default:9090', bearerToken: 'default-token' },
  },
  {
    name: 'thanos',
    type: 'prometheus',
    settings: { address: 'http://thanos:9090', headers: { 'X-Scope-OrgID': 'team-a' } },
  },
];

describe('MetricsRouter', () => {
  it('sends each metric to the provider it names, in one batch per provider, and merges the answers', async () => {
    const { calls, created, types } = recordingType();
    const router = new MetricsRouter(providers, types);
    const remote = metric({ name: 'remote', type: 'promql', query: 'x', provider: { name: 'thanos' } });
    const local = metric({ name: 'local', type: 'errorRatio' });
    const measured = await router.measure([
      release({ name: 'a', metrics: [local, remote] }),
      release({ name: 'b', metrics: [local] }),
    ]);
    expect(
      calls.map((c) => [
        c.address,
        c.requests.map((r) => `${r.key}:${r.metrics.map((m) => m.name).join('+')}`),
      ]),
    ).toEqual([
      ['http://default:9090', ['shop/a:local', 'shop/b:local']],
      ['http://thanos:9090', ['shop/a:remote']],
    ]);
    expect(measured.get('shop/a')?.get('remote')).toMatchObject({ query: 'http://thanos:9090' });
    expect(measured.get('shop/a')?.get('local')).toMatchObject({ query: 'http://default:9090' });
    await router.measure([release({ name: 'c', metrics: [remote] })]);
    expect(calls).toHaveLength(3);
    expect(created.map((s) => s.address)).toEqual(['http://default:9090', 'http://thanos:9090']);
  });

  it("builds each backend from its own settings only: the default's token never reaches another provider", async () => {
    const { created, types } = recordingType();
    const router = new MetricsRouter(providers, types);
    await router.measure([
      release({ metrics: [metric({ name: 'remote', type: 'errorRatio', provider: { name: 'thanos' } })] }),
    ]);
    expect(created).toEqual([{ address: 'http://thanos:9090', headers: { 'X-Scope-OrgID': 'team-a' } }]);
  });

  it('measures a metric that names an unknown provider nowhere, as a non-retryable error', async () => {
    const { calls, created, types } = recordingType();
    const router = new MetricsRouter(providers, types);
    const measured = await router.measure([
      release({
        metrics: [
          metric({ name: 'elsewhere', type: 'errorRatio', provider: { name: 'attacker' } }),
          metric({ name: 'local', type: 'errorRatio' }),
        ],
      }),
    ]);
    expect(measured.get('shop/reviews')?.get('elsewhere')).toMatchObject({
      kind: 'error',
      error: { code: 'BadQuery', retryable: false, message: expect.stringMatching(/"attacker"/) as string },
    });
    expect(calls.flatMap((c) => c.requests.flatMap((r) => r.metrics.map((m) => m.name)))).toEqual(['local']);
    expect(created.map((s) => s.address)).toEqual(['http://default:9090']);
    expect(router.names()).toEqual(['default', 'thanos']);
  });
});

describe('parseProvidersFile', () => {
  it('reads named providers with their own address, auth, tenant header and tuning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'canaria-providers-'));
    writeFileSync(join(dir, 'username'), 'reader\n');
    writeFileSync(join(dir, 'password'), 's3cret\n');
    const problems: string[] = [];
    const parsed = parseProvidersFile(
      {
        providers: [
          {
            name: 'mimir',
            address: 'https://mimir.monitoring:8080/prometheus',
            timeout: '20s',
            windowGranularity: '30s',
            headers: { 'X-Scope-OrgID': 'team-a' },
            bearerTokenFile: '/var/run/canaria/providers/mimir/token',
          },
          {
            name: 'thanos',
            type: 'prometheus',
            address: 'http://thanos:9090',
            basicAuth: { usernameFile: join(dir, 'username'), passwordFile: join(dir, 'password') },
          },
        ],
      },
      'providers.yaml',
      problems,
    );
    expect(problems).toEqual([]);
    expect(parsed).toEqual([
      {
        name: 'mimir',
        type: 'prometheus',
        settings: {
          address: 'https://mimir.monitoring:8080/prometheus',
          timeoutMs: 20_000,
          windowGranularityMs: 30_000,
          headers: { 'X-Scope-OrgID': 'team-a' },
          bearerTokenFile: '/var/run/canaria/providers/mimir/token',
        },
      },
      {
        name: 'thanos',
        type: 'prometheus',
        settings: { address: 'http://thanos:9090', basicAuth: { username: 'reader', password: 's3cret' } },
      },
    ]);
  });

  it('reports every problem with the entry and the field', () => {
    const problems: string[] = [];
    parseProvidersFile(
      {
        providers: [
          { name: 'default', address: 'http://x:9090' },
          { name: 'a', address: 'ftp://x' },
          { name: 'a2', address: 'http://x:9090', token: 'inline' },
          { name: 'b', type: 'datadog', address: 'http://x' },
          { name: 'c', address: 'http://x', basicAuth: { usernameFile: '/nope/u', passwordFile: '/nope/p' } },
        ],
      },
      'providers.yaml',
      problems,
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /^providers\.yaml: providers\[0\]\.name: "default" is the provider of the --prometheus-\* flags/,
      ),
      expect.stringMatching(/^providers\.yaml: providers\[1\]\.address: must be an http\(s\) URL/),
      expect.stringMatching(
        /^providers\.yaml: providers\[2\]: unknown field "token"; known fields: address, /,
      ),
      expect.stringMatching(/^providers\.yaml: providers\[3\]\.type: must be one of: prometheus/),
      expect.stringMatching(
        /^providers\.yaml: providers\[4\]\.basicAuth\.usernameFile: cannot read \/nope\/u/,
      ),
      expect.stringMatching(
        /^providers\.yaml: providers\[4\]\.basicAuth\.passwordFile: cannot read \/nope\/p/,
      ),
    ]);
    const shape: string[] = [];
    parseProvidersFile([{ name: 'x' }], 'p.yaml', shape);
    expect(shape).toEqual([expect.stringMatching(/^p\.yaml: must be a mapping with a list "providers"/)]);
  });
});
