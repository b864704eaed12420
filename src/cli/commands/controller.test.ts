import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * An API server without canaria's CRDs: /version and empty lists of everything else (watches held
 * open), but 404 for canaria.dev, as a cluster answers where the chart was never installed.
 */
let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    res.setHeader('content-type', 'application/json');
    if (path === '/version') return void res.end('{"gitVersion":"v1.34.0"}');
    if (path.startsWith('/apis/canaria.dev/')) {
      res.writeHead(404);
      return void res.end(
        JSON.stringify({
          kind: 'Status',
          status: 'Failure',
          reason: 'NotFound',
          code: 404,
          message: 'the server could not find the requested resource',
        }),
      );
    }
    if (path.includes('watch=')) {
      res.flushHeaders();
      return;
    }
    res.end('{"metadata":{"resourceVersion":"1"},"items":[]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function kubeconfig(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'canaria-ctl-')), 'config');
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n`,
  );
  return file;
}

describe('canaria controller start-up', () => {
  it("says in one fatal JSON log line that canaria's CRDs are not installed, and how to install them", async () => {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            'src/main.ts',
            '--kubeconfig',
            kubeconfig(),
            '--prometheus-url',
            'http://127.0.0.1:9',
            '--metrics-port',
            '0',
          ],
          { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' } },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => {
          resolve({ code, stdout, stderr });
        });
      },
    );
    expect(result.code).toBe(1);
    const lines = `${result.stdout}${result.stderr}`.trim().split('\n');
    // every line is a JSON object: no stack trace printed beside them
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const fatal = records.at(-1);
    expect(fatal).toMatchObject({ level: 'fatal', app: 'canaria', cause: { code: 'NotFound', status: 404 } });
    expect(fatal?.msg).toMatch(
      /^canaria's CRDs are not installed in the cluster: it does not serve (canaryreleases|analysistemplates|clusteranalysistemplates)\.canaria\.dev; install them with the chart \(helm install canaria charts\/canaria -n canaria-system --create-namespace\) or alone \(kubectl apply --server-side -f charts\/canaria\/files\/crds\/\)$/,
    );
    for (const record of records) {
      expect(typeof record.level).toBe('string');
      expect(record.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  }, 60_000);
});
