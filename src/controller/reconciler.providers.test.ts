/**
 * Metrics backends come from the operator only. A template in a watched namespace that names an
 * address (or a provider the controller does not have) is a configuration error, and the controller
 * sends nothing anywhere: checked with the real reconciler, the real metrics router and Prometheus
 * client, and real listening sockets that record every connection.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import { API_VERSION } from '../api/meta.js';
import { MetricsRouter } from '../metrics/registry.js';
import { silentLogger } from '../telemetry/logger.js';
import { baseSpecInput } from '../../test/builders/release.js';
import { managedPrimary, NAMESPACE, reviewsCluster } from '../../test/builders/cluster.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';

const KEY = `${NAMESPACE}/reviews`;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A TCP socket that records every connection and answers none: where a leaked token would go. */
async function recordingSocket(): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

/** The operator's Prometheus: answers every query with an empty vector and records the auth it got. */
async function operatorPrometheus(): Promise<{ url: string; authorizations: (string | undefined)[] }> {
  const authorizations: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    req.resume();
    req.on('end', () =>
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, authorizations };
}

function template(provider: Record<string, unknown> | undefined) {
  return {
    apiVersion: API_VERSION,
    kind: 'AnalysisTemplate',
    metadata: { name: 'errors', namespace: NAMESPACE },
    spec: {
      metrics: [
        {
          name: 'errors',
          type: 'errorRatio',
          judge: { type: 'threshold', max: 0.01 },
          ...(provider ? { provider } : {}),
        },
      ],
    },
  };
}

/** The reviews release analysing with the namespaced template, on the real router to `prometheusUrl`. */
function world(prometheusUrl: string, provider: Record<string, unknown> | undefined) {
  const kube = reviewsCluster({
    ...managedPrimary(baseSpecInput()),
    strategy: { steps: [{ setWeight: 10 }, { analysis: {} }, { setWeight: 50 }] },
    analysis: { interval: '1m', templates: [{ name: 'errors' }] },
  });
  kube.apply('AnalysisTemplate', template(provider));
  let now = new Date('2026-11-21T10:00:00Z');
  const router = new MetricsRouter([
    {
      name: 'default',
      type: 'prometheus',
      settings: {
        address: prometheusUrl,
        bearerToken: 'the-controllers-token',
        timeoutMs: 2000,
        retries: 0,
        windowGranularityMs: 1000,
      },
    },
  ]);
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(router, 0),
    clock: () => now,
    logger: silentLogger(),
    metricsProviders: router.names(),
  });
  const status = () =>
    kube.get('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' })?.status as
      CanaryReleaseStatus | undefined;
  return {
    kube,
    status,
    /** Reconciles as the queue would, the clock jumping a minute each time, until `done` or `max` times. */
    async run(max: number, done: (s: CanaryReleaseStatus | undefined) => boolean = () => false) {
      for (let i = 0; i < max && !done(status()); i++) {
        await reconciler.reconcile(KEY);
        now = new Date(now.getTime() + 60_000);
      }
    },
  };
}

describe('metrics providers are the operator’s', () => {
  it('measures a template without a provider on the default provider, with its credentials (the control)', async () => {
    const prometheus = await operatorPrometheus();
    const w = world(prometheus.url, undefined);
    await w.run(20, (s) => s?.lastAnalysis !== undefined);
    expect(w.status()?.lastAnalysis).toBeDefined();
    expect(prometheus.authorizations.length).toBeGreaterThan(0);
    expect(new Set(prometheus.authorizations)).toEqual(new Set(['Bearer the-controllers-token']));
  });

  it.each([
    [
      'the old form {type, address}',
      (url: string) => ({ type: 'prometheus', address: url }),
      /AnalysisTemplate "errors" is invalid: spec\.metrics\[0\]\.provider\.address: is not accepted: metrics backends are configured by the operator/,
    ],
    [
      'a known name plus an address',
      (url: string) => ({ name: 'default', address: url }),
      /spec\.metrics\[0\]\.provider\.address: is not accepted: .*remove address and name the provider instead/,
    ],
    [
      'a provider the controller does not have',
      () => ({ name: 'attacker' }),
      /spec\.analysis\.templates\[0\]: AnalysisTemplate "errors" spec\.metrics\[0\]\.provider\.name: no metrics provider named "attacker" is configured in the controller; use one of: default/,
    ],
  ])(
    'refuses a namespaced template naming %s: ConfigValid=False, and no connection anywhere',
    async (_what, provider, message) => {
      const attacker = await recordingSocket();
      const prometheus = await operatorPrometheus();
      const w = world(prometheus.url, provider(attacker.url));
      await w.run(20);
      const valid = w.status()?.conditions?.find((c) => c.type === 'ConfigValid');
      expect(valid).toMatchObject({ status: 'False', reason: 'InvalidConfiguration' });
      expect(valid?.message).toMatch(message);
      expect(w.status()?.phase).toBe('Failed');
      expect(attacker.connections()).toBe(0);
      expect(prometheus.authorizations).toEqual([]);
      expect(w.kube.calls.patch).toBe(0);
    },
  );
});
