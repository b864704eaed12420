import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { watchedKinds } from '../kube/resources.js';
import { ConfigError, loadControllerConfig } from './config.js';

describe('loadControllerConfig', () => {
  it('has working defaults', () => {
    const config = loadControllerConfig({}, {});
    expect(config).toMatchObject({
      namespaces: [],
      metricsProviders: [
        {
          name: 'default',
          type: 'prometheus',
          settings: {
            address: 'http://prometheus.istio-system:9090',
            timeoutMs: 10_000,
            windowGranularityMs: 60_000,
          },
        },
      ],
      leaderElection: { enabled: true, namespace: 'canaria-system', name: 'canaria-leader' },
      metricsPort: 8080,
      concurrency: 8,
      resync: '*/5 * * * *',
      logLevel: 'info',
    });
  });

  it('reads flags first, then the environment', () => {
    const config = loadControllerConfig(
      {
        prometheusUrl: 'http://mimir:8080/prometheus',
        namespaces: 'shop, payments',
        prometheusHeaders: ['X-Scope-OrgID: team-a'],
      },
      {
        CANARIA_PROMETHEUS_URL: 'http://ignored:9090',
        CANARIA_LEADER_ELECT: 'false',
        POD_NAME: 'canaria-0',
        POD_NAMESPACE: 'ops',
      },
    );
    expect(config.metricsProviders[0]?.settings).toMatchObject({
      address: 'http://mimir:8080/prometheus',
      headers: { 'X-Scope-OrgID': 'team-a' },
    });
    expect(config.namespaces).toEqual(['shop', 'payments']);
    expect(config.leaderElection).toEqual({
      enabled: false,
      namespace: 'ops',
      name: 'canaria-leader',
      identity: 'canaria-0',
    });
  });

  it('reports every problem at once, naming the flag and the variable', () => {
    let error: unknown;
    try {
      loadControllerConfig(
        {
          prometheusUrl: 'prometheus:9090',
          metricsPort: '99999',
          prometheusTimeout: 'ten',
          prometheusHeaders: ['no colon'],
        },
        { CANARIA_LEADER_ELECT: 'maybe', CANARIA_PROMETHEUS_USERNAME: 'u' },
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(
      /--prometheus-url \(or CANARIA_PROMETHEUS_URL\): "prometheus:9090" must be an http\(s\) URL/,
    );
    expect(problems).toMatch(
      /--metrics-port \(or CANARIA_METRICS_PORT\): "99999" must be a whole number from 0 to 65535/,
    );
    expect(problems).toMatch(/--prometheus-timeout .*"ten" is not a duration/);
    expect(problems).toMatch(/--prometheus-header .*'Name: value'/);
    expect(problems).toMatch(/--leader-elect \(or CANARIA_LEADER_ELECT\): "maybe" must be true or false/);
    expect(problems).toMatch(/set both for basic auth/);
  });

  it('adds the named providers of --metrics-providers-file after the default one', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'canaria-config-')), 'providers.yaml');
    writeFileSync(
      file,
      [
        'providers:',
        '  - name: thanos',
        '    address: http://thanos-query.monitoring:9090',
        '    headers: {X-Scope-OrgID: team-a}',
      ].join('\n'),
    );
    const config = loadControllerConfig({}, { CANARIA_METRICS_PROVIDERS_FILE: file });
    expect(config.metricsProviders.map((p) => [p.name, p.settings.address, p.settings.headers])).toEqual([
      ['default', 'http://prometheus.istio-system:9090', undefined],
      ['thanos', 'http://thanos-query.monitoring:9090', { 'X-Scope-OrgID': 'team-a' }],
    ]);
  });

  it('reports a providers file it cannot read, or a bad entry, with the flag and the field', () => {
    const problems = (raw: Record<string, string>) => {
      try {
        loadControllerConfig(raw, {});
      } catch (err) {
        return (err as ConfigError).problems.join('\n');
      }
      return '';
    };
    expect(problems({ metricsProvidersFile: '/nonexistent/providers.yaml' })).toMatch(
      /--metrics-providers-file \(or CANARIA_METRICS_PROVIDERS_FILE\): cannot read \/nonexistent\/providers\.yaml/,
    );
    const file = join(mkdtempSync(join(tmpdir(), 'canaria-config-')), 'providers.yaml');
    writeFileSync(file, 'providers:\n  - name: Thanos\n    address: http://thanos:9090\n');
    expect(problems({ metricsProvidersFile: file })).toMatch(
      /providers\.yaml: providers\[0\]\.name: must be lowercase/,
    );
  });

  it('reads the controller-wide error rules, with gRPC failures counted by default', () => {
    expect(loadControllerConfig({}, {}).metricsProviders[0]?.settings.errors).toEqual({
      httpCodes: ['5xx'],
      responseFlags: [],
      grpcCodes: ['UNKNOWN', 'DEADLINE_EXCEEDED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS'],
    });
    const config = loadControllerConfig(
      { errorHttpCodes: '5xx, 429', errorGrpcCodes: '' },
      { CANARIA_ERROR_RESPONSE_FLAGS: 'UF,URX' },
    );
    expect(config.metricsProviders[0]?.settings.errors).toEqual({
      httpCodes: ['5xx', '429'],
      responseFlags: ['UF', 'URX'],
      grpcCodes: [],
    });
    let error: unknown;
    try {
      loadControllerConfig({ errorHttpCodes: '5..', errorGrpcCodes: 'UNAVAILABLE,14' }, {});
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(
        /^--error-http-codes \(or CANARIA_ERROR_HTTP_CODES\): "5\.\." must be an HTTP status such as 429, or a class such as 5xx/,
      ),
      expect.stringMatching(
        /^--error-grpc-codes \(or CANARIA_ERROR_GRPC_CODES\): "14" must be a gRPC status name: OK, CANCELLED/,
      ),
    ]);
  });

  it('runs managed mode unless told not to, and then watches none of its kinds', () => {
    expect(loadControllerConfig({}, {}).managedMode).toBe(true);
    const off = loadControllerConfig({ managedMode: 'false' }, {});
    expect(off.managedMode).toBe(false);
    expect(watchedKinds(off)).toEqual([
      'CanaryRelease',
      'AnalysisTemplate',
      'ClusterAnalysisTemplate',
      'VirtualService',
      'DestinationRule',
      'Deployment',
    ]);
    expect(watchedKinds(loadControllerConfig({}, { CANARIA_TRACK_SECRETS: 'true' }))).toContain('Secret');
    expect(watchedKinds(loadControllerConfig({}, {}))).toEqual(
      expect.arrayContaining(['ConfigMap', 'HorizontalPodAutoscaler']),
    );
    let error: unknown;
    try {
      loadControllerConfig({ managedMode: 'false', trackSecrets: 'true' }, {});
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).problems).toEqual([
      '--track-secrets (or CANARIA_TRACK_SECRETS): Secrets count only in managed mode, which --managed-mode (or CANARIA_MANAGED_MODE) turns off; drop one of the two',
    ]);
  });

  it('reads the notification sinks file, and an unknown sink type names its field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'canaria-config-'));
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      'sinks:\n  - {name: ops, type: slack, urlFile: /etc/canaria/notifications/ops/url, severity: warning}\n',
    );
    const config = loadControllerConfig({ notificationsFile: good }, {});
    expect(config.notificationSinks).toMatchObject([
      { name: 'ops', type: 'slack', severity: 'warning', attempts: 5 },
    ]);
    expect(config.releaseNotifications).toBe(true);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'sinks:\n  - {name: ops, type: discord, urlFile: /u}\n');
    expect(() => loadControllerConfig({ notificationsFile: bad }, {})).toThrow(
      `${bad}: sinks[0].type: unknown sink type "discord"; use one of slack, teams, cloudevents`,
    );
  });

  describe('sharding', () => {
    it('is off by default, and the Lease keeps its name', () => {
      const config = loadControllerConfig({}, {});
      expect(config.shard).toEqual({ id: 'all' });
      expect(config.leaderElection.name).toBe('canaria-leader');
    });

    it('names the Lease after the shard, so shards elect apart', () => {
      const hash = loadControllerConfig({ shardIndex: '1', shardCount: '3' }, {});
      expect(hash.shard).toMatchObject({ id: '1-of-3', hash: { index: 1, count: 3 } });
      expect(hash.leaderElection.name).toBe('canaria-leader-shard-1-of-3');
      const selector = loadControllerConfig({}, { CANARIA_SHARD_SELECTOR: 'team=payments' });
      expect(selector.shard.selector?.requirements).toEqual([
        { key: 'team', op: 'in', values: ['payments'] },
      ]);
      expect(selector.leaderElection.name).toMatch(/^canaria-leader-shard-sel-[0-9a-f]{8}$/);
      const both = loadControllerConfig(
        { shardIndex: '0', shardCount: '2', shardSelector: 'team=payments' },
        {},
      );
      expect(both.leaderElection.name).toBe(`${selector.leaderElection.name}-0-of-2`);
    });

    it('treats one hash shard as no sharding', () => {
      expect(loadControllerConfig({ shardIndex: '0', shardCount: '1' }, {}).shard).toEqual({ id: 'all' });
    });

    it.each([
      [
        { shardIndex: '2', shardCount: '2' },
        /--shard-index \(or CANARIA_SHARD_INDEX\): "2" must be a whole number from 0 to 1 \(--shard-count .* is 2\)/,
      ],
      [
        { shardIndex: '0', shardCount: '0' },
        /--shard-count \(or CANARIA_SHARD_COUNT\): "0" must be a whole number of shards, 1 or more/,
      ],
      [{ shardIndex: '0' }, /--shard-count .*: "" must be a whole number of shards/],
      [{ shardCount: '2' }, /--shard-index .*: "" must be a whole number from 0 to 1/],
      [{ shardIndex: '-1', shardCount: '2' }, /--shard-index .*: "-1"/],
      [
        { shardSelector: 'team=a b' },
        /--shard-selector \(or CANARIA_SHARD_SELECTOR\): "team=a b" has an invalid label value/,
      ],
    ])('refuses %o with the flag and the fix', (raw, message) => {
      expect(() => loadControllerConfig(raw, {})).toThrow(message);
    });
  });
});
