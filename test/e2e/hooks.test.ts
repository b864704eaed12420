/**
 * Webhooks end to end: the controller as its own process on a real API server and a real
 * Prometheus, calling Flagger's own load tester (built from the Go module proxy by
 * scripts/build-e2e-binaries.sh) as the receiver, unchanged: its task endpoint runs the rollout
 * and pre-rollout hooks' commands, its gate endpoints answer the confirm-promotion hooks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../../src/api/canary-release.js';
import { API_GROUP, API_VERSION_NAME } from '../../src/api/meta.js';
import { connectCluster } from '../../src/cli/cluster/connect.js';
import { runApprove } from '../../src/cli/cluster/approve.js';
import { realTimers } from '../../src/controller/queue.js';
import { startControllerProcess } from '../harness/controller-process.js';
import { REPO_ROOT, requireBinary } from '../harness/e2e-paths.js';
import { waitUntil } from '../harness/wait.js';
import { watchHistory, type WatchHistory } from '../harness/watch-history.js';
import { CONTROLLER_NAMESPACE, recordWeights, standUpService, startWorld, type World } from './support.js';

const LOADTESTER_BIN = join(REPO_ROOT, '.cache', 'bin', 'flagger-loadtester');

let world: World;
let loadtester: string;
const scratch = mkdtempSync(join(tmpdir(), 'canaria-hooks-'));
const cleanups: (() => Promise<void>)[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

async function startLoadtester(): Promise<string> {
  const bin = requireBinary(LOADTESTER_BIN);
  const port = await freePort();
  const log = openSync(join(scratch, 'loadtester.log'), 'a');
  const child: ChildProcess = spawn(bin, ['-port', String(port), '-log-level', 'info', '-timeout', '30s'], {
    stdio: ['ignore', log, log],
  });
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    `Flagger's load tester to answer on ${url}/healthz`,
    async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true,
    { deadline: Date.now() + 20_000, intervalMs: 200 },
  );
  return url;
}

beforeAll(async () => {
  world = await startWorld({ chartValues: { 'managedMode.enabled': false } });
  cleanups.push(() => world.stop());
  loadtester = await startLoadtester();
  const controller = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity: 'canaria-0',
    extraArgs: ['--managed-mode=false'],
  });
  cleanups.push(() => controller.kill('SIGTERM'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const analysis = {
  interval: '3s',
  metrics: [
    {
      name: 'error-ratio',
      type: 'errorRatio' as const,
      judge: { type: 'sequential' as const, tolerance: 0.25 },
    },
  ],
};
const healthy = { v1: { errorRate: 0.005, latencyMs: 30 }, v2: { errorRate: 0.005, latencyMs: 30 } };
const twoSteps = {
  steps: [
    { setWeight: 10 },
    { analysis: { duration: '6s' } },
    { setWeight: 50 },
    { analysis: { duration: '6s' } },
  ],
};

/** The release as the watch hands it over; only the status is read. */
interface CanaryRelease {
  metadata: { name?: string; resourceVersion?: string };
  status?: CanaryReleaseStatus;
}

function recordRelease(namespace: string, name: string): Promise<WatchHistory<CanaryRelease>> {
  return watchHistory<CanaryRelease>(
    world.env.admin,
    `/apis/${API_GROUP}/${API_VERSION_NAME}/namespaces/${namespace}/canaryreleases`,
    name,
  );
}
const statusOf = (r: CanaryRelease | undefined): CanaryReleaseStatus | undefined => r?.status;
/** The distinct calls of hook `name` the release recorded, from every version the watch saw. */
function callsSeen(history: WatchHistory<CanaryRelease>, name: string): number {
  const times = new Set<string>();
  for (const v of history.versions) {
    for (const c of statusOf(v.object)?.hooks?.calls ?? []) if (c.name === name) times.add(c.time);
  }
  return times.size;
}

