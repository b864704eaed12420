/**
 * Cluster commands against API servers that misbehave, over real local sockets: one that accepts
 * the connection and never answers, one that answers /version and then goes quiet, one without
 * canaria's CRDs. Every command ends within its timeout, in one line, with the "could not tell"
 * exit code; and without any kubeconfig the message says what is missing and how to point at a
 * cluster.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { MemoryKube } from '../../kube/memory.js';
import { EXIT } from '../exit-codes.js';
import { runAbort } from './abort.js';
import { runDescribe } from './describe.js';
import { connectCluster } from './connect.js';
import { runGet } from './get.js';
import { runPause } from './pause.js';
import { runPromote } from './promote.js';
import { runResume } from './resume.js';
import { runRetry } from './retry.js';
import { runStatus } from './status.js';
import type { ClusterFlags } from './session.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

function kubeconfigFor(server: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'canaria-silent-')), 'config');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: silent',
      'clusters:',
      `  - name: silent`,
      `    cluster: { server: "${server}", insecure-skip-tls-verify: true }`,
      'users:',
      '  - name: u',
      '    user: { token: t }',
      'contexts:',
      '  - name: silent',
      '    context: { cluster: silent, user: u }',
      '',
    ].join('\n'),
  );
  return file;
}

/** Accepts every TCP connection and never says a word: not an HTTP answer, not a TLS handshake. */
async function silentTcpServer(): Promise<{ url: string; accepted: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: TcpServer = createTcpServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** Answers /version, then holds every other request open without an answer. */
async function quietAfterVersion(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createHttpServer((req, res) => {
    if (req.url === '/version') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"gitVersion":"v1.34.0"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

const realEnv = () => {
  const env = testEnv(new MemoryKube());
  env.connect = connectCluster;
  return env;
};

type Command = (name: string, flags: ClusterFlags, env: ReturnType<typeof realEnv>) => Promise<number>;
const COMMANDS: [string, Command][] = [
  ['get NAME', (name, flags, env) => runGet(name, flags, env)],
  ['get', (_, flags, env) => runGet(undefined, flags, env)],
  ['get NAME --watch', (name, flags, env) => runGet(name, { ...flags, watch: true }, env)],
  ['status', runStatus],
  ['describe', runDescribe],
  ['promote', runPromote],
  ['abort', runAbort],
  ['pause', runPause],
  ['resume', runResume],
  ['retry', runRetry],
];

let silent: Awaited<ReturnType<typeof silentTcpServer>>;
let quiet: Awaited<ReturnType<typeof quietAfterVersion>>;
beforeAll(async () => {
  silent = await silentTcpServer();
  quiet = await quietAfterVersion();
});
afterAll(async () => {
  await silent.close();
  await quiet.close();
});

describe('an API server that accepts the connection and never answers', () => {
  it.each(COMMANDS)('%s ends after --request-timeout with one line and exit code 3', async (_, command) => {
    for (const server of [silent.url, quiet.url]) {
      const env = realEnv();
      const kubeconfig = kubeconfigFor(server);
      const started = Date.now();
      const code = await command('reviews', { color: false, kubeconfig, requestTimeout: '1s' }, env);
      const took = Date.now() - started;
      expect(code).toBe(EXIT.unknown);
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(4_000);
      expect(env.out).toEqual([]);
      expect(env.err).toEqual([
        `the Kubernetes API server at ${server} did not answer within 1s (context "silent" in ${kubeconfig}); check that it is up and reachable from here (VPN, proxy, firewall) and the --context, or give it longer with --request-timeout`,
      ]);
    }
    expect(silent.accepted()).toBeGreaterThan(0);
  });

  it('`status --timeout 3s` returns after about 3 s as the installed binary, with one line and no stack trace', async () => {
    const kubeconfig = kubeconfigFor(silent.url);
    const started = Date.now();
    const result = await cli(['status', 'reviews', '--timeout', '3s', '--kubeconfig', kubeconfig], {
      HOME: process.env.HOME ?? '/',
    });
    const took = Date.now() - started;
    expect(result).toEqual({
      code: EXIT.unknown,
      stdout: '',
      stderr: `the Kubernetes API server at ${silent.url} did not answer within 3s (context "silent" in ${kubeconfig}); check that it is up and reachable from here (VPN, proxy, firewall) and the --context, or give it longer with --request-timeout\n`,
    });
    // tsx's own start-up comes on top of the 3 s
    expect(took).toBeGreaterThanOrEqual(3_000);
    expect(took).toBeLessThan(12_000);
  }, 60_000);
});

/** The CLI as a process, with the environment given (and nothing of the test's own). */
function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

describe('no kubeconfig anywhere', () => {
  it('says what is missing and how to point at a cluster', async () => {
    const home = mkdtempSync(join(tmpdir(), 'canaria-home-'));
    const withContextless = mkdtempSync(join(tmpdir(), 'canaria-home-'));
    mkdirSync(join(withContextless, '.kube'));
    writeFileSync(
      join(withContextless, '.kube', 'config'),
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: dev, context: {cluster: c, user: u}}]\n',
    );
    const [nothing, named, noContext] = await Promise.all([
      cli(['get'], { HOME: home }),
      cli(['status', 'reviews'], { HOME: home, KUBECONFIG: join(home, 'nowhere.yaml') }),
      cli(['get'], { HOME: withContextless }),
    ]);
    expect(nothing).toEqual({
      code: EXIT.unknown,
      stdout: '',
      stderr: `no cluster configured: ${home}/.kube/config does not exist, KUBECONFIG is not set, and this is not a pod (KUBERNETES_SERVICE_HOST is not set); point at a cluster with --kubeconfig FILE or KUBECONFIG=FILE, or write ~/.kube/config (kind create cluster, minikube start, or your provider, e.g. gcloud container clusters get-credentials / aws eks update-kubeconfig / az aks get-credentials)\n`,
    });
    expect(named.code).toBe(EXIT.unknown);
    expect(named.stderr).toMatch(
      new RegExp(
        `^no kubeconfig: KUBECONFIG is set to ${home}/nowhere\\.yaml, and no such file exists; point at a cluster with .*\\n$`,
      ),
    );
    // a kubeconfig without a current context names the contexts there are
    expect(noContext).toEqual({
      code: EXIT.unknown,
      stdout: '',
      stderr: `the kubeconfig ${withContextless}/.kube/config has no current context; pick one of dev with --context, or: kubectl config use-context NAME\n`,
    });
  }, 60_000);
});
