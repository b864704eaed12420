import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { seedFile } from '../../../test/fixtures/seeds/load.js';
import { readFile } from 'node:fs/promises';
import type { CommandIo } from '../io.js';
import { runRouteTest, type RouteTestOptions } from './route-test.js';

function captureIo(): CommandIo & { out: string[] } {
  const out: string[] = [];
  return {
    out,
    readFile: (path) => readFile(path, 'utf8'),
    stdout: (line) => out.push(line),
    stderr: (line) => out.push(line),
  };
}

async function routeTest(
  file: string,
  options: Omit<RouteTestOptions, 'file'>,
): Promise<{ code: number; out: string[] }> {
  const io = captureIo();
  const code = await runRouteTest({ file: [seedFile(file)], ...options }, io);
  return { code, out: io.out };
}

describe('canaria route-test prints the route and split of each seed scenario', () => {
  it('S1: 90/10', async () => {
    expect(await routeTest('s1-myweb-fixed.yaml', { host: 'myweb' })).toEqual({
      code: 0,
      out: ['myweb: route http[0] (no match conditions) -> v1 90%, v2 10%'],
    });
  });

  it('S2: 50/50 between v1 and v3', async () => {
    expect((await routeTest('s2-reviews-v1-v3-50-50.yaml', { host: 'reviews' })).out).toEqual([
      'reviews: route http[0] (no match conditions) -> v1 50%, v3 50%',
    ]);
  });

  it('S3: end-user testuser -> v2 10 %, v3 90 %; without it v1 100 %', async () => {
    expect(
      (await routeTest('s3-reviews-header.yaml', { host: 'reviews', header: ['end-user: testuser'] })).out,
    ).toEqual(['reviews: route http[0] (match headers end-user exact testuser) -> v2 10%, v3 90%']);
    expect((await routeTest('s3-reviews-header.yaml', { host: 'reviews' })).out).toEqual([
      'reviews: route http[1] (no match conditions) -> v1 100%',
    ]);
  });

  it('S4: the company cookie at the gateway splits 50/50', async () => {
    const options = {
      host: 'demo4.a.com',
      gateway: 'demo4-gateway',
      cookie: ['email=bob@some-company-name.com'],
    };
    expect((await routeTest('s4-demo4-cookie-fixed.yaml', options)).out).toEqual([
      'demo4-vs: route http[0] (match headers cookie regex ^(.*?;)?(email=[^;]*@some-company-name.com)(;.*)?$) -> v1 50%, v2 50%',
    ]);
    const seedAsWritten = await routeTest('s4-demo4-cookie.yaml', options);
    expect(seedAsWritten.out[0]).toContain('-> nothing (no destination has a weight)');
    expect(seedAsWritten.out.slice(1).join('\n')).toContain('destination.weight is not an Istio field');
  });

  it('S5: ?name=xx -> v2 100 %; the gateway sends /greet to svc-a', async () => {
    expect((await routeTest('s5-svc-b-query.yaml', { host: 'svc-b', uri: '/greet?name=xx' })).out).toEqual([
      'svc-b: route http[0] (match queryParams name exact xx) -> v2 100%',
    ]);
    expect((await routeTest('s5-svc-b-query.yaml', { host: 'svc-b', query: ['name=yy'] })).out).toEqual([
      'svc-b: route http[1] (no match conditions) -> v1 100%',
    ]);
    expect(
      (await routeTest('s5-svc-b-query.yaml', { host: 'localhost', gateway: 'demo-gateway', uri: '/greet' }))
        .out,
    ).toEqual(['demo: route http[0] (match uri exact /greet) -> svc-a 100%']);
  });

  it('prints JSON with the request, the route and the destinations', async () => {
    const { out } = await routeTest('s3-reviews-header.yaml', {
      host: 'reviews',
      header: ['end-user: testuser'],
      json: true,
    });
    expect(JSON.parse(out.join('\n'))).toMatchObject({
      request: { host: 'reviews', gateway: 'mesh', headers: { 'end-user': 'testuser' } },
      kind: 'matched',
      path: 'spec.http[0]',
      destinations: [
        { subset: 'v2', percent: 10, labels: { version: 'v2' } },
        { subset: 'v3', percent: 90, labels: { version: 'v3' } },
      ],
    });
  });

  it('says when no VirtualService binds the host, and rejects malformed options', async () => {
    expect(await routeTest('s3-reviews-header.yaml', { host: 'ratings' })).toEqual({
      code: 0,
      out: [
        'no VirtualService binds host ratings at the mesh; Istio sends the request to every pod of the Kubernetes Service, no subsets',
      ],
    });
    expect(await routeTest('s3-reviews-header.yaml', { host: 'reviews', header: ['end-user'] })).toEqual({
      code: 1,
      out: ['--header "end-user" is not of the form \'end-user: testuser\''],
    });
  });

  it('runs from the real command line', () => {
    const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
    const run = spawnSync(
      'npx',
      [
        'tsx',
        'src/cli/main.ts',
        'route-test',
        '-f',
        seedFile('s3-reviews-header.yaml'),
        '--host',
        'reviews',
        '-H',
        'end-user: testuser',
      ],
      { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 },
    );
    expect(run.stdout.trim()).toBe(
      'reviews: route http[0] (match headers end-user exact testuser) -> v2 10%, v3 90%',
    );
    expect(run.status).toBe(0);
  }, 120_000);
});