describe("webhooks against Flagger's load tester", () => {
  it('a failing pre-rollout hook holds the release at 0 %: the VirtualService never moves', async () => {
    const service = await standUpService(world, {
      namespace: 'hooks-pre',
      name: 'reviews',
      behaviour: healthy,
    });
    const weights = await recordWeights(world, service);
    const release = await recordRelease('hooks-pre', 'reviews');
    try {
      await service.createRelease({
        strategy: twoSteps,
        analysis,
        webhooks: [
          {
            name: 'smoke-test',
            type: 'pre-rollout',
            url: `${loadtester}/?suite=smoke`,
            metadata: { type: 'bash', cmd: 'echo smoke test failed >&2; exit 3' },
          },
        ],
      });
      // called at least twice: the gate was asked again after its recheck interval, and stayed closed
      await release.waitFor(
        'two failed pre-rollout calls',
        () => callsSeen(release, 'smoke-test') >= 2,
        60_000,
      );
    } finally {
      await release.stop();
      await weights.stop();
      await service.stop();
    }
    expect(weights.seen).toEqual(['100/0']);
    expect(weights.history.gaps).toEqual([]);
    const canaryWeights = release.states((r) => (statusOf(r)?.canaryWeight ?? 0).toString());
    expect(canaryWeights).toEqual(['0']);
    const last = statusOf(release.latest());
    expect(last?.phase).toBe('Progressing');
    expect(last?.message).toMatch(
      new RegExp(
        `^waiting for pre-rollout hook smoke-test: HTTP 500 from ${loadtester}/ in \\S+: .*exit status 3`,
      ),
    );
    const call = last?.hooks?.calls?.[0];
    expect(call).toMatchObject({ name: 'smoke-test', ok: false, statusCode: 500, url: `${loadtester}/` });
    expect(JSON.stringify(last)).not.toContain('suite=smoke');
  });

  it('a pre-rollout hook with onFailure: rollback rolls back before any traffic, and the rollback hook is told once', async () => {
    const service = await standUpService(world, {
      namespace: 'hooks-rollback',
      name: 'reviews',
      behaviour: healthy,
    });
    const weights = await recordWeights(world, service);
    try {
      await service.createRelease({
        strategy: twoSteps,
        analysis,
        webhooks: [
          {
            name: 'smoke-test',
            type: 'pre-rollout',
            url: `${loadtester}/`,
            onFailure: 'rollback',
            metadata: { type: 'bash', cmd: 'exit 1' },
          },
          { name: 'page', type: 'rollback', url: `${loadtester}/gate/approve` },
        ],
      });
      const status = await service.waitForPhase('RolledBack', 60_000);
      expect(status.decisions?.at(-1)).toMatchObject({ action: 'Rollback', reason: 'PreRolloutHookFailed' });
      expect(status.decisions?.at(-1)?.hooks?.[0]).toMatchObject({ name: 'smoke-test', statusCode: 500 });
      await waitUntil(
        'the rollback hook to be told',
        async () => (await service.status())?.hooks?.informed?.includes('rollback') === true,
        { deadline: Date.now() + 30_000, intervalMs: 250 },
      );
      const told = (await service.status())?.hooks?.calls?.filter((c) => c.type === 'rollback');
      expect(told).toEqual([expect.objectContaining({ name: 'page', ok: true, statusCode: 200 })]);
    } finally {
      await weights.stop();
      await service.stop();
    }
    expect(weights.seen).toEqual(['100/0']);
  });

  it('a rollout hook runs its command at each analysis, its answers are in the evidence; post-rollout is told once', async () => {
    const service = await standUpService(world, {
      namespace: 'hooks-rollout',
      name: 'reviews',
      behaviour: healthy,
    });
    const calls = join(scratch, 'rollout-calls.txt');
    const told = join(scratch, 'post-rollout-calls.txt');
    try {
      await service.createRelease({
        strategy: twoSteps,
        analysis,
        webhooks: [
          {
            name: 'load-test',
            type: 'rollout',
            url: `${loadtester}/`,
            timeout: '5s',
            metadata: { type: 'bash', cmd: `echo "$(date +%s%N)" >> ${calls}` },
          },
          {
            name: 'changelog',
            type: 'post-rollout',
            url: `${loadtester}/`,
            metadata: { type: 'bash', cmd: `echo released >> ${told}` },
          },
        ],
      });
      const status = await service.waitForPhase('Succeeded', 120_000);
      await waitUntil(
        'the post-rollout hook to be told',
        async () => (await service.status())?.hooks?.informed?.includes('post-rollout') === true,
        { deadline: Date.now() + 30_000, intervalMs: 250 },
      );
      const analyses = status.decisions?.filter((d) => d.hooks?.some((h) => h.name === 'load-test')) ?? [];
      expect(analyses.length).toBeGreaterThan(0);
      expect(analyses[0]?.hooks?.[0]).toMatchObject({ ok: true, statusCode: 200, gate: 'rollout' });
    } finally {
      await service.stop();
    }
    expect(existsSync(calls)).toBe(true);
    // two steps of 6 s analysed every 3 s: at least two analyses each, every one with a call
    const lines = readFileSync(calls, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    // informational: once, at the end
    expect(readFileSync(told, 'utf8').trim().split('\n')).toEqual(['released']);
  });

  it('a confirm-promotion gate holds at the last step until the load tester opens it', async () => {
    const service = await standUpService(world, {
      namespace: 'hooks-gate',
      name: 'reviews',
      behaviour: healthy,
    });
    const weights = await recordWeights(world, service);
    const release = await recordRelease('hooks-gate', 'reviews');
    try {
      await service.createRelease({
        strategy: twoSteps,
        analysis,
        webhooks: [{ name: 'release-manager', type: 'confirm-promotion', url: `${loadtester}/gate/check` }],
      });
      await release.waitFor('the gate asked twice', () => callsSeen(release, 'release-manager') >= 2, 90_000);
      const held = statusOf(release.latest());
      expect(held?.message).toMatch(
        /^waiting for confirm-promotion hook release-manager: HTTP 403 .*: Forbidden/,
      );
      expect(held?.canaryWeight).toBe(50);
      const opened = await fetch(`${loadtester}/gate/open`, {
        method: 'POST',
        body: JSON.stringify({ name: 'reviews', namespace: 'hooks-gate' }),
      });
      expect(opened.status).toBe(202);
      await service.waitForPhase('Succeeded', 60_000);
      await weights.waitFor('0/100');
    } finally {
      await release.stop();
      await weights.stop();
      await service.stop();
    }
    expect(weights.seen).toEqual(['100/0', '90/10', '50/50', '0/100']);
  });

  it('canaria approve opens a confirm-promotion gate that stays closed', async () => {
    const service = await standUpService(world, {
      namespace: 'hooks-approve',
      name: 'reviews',
      behaviour: healthy,
    });
    const release = await recordRelease('hooks-approve', 'reviews');
    try {
      await service.createRelease({
        // no analysis: the gate is what this test is about, not how soon the evidence is in
        strategy: { steps: [{ setWeight: 20 }, { pause: { duration: '3s' } }] },
        webhooks: [{ name: 'release-manager', type: 'confirm-promotion', url: `${loadtester}/gate/halt` }],
      });
      await release.waitFor('the gate closed', (r) => statusOf(r)?.hooks?.waiting !== undefined, 90_000);
      const out: string[] = [];
      const err: string[] = [];
      const code = await runApprove(
        'reviews',
        { color: false, kubeconfig: world.env.kubeconfigPath, namespace: 'hooks-approve' },
        {
          io: { stdout: (line) => out.push(line), stderr: (line) => err.push(line) },
          connect: connectCluster,
          timers: realTimers,
          colorByDefault: false,
          random: Math.random,
          onInterrupt: () => () => undefined,
        },
      );
      expect({ code, err }).toEqual({ code: 0, err: [] });
      expect(out[0]).toMatch(/approve requested \(id .+\): the controller opens the confirm-promotion gate$/);
      const status = await service.waitForPhase('Succeeded', 60_000);
      expect(status.decisions?.some((d) => d.reason === 'UserApproved')).toBe(true);
      expect(status.hooks?.approved).toEqual(['confirm-promotion']);
    } finally {
      await release.stop();
      await service.stop();
    }
  });
});
