/**
 * Leader election on a coordination.k8s.io/v1 Lease against a real API server, as the controller's
 * ServiceAccount with only get/create/update on leases: one leader at a time, takeover after a crash
 * within leaseDuration + retryPeriod, immediate handover on release(), and a leader that loses its
 * lease (stolen, or no longer allowed to renew) stops leading.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { LeaderElector, type LeaseSpec } from '../../src/controller/leader.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { kubeRequest } from '../harness/kube-http.js';
import { startKubeEnv, type KubeEnv } from '../harness/kube-env.js';
import { waitUntil } from '../harness/wait.js';

const LEASE_MS = 3_000;
const RENEW_DEADLINE_MS = 2_000;
const RETRY_MS = 500;
/** Room for API calls and timers on a busy machine. */
const SLACK_MS = 1_000;

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: LeaseSpec;
}

/** One elector's view of its leadership, as its callbacks reported it. */
interface Campaign {
  readonly identity: string;
  readonly elector: LeaderElector;
  leading: boolean;
  signal: AbortSignal | undefined;
  startedAt: number | undefined;
  stoppedAt: number | undefined;
  stops: number;
  readonly done: Promise<void>;
}

describe('leader election on a Lease (LeaderElector)', () => {
  let env: KubeEnv;
  let system: string;
  let kubeConfig: KubeConfig;
  let kubeconfigPath: string;
  let leaseCount = 0;
  const campaigns: Campaign[] = [];

  beforeAll(async () => {
    env = await startKubeEnv();
    system = 'canaria-system';
    await admin('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: system },
    });
    ({ kubeConfig, path: kubeconfigPath } = await leaseAccount('canaria'));
  });

  afterEach(async () => {
    await Promise.all(campaigns.splice(0).map((campaign) => campaign.elector.release()));
  });

  afterAll(async () => {
    // beforeAll may have failed before env was set; that failure is what the run reports.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    await env?.stop();
  });

  async function admin(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<unknown> {
    const response = await kubeRequest(env.admin, { method, path, ...(body === undefined ? {} : { body }) });
    if (response.status < 200 || response.status > 299)
      throw new Error(`${method} ${path}: HTTP ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body;
  }

  const leasePath = (name: string): string =>
    `/apis/coordination.k8s.io/v1/namespaces/${system}/leases/${name}`;
  const readLease = async (name: string): Promise<Lease> => (await admin('GET', leasePath(name))) as Lease;

  /** A ServiceAccount allowed exactly what leader election needs, and a kubeconfig with its token. */
  async function leaseAccount(name: string): Promise<{ kubeConfig: KubeConfig; path: string }> {
    const rbac = '/apis/rbac.authorization.k8s.io/v1';
    await admin('POST', `/api/v1/namespaces/${system}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name },
    });
    await admin('POST', `${rbac}/namespaces/${system}/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name },
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      ],
    });
    await admin('POST', `${rbac}/namespaces/${system}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: system }],
    });
    const account = await env.serviceAccountKubeconfig({ namespace: system, name });
    const token = await env.serviceAccountToken({ namespace: system, name });
    // The authorizer sees new bindings a moment later: wait until a read is a 404, not a 403.
    await waitUntil(
      `RBAC for ServiceAccount ${name} to take effect`,
      async () =>
        (await kubeRequest({ ...env.admin, token }, { method: 'GET', path: leasePath('no-such-lease') }))
          .status === 404,
      { deadline: Date.now() + 20_000 },
    );
    return account;
  }

  function elect(identity: string, lease: string, config: KubeConfig = kubeConfig): Campaign {
    const elector = new LeaderElector({
      kubeConfig: config,
      namespace: system,
      name: lease,
      identity,
      leaseDurationMs: LEASE_MS,
      renewDeadlineMs: RENEW_DEADLINE_MS,
      retryPeriodMs: RETRY_MS,
      logger: createLogger({ level: 'error' }),
    });
    const campaign: Campaign = {
      identity,
      elector,
      leading: false,
      signal: undefined,
      startedAt: undefined,
      stoppedAt: undefined,
      stops: 0,
      done: elector.run({
        // As the controller does: the work runs until leadership ends, and renewals go on meanwhile.
        onStartedLeading: async (signal) => {
          campaign.leading = true;
          campaign.signal = signal;
          campaign.startedAt = performance.now();
          await new Promise((resolve) => {
            signal.addEventListener('abort', resolve);
          });
        },
        onStoppedLeading: () => {
          campaign.leading = false;
          campaign.stoppedAt = performance.now();
          campaign.stops++;
        },
      }),
    };
    campaigns.push(campaign);
    return campaign;
  }

  const nextLease = (): string => `canaria-leader-${++leaseCount}`;

  async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
    await waitUntil(what, () => Promise.resolve(check()), {
      deadline: Date.now() + timeoutMs,
      intervalMs: 20,
    });
  }

  it('lets exactly one of two electors lead, records the lease, and hands over at once on release()', async () => {
    const lease = nextLease();
    const a = elect('canaria-a', lease);
    const b = elect('canaria-b', lease);
    await until('a leader', () => a.leading || b.leading);
    // Watch both for a few renew periods: never two leaders, and the leader stays the leader.
    const leader = a.leading ? a : b;
    const follower = leader === a ? b : a;
    const watchUntil = performance.now() + 4 * RETRY_MS;
    while (performance.now() < watchUntil) {
      expect([a.leading, b.leading].filter(Boolean)).toHaveLength(1);
      expect(leader.leading).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const first = await readLease(lease);
    expect(first.spec).toMatchObject({
      holderIdentity: leader.identity,
      leaseDurationSeconds: 3,
      leaseTransitions: 0,
    });
    expect(first.spec.acquireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await new Promise((resolve) => setTimeout(resolve, 2 * RETRY_MS));
    const renewed = await readLease(lease);
    expect(Date.parse(renewed.spec.renewTime!)).toBeGreaterThan(Date.parse(first.spec.renewTime!));
    expect(renewed.spec.acquireTime).toBe(first.spec.acquireTime);

    const releasedAt = performance.now();
    await leader.elector.release();
    await leader.done;
    expect(leader.stops).toBe(1);
    expect(leader.signal?.aborted).toBe(true);
    // Released, the lease is free at once: the follower takes over at its next try, not after leaseDuration.
    await until('the follower to lead', () => follower.leading, LEASE_MS);
    const handover = performance.now() - releasedAt;
    console.log(`handover after release(): ${Math.round(handover)} ms`);
    expect(handover).toBeLessThan(RETRY_MS + SLACK_MS);
    expect((await readLease(lease)).spec).toMatchObject({
      holderIdentity: follower.identity,
      leaseTransitions: 1,
    });
  });

  it('hands leadership to a follower within leaseDuration + retryPeriod when the leader crashes without releasing', async () => {
    const lease = nextLease();
    const crashing = startElectorProcess('canaria-crashing', lease);
    try {
      await crashing.leading;
      const follower = elect('canaria-follower', lease);
      // The follower has seen the leader renew a few times.
      await new Promise((resolve) => setTimeout(resolve, 3 * RETRY_MS));
      expect(follower.leading).toBe(false);

      const crashedAt = performance.now();
      crashing.kill();
      await until('the follower to lead', () => follower.leading, LEASE_MS + RETRY_MS + 5_000);
      const takeover = performance.now() - crashedAt;
      console.log(
        `takeover after a crash: ${Math.round(takeover)} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`,
      );
      // Not before the lease could have expired, and within leaseDuration + retryPeriod of the last renewal.
      expect(takeover).toBeGreaterThan(LEASE_MS - RETRY_MS - 200);
      expect(takeover).toBeLessThan(LEASE_MS + RETRY_MS + SLACK_MS);
      expect((await readLease(lease)).spec).toMatchObject({
        holderIdentity: 'canaria-follower',
        leaseTransitions: 1,
      });
    } finally {
      crashing.kill();
    }
  });

  it('stops leading at once when an admin takes the lease, and leaves the lease to them', async () => {
    const lease = nextLease();
    const a = elect('canaria-a', lease);
    await until('a to lead', () => a.leading);
    const current = await readLease(lease);
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await admin('PUT', leasePath(lease), {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: current.metadata,
      spec: { ...current.spec, holderIdentity: 'admin-takeover', renewTime: now, leaseDurationSeconds: 60 },
    });
    const stolenAt = performance.now();
    await until('a to stop leading', () => a.stops === 1, RENEW_DEADLINE_MS + SLACK_MS);
    expect(a.stoppedAt! - stolenAt).toBeLessThan(RETRY_MS + SLACK_MS);
    expect(a.signal?.aborted).toBe(true);
    await a.done;
    expect((await readLease(lease)).spec.holderIdentity).toBe('admin-takeover');
  });

  it('stops leading when it cannot renew for renewDeadline (here: its permission was revoked)', async () => {
    const lease = nextLease();
    const doomed = await leaseAccount('doomed');
    const a = elect('canaria-doomed', lease, doomed.kubeConfig);
    await until('a to lead', () => a.leading);
    await admin('DELETE', `/apis/rbac.authorization.k8s.io/v1/namespaces/${system}/rolebindings/doomed`);
    const revokedAt = performance.now();
    await until('a to stop leading', () => a.stops === 1, RENEW_DEADLINE_MS + 10_000);
    // It kept trying for the whole renew deadline before giving up (the revocation takes a moment to bite).
    expect(a.stoppedAt! - revokedAt).toBeGreaterThanOrEqual(RENEW_DEADLINE_MS - RETRY_MS);
    expect(a.signal?.aborted).toBe(true);
    await a.done;
    // It never released what it could not write: the lease still names it, and expires on its own.
    expect((await readLease(lease)).spec.holderIdentity).toBe('canaria-doomed');
  });

  it('rejects timings that would allow two leaders, naming the options', () => {
    const make = (leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number) => () =>
      new LeaderElector({
        kubeConfig,
        namespace: system,
        name: 'x',
        identity: 'y',
        leaseDurationMs,
        renewDeadlineMs,
        retryPeriodMs,
        logger: createLogger({ level: 'silent' }),
      });
    expect(make(3_000, 3_000, 500)).toThrow(
      /leaseDurationMs \(3000\) must be greater than renewDeadlineMs \(3000\)/,
    );
    expect(make(3_000, 2_000, 2_000)).toThrow(
      /renewDeadlineMs \(2000\) must be greater than retryPeriodMs \(2000\)/,
    );
  });

  /** An elector in a process of its own, killed with SIGKILL: no release, no last words. */
  function startElectorProcess(
    identity: string,
    lease: string,
  ): { leading: Promise<void>; kill: () => void } {
    const modules = (file: string): string => fileURLToPath(new URL(`../../src/${file}`, import.meta.url));
    const script = `
      import { LeaderElector } from ${JSON.stringify(modules('controller/leader.ts'))};
      import { loadKubeConfig } from ${JSON.stringify(modules('kube/client.ts'))};
      import { createLogger } from ${JSON.stringify(modules('telemetry/logger.ts'))};
      const elector = new LeaderElector({
        kubeConfig: loadKubeConfig({ kubeconfig: process.env.KUBECONFIG_PATH }),
        namespace: process.env.LEASE_NAMESPACE,
        name: process.env.LEASE_NAME,
        identity: process.env.IDENTITY,
        leaseDurationMs: ${LEASE_MS},
        renewDeadlineMs: ${RENEW_DEADLINE_MS},
        retryPeriodMs: ${RETRY_MS},
        logger: createLogger({ level: 'warn' }),
      });
      await elector.run({ onStartedLeading: () => console.log('leading'), onStoppedLeading: () => process.exit(1) });
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: {
        ...process.env,
        KUBECONFIG_PATH: kubeconfigPath,
        LEASE_NAMESPACE: system,
        LEASE_NAME: lease,
        IDENTITY: identity,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const leading = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('leading')) resolve();
      });
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code, signal) => {
        reject(new Error(`the elector process exited (${signal ?? code}) before leading:\n${output}`));
      });
    });
    return {
      leading,
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
  }
});
