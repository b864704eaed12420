import { spawn } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryKube } from '../../kube/memory.js';
import { baseSpecInput } from '../../../test/builders/release.js';
import { placeRelease, settle, testEnv, type TestEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { clusterCommands } from './index.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** A release in namespace shop, waiting at its pause step. */
function shop(): MemoryKube {
  const kube = new MemoryKube();
  placeRelease(kube, {
    name: 'reviews',
    namespace: 'shop',
    spec: baseSpecInput(),
    status: { phase: 'Progressing', currentStepIndex: 1, canaryWeight: 10, actualCanaryWeight: 10 },
  });
  return kube;
}

/** Parses argv as the installed binary `bin` would, with the cluster commands on `env`. */
async function invoke(bin: string, args: string[], env: TestEnv): Promise<number | undefined> {
  const program = new Command('canaria').exitOverride();
  for (const register of clusterCommands(() => env)) register(program);
  process.exitCode = undefined;
  await program.parseAsync(['/usr/bin/node', bin, ...args]);
  const code = process.exitCode;
  process.exitCode = undefined;
  return typeof code === 'number' ? code : undefined;
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('the cluster commands on the command line', () => {
  it('parse kubectl flags the same as canaria and as the kubectl plugin kubectl-canaria', async () => {
    const args = ['get', '-n', 'shop', '--context', 'prod', '--kubeconfig', '/etc/kube/config', '--no-color'];
    const results = [];
    for (const bin of ['/usr/local/bin/canaria', '/usr/local/bin/kubectl-canaria']) {
      const env = testEnv(shop(), { tty: true });
      const code = await invoke(bin, args, env);
      results.push({ code, out: env.out, err: env.err, connections: env.connections });
    }
    expect(results[0]).toEqual(results[1]);
    expect(results[0]).toMatchObject({
      code: 0,
      connections: [{ namespace: 'shop', context: 'prod', kubeconfig: '/etc/kube/config' }],
    });
    expect(results[0]?.out[1]).toMatch(/^reviews {3}Progressing {3}2\/4 /);
  });

  it('passes the command options through: promote --full -o json, status --timeout, get -A -w', async () => {
    const env = testEnv(shop());
    expect(
      await invoke('kubectl-canaria', ['promote', 'reviews', '--full', '-n', 'shop', '-o', 'json'], env),
    ).toBe(0);
    expect(JSON.parse(env.out.join('\n'))).toMatchObject({ spec: { request: { action: 'PromoteFull' } } });

    const timedOut = testEnv(shop());
    const waiting = invoke(
      'kubectl-canaria',
      ['status', 'reviews', '-n', 'shop', '--timeout', '1m'],
      timedOut,
    );
    await settle();
    timedOut.timers.advance(60_000);
    expect(await waiting).toBe(2);

    const all = testEnv(shop());
    expect(await invoke('canaria', ['get', '-A'], all)).toBe(0);
    expect(all.out[0]).toMatch(/^NAMESPACE {3}NAME /);
  });

  it('run as the real binaries, fail in one line on stderr without a stack trace, the same both ways', async () => {
    const plugin = join(mkdtempSync(join(tmpdir(), 'canaria-bin-')), 'kubectl-canaria');
    symlinkSync(join(repoRoot, 'src/cli/main.ts'), plugin);
    const run = (entry: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', entry, 'pause', 'reviews', '--kubeconfig', '/nonexistent/kubeconfig'],
          { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1' } },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => {
          resolve({ code, stdout, stderr });
        });
      });
    const [canaria, kubectlPlugin] = await Promise.all([run('src/cli/main.ts'), run(plugin)]);
    expect(canaria).toEqual({
      code: 3,
      stdout: '',
      stderr:
        "cannot load the kubeconfig /nonexistent/kubeconfig: ENOENT: no such file or directory, open '/nonexistent/kubeconfig'\n",
    });
    expect(kubectlPlugin).toEqual(canaria);
  }, 120_000);
});
