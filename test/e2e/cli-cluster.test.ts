/**
 * The cluster commands against a real API server: promote, abort, pause, resume and retry patch the
 * CanaryRelease as the controller expects, refusals and RBAC denials are one clear line, and
 * `status` follows status writes through a real watch. No controller runs here: the test writes the
 * statuses the controller would, through the status subresource.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../../src/api/canary-release.js';
import { API_VERSION } from '../../src/api/meta.js';
import { connectCluster } from '../../src/cli/cluster/connect.js';
import type { ClusterEnv } from '../../src/cli/cluster/env.js';
import { runAbort } from '../../src/cli/cluster/abort.js';
import { runApprove } from '../../src/cli/cluster/approve.js';
import { runGet } from '../../src/cli/cluster/get.js';
import { runPause } from '../../src/cli/cluster/pause.js';
import { runPromote } from '../../src/cli/cluster/promote.js';
import { runResume } from '../../src/cli/cluster/resume.js';
import { runRetry } from '../../src/cli/cluster/retry.js';
import type { ClusterFlags } from '../../src/cli/cluster/session.js';
import { runStatus } from '../../src/cli/cluster/status.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { realTimers } from '../../src/controller/queue.js';
import { baseSpecInput } from '../builders/release.js';
import { kubeRequest } from '../harness/kube-http.js';
import { startKubeEnv, type KubeEnv } from '../harness/kube-env.js';
import { waitUntil } from '../harness/wait.js';

const RELEASES = '/apis/canaria.dev/v1alpha1';

interface Run {
  code: number;
  out: string[];
  err: string[];
}

describe('the cluster commands against a real API server', () => {
  let env: KubeEnv;
  let namespaceCount = 0;

  beforeAll(async () => {
    env = await startKubeEnv();
  });

  afterAll(async () => {
    // beforeAll may have failed before env was set; that failure is what the run reports.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    await env?.stop();
  });

  async function call(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown, contentType?: string) {
    const response = await kubeRequest(env.admin, {
      method,
      path,
      ...(body === undefined ? {} : { body }),
      ...(contentType === undefined ? {} : { contentType }),
    });
    if (response.status >= 300) {
      throw new Error(`${method} ${path}: HTTP ${response.status}: ${JSON.stringify(response.body)}`);
    }
    return response.body as { spec: { paused?: boolean; request?: { action: string; id: string } } };
  }

  /** A fresh namespace with the reviews release in it, showing `status` as the controller wrote it. */
  async function releaseWith(status: CanaryReleaseStatus): Promise<string> {
    const ns = `cli-${++namespaceCount}`;
    await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await call('POST', `${RELEASES}/namespaces/${ns}/canaryreleases`, {
      apiVersion: API_VERSION,
      kind: 'CanaryRelease',
      metadata: { name: 'reviews', namespace: ns },
      spec: baseSpecInput(),
    });
    await writeStatus(ns, status);
    return ns;
  }

  function writeStatus(ns: string, status: CanaryReleaseStatus) {
    return call(
      'PATCH',
      `${RELEASES}/namespaces/${ns}/canaryreleases/reviews/status`,
      { status },
      'application/merge-patch+json',
    );
  }

  const release = (ns: string) => call('GET', `${RELEASES}/namespaces/${ns}/canaryreleases/reviews`);

  /** The real process environment but captured output, as `kubectl canaria ...` with a kubeconfig. */
  function cli(): ClusterEnv & { out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: { stdout: (line) => out.push(line), stderr: (line) => err.push(line) },
      connect: connectCluster,
      timers: realTimers,
      colorByDefault: false,
      random: Math.random,
      onInterrupt: () => () => undefined,
    };
  }

  async function run(
    command: (name: string, flags: ClusterFlags, env: ClusterEnv) => Promise<number>,
    ns: string,
    extra: Record<string, unknown> = {},
    kubeconfig = env.kubeconfigPath,
  ): Promise<Run> {
    const io = cli();
    const code = await command('reviews', { color: false, kubeconfig, namespace: ns, ...extra }, io);
    return { code, out: io.out, err: io.err };
  }

  const progressing: CanaryReleaseStatus = {
    phase: 'Progressing',
    currentStepIndex: 1,
    canaryWeight: 10,
    actualCanaryWeight: 10,
    canaryRevision: 'b7d04e13',
    stableRevision: '5f1c2a9e',
    message: 'step 1 (setWeight 10%) done; now step 2/4: pause 1m',
  };

  it('pause and resume set spec.paused; a second pause changes nothing', async () => {
    const ns = await releaseWith(progressing);
    const paused = await run(runPause, ns);
    expect(paused).toEqual({
      code: 0,
      out: [
        `canaryrelease ${ns}/reviews: pause requested (spec.paused: true): the controller holds at step 2/4 (canary 10%) until resumed`,
      ],
      err: [],
    });
    expect((await release(ns)).spec.paused).toBe(true);
    expect((await run(runPause, ns)).out[0]).toContain('already paused');

    const resumed = await run(runResume, ns);
    expect(resumed.out).toEqual([`canaryrelease ${ns}/reviews: resume requested (spec.paused: false)`]);
    expect((await release(ns)).spec.paused).toBe(false);
  });

  it('resume at a pause waiting for promote also requests the promote', async () => {
    const ns = await releaseWith({
      ...progressing,
      phase: 'Paused',
      conditions: [
        {
          type: 'Paused',
          status: 'True',
          reason: 'WaitingForPromote',
          message: 'step 2 waits for promote',
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    });
    const resumed = await run(runResume, ns);
    expect(resumed.code).toBe(0);
    expect(resumed.out[0]).toMatch(/waits for promote, so promote requested too \(id [^)]+\)$/);
    expect((await release(ns)).spec.request?.action).toBe('Promote');
  });

  it('approve writes an Approve request where a gate waits, and is refused where none does', async () => {
    const ns = await releaseWith({
      ...progressing,
      hooks: {
        waiting: { type: 'confirm-promotion', key: 'confirm-promotion', since: new Date().toISOString() },
      },
    });
    const approved = await run(runApprove, ns);
    expect(approved.code).toBe(0);
    expect(approved.out[0]).toMatch(
      /: approve requested \(id [^)]+\): the controller opens the confirm-promotion gate$/,
    );
    expect((await release(ns)).spec.request?.action).toBe('Approve');

    const idle = await run(runApprove, await releaseWith(progressing));
    expect(idle.code).toBe(1);
    expect(idle.err[0]).toMatch(/waits at no gate/);
  });

  it('promote, promote --full and abort write one-shot requests with unique ids', async () => {
    const ns = await releaseWith(progressing);
    const promoted = await run(runPromote, ns);
    expect(promoted.out[0]).toMatch(
      /: promote requested \(id [^)]+\): the controller skips step 2\/4 \(pause 1m\)$/,
    );
    const first = (await release(ns)).spec.request;
    expect(first?.action).toBe('Promote');

    // the controller handles it
    await writeStatus(ns, { ...progressing, currentStepIndex: 2, handledRequestId: first?.id ?? '' });
    expect((await run(runPromote, ns, { full: true })).code).toBe(0);
    const second = (await release(ns)).spec.request;
    expect(second?.action).toBe('PromoteFull');
    expect(second?.id).not.toBe(first?.id);

    // not handled yet: abort replaces it and says so
    const aborted = await run(runAbort, ns);
    expect(aborted.out[0]).toMatch(/: abort requested .*; this replaces the PromoteFull request/);
    expect((await release(ns)).spec.request?.action).toBe('Abort');
  });

  it('retry is refused while rolling out and accepted after a rollback; abort is refused after success', async () => {
    const ns = await releaseWith(progressing);
    expect(await run(runRetry, ns)).toEqual({
      code: 1,
      out: [],
      err: [`canaryrelease ${ns}/reviews: only a rolled-back release can be retried; it is Progressing`],
    });
    await writeStatus(ns, { ...progressing, phase: 'RolledBack', canaryWeight: 0, actualCanaryWeight: 0 });
    const retried = await run(runRetry, ns);
    expect(retried.out[0]).toMatch(
      /: retry requested \(id [^)]+\): the controller rolls out canary revision b7d04e13 again from step 1$/,
    );
    expect((await release(ns)).spec.request?.action).toBe('Retry');

    await writeStatus(ns, { ...progressing, phase: 'Succeeded', canaryWeight: 100, actualCanaryWeight: 100 });
    expect((await run(runAbort, ns)).err).toEqual([
      `canaryrelease ${ns}/reviews: it is Succeeded, not rolling out: nothing to abort`,
    ]);
  });

  it('get lists the release; a missing one is named with its namespace', async () => {
    const ns = await releaseWith(progressing);
    const io = cli();
    expect(await runGet(undefined, { color: false, kubeconfig: env.kubeconfigPath, namespace: ns }, io)).toBe(
      0,
    );
    expect(io.out[1]?.split(/ {2,}/).slice(0, 7)).toEqual([
      'reviews',
      'Progressing',
      '2/4',
      '10%',
      '10%',
      'b7d04e13',
      '5f1c2a9e',
    ]);
    const missing = cli();
    expect(
      await runPause('ratings', { color: false, kubeconfig: env.kubeconfigPath, namespace: ns }, missing),
    ).toBe(EXIT.unknown);
    expect(missing.err).toEqual([
      `canaryrelease ${ns}/ratings not found; check the name and the namespace (-n), or list them with: kubectl canaria get -n ${ns}`,
    ]);
  });

  it('status follows the release through the watch and exits 0 on Succeeded, 2 on timeout', async () => {
    const ns = await releaseWith(progressing);
    const io = cli();
    const done = runStatus('reviews', { color: false, kubeconfig: env.kubeconfigPath, namespace: ns }, io);
    await waitUntil('status to print the current phase', () => Promise.resolve(io.out.length > 0), {
      deadline: Date.now() + 20_000,
    });
    await writeStatus(ns, { ...progressing, phase: 'Promoting', currentStepIndex: 4, canaryWeight: 100 });
    await writeStatus(ns, { ...progressing, phase: 'Succeeded', currentStepIndex: 4, canaryWeight: 100 });
    expect(await done).toBe(0);
    expect(io.out.map((line) => line.split(': ')[1]?.split(' ')[0])).toEqual([
      'Progressing',
      'Promoting',
      'Succeeded',
    ]);

    const late = cli();
    expect(
      await runStatus(
        'reviews',
        { color: false, kubeconfig: env.kubeconfigPath, namespace: ns, timeout: '1s' },
        late,
      ),
    ).toBe(0);
    const stuck = await releaseWith(progressing);
    const waiting = cli();
    expect(
      await runStatus(
        'reviews',
        { color: false, kubeconfig: env.kubeconfigPath, namespace: stuck, timeout: '2s' },
        waiting,
      ),
    ).toBe(2);
    expect(waiting.err).toEqual([
      `timed out after 2s: canaryrelease ${stuck}/reviews is still Progressing at step 2/4 (canary 10%)`,
    ]);
  });

  it('a user who may read releases but not patch them is told which verb on which resource was denied', async () => {
    const ns = await releaseWith(progressing);
    const account = { namespace: ns, name: 'viewer' };
    await call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: account.name },
    });
    await call('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'read-releases' },
      rules: [{ apiGroups: ['canaria.dev'], resources: ['canaryreleases'], verbs: ['get', 'list', 'watch'] }],
    });
    await call('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'viewer-reads-releases' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-releases' },
      subjects: [{ kind: 'ServiceAccount', name: account.name, namespace: ns }],
    });
    const { path } = await env.serviceAccountKubeconfig(account);

    // listing elsewhere is denied at connection time, with the verbs needed
    const elsewhere = await run(runPause, 'default', {}, path);
    expect(elsewhere.code).toBe(3);
    expect(elsewhere.err[0]).toMatch(
      /^forbidden: you may not list and watch canaryreleases\.canaria\.dev in namespace default /,
    );

    // the authorizer sees the new binding a moment later
    let denied: Run | undefined;
    await waitUntil(
      'the RoleBinding to take effect',
      async () => {
        denied = await run(runPause, ns, {}, path);
        return !denied.err[0]?.includes('list and watch');
      },
      { deadline: Date.now() + 20_000, intervalMs: 500 },
    );
    expect(denied?.code).toBe(3);
    expect(denied?.err).toHaveLength(1);
    expect(denied?.err[0]).toMatch(
      new RegExp(
        `^forbidden: you may not patch canaryreleases\\.canaria\\.dev in namespace ${ns} \\(needed for canaryrelease ${ns}/reviews\\); ask for RBAC verb "patch" on canaryreleases\\.canaria\\.dev\\. The API server said: .*cannot patch resource "canaryreleases"`,
      ),
    );
    // the CRD defaults spec.paused to false; the denied patch left it so
    expect((await release(ns)).spec.paused).toBe(false);
  });
});
