import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeError } from './errors.js';
import { KubeHttp } from './http.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A stand-in API server: GETs succeed, PATCHes conflict. */
async function fakeApiServer(): Promise<string> {
  const server = http.createServer((req, res) => {
    if (req.method === 'PATCH') {
      res
        .writeHead(409, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', message: 'the object has been modified' }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"kind":"Deployment"}');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function kubeConfig(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'secret' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return config;
}

describe('KubeHttp observer', () => {
  it('tells onCall of every call with its method, result (ok or the KubeError code) and duration', async () => {
    const told: { method: string; result: string; seconds: number }[] = [];
    const api = new KubeHttp(kubeConfig(await fakeApiServer()), 5000, (call) => told.push(call));
    await api.request({ method: 'GET', path: '/apis/apps/v1/namespaces/shop/deployments/web' });
    await expect(
      api.request({ method: 'PATCH', path: '/apis/apps/v1/namespaces/shop/deployments/web', body: [] }),
    ).rejects.toBeInstanceOf(KubeError);
    const unreachable = new KubeHttp(kubeConfig('http://127.0.0.1:1'), 5000, (call) => told.push(call));
    await expect(unreachable.request({ method: 'GET', path: '/version' })).rejects.toMatchObject({
      code: 'Unavailable',
    });
    expect(told.map(({ method, result }) => `${method} ${result}`)).toEqual([
      'GET ok',
      'PATCH Conflict',
      'GET Unavailable',
    ]);
    for (const { seconds } of told) expect(seconds).toBeGreaterThan(0);
  });
});

describe('KubeHttp connections', () => {
  it('keeps one connection alive across calls instead of a new one (and TLS handshake) per call', async () => {
    let connections = 0;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"kind":"Deployment"}');
    });
    server.on('connection', () => (connections += 1));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const api = new KubeHttp(kubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), 5000);
    for (let i = 0; i < 5; i++)
      await api.request({ method: 'GET', path: '/apis/apps/v1/namespaces/shop/deployments/web' });
    expect(connections).toBe(1);
    api.stop();
  });
});
