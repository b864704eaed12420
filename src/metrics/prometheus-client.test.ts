import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MetricsBackendError } from './errors.js';
import { PrometheusClient, parseSampleValue, type PrometheusConnection } from './prometheus-client.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  form: URLSearchParams;
}
interface Reply {
  status?: number;
  body?: unknown;
  /** Never answer: the client must give up on its own. */
  hang?: boolean;
}

const vector = (result: unknown[]) => ({ status: 'success', data: { resultType: 'vector', result } });
const servers: (http.Server | https.Server)[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A stand-in for Prometheus' HTTP API that records requests and replies as told. */
async function fakePrometheus(reply: (seen: Seen, n: number) => Reply, tls?: { key: Buffer; cert: Buffer }) {
  const seen: Seen[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        form: new URLSearchParams(body),
      };
      seen.push(request);
      const answer = reply(request, seen.length);
      if (answer.hang) return;
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? vector([]));
      res.writeHead(answer.status ?? 200, { 'Content-Type': 'application/json' }).end(text);
    });
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { address: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, seen };
}

const client = (options: PrometheusConnection) => new PrometheusClient({ retryBackoffMs: 10, ...options });

async function failure(promise: Promise<unknown>): Promise<MetricsBackendError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MetricsBackendError);
  return err as MetricsBackendError;
}

describe('PrometheusClient queries', () => {
  it('posts an instant query and reads a vector, special floats included', async () => {
    const prom = await fakePrometheus(() => ({
      body: vector([
        { metric: { revision: 'v1' }, value: [1700000000, '12.5'] },
        { metric: { revision: 'v2' }, value: [1700000000, '+Inf'] },
        { metric: { revision: 'v3' }, value: [1700000000, 'NaN'] },
      ]),
    }));
    const result = await client({ address: prom.address }).query('sum(x)', new Date(1_700_000_000_500));
    expect(result).toEqual({
      type: 'vector',
      samples: [
        { labels: { revision: 'v1' }, value: 12.5 },
        { labels: { revision: 'v2' }, value: Infinity },
        { labels: { revision: 'v3' }, value: Number.NaN },
      ],
    });
    const [request] = prom.seen;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/api/v1/query');
    expect(request?.form.get('query')).toBe('sum(x)');
    expect(request?.form.get('time')).toBe('1700000000.500');
    expect(request?.form.get('timeout')).toMatch(/^\d+s$/);
  });

  it('reads a scalar and a range query', async () => {
    const prom = await fakePrometheus((seen) =>
      seen.url.endsWith('query_range')
        ? {
            body: {
              status: 'success',
              data: {
                resultType: 'matrix',
                result: [
                  {
                    metric: { a: 'b' },
                    values: [
                      [10, '1'],
                      [20, '-Inf'],
                    ],
                  },
                ],
              },
            },
          }
        : { body: { status: 'success', data: { resultType: 'scalar', result: [10, '0.25'] } } },
    );
    const api = client({ address: prom.address });
    expect(await api.query('0.25', new Date(10_000))).toEqual({ type: 'scalar', value: 0.25 });
    const range = await api.queryRange('x', {
      start: new Date(10_000),
      end: new Date(20_000),
      stepSeconds: 10,
    });
    expect(range).toEqual([
      {
        labels: { a: 'b' },
        points: [
          { time: 10_000, value: 1 },
          { time: 20_000, value: -Infinity },
        ],
      },
    ]);
    expect(prom.seen[1]?.form.get('step')).toBe('10');
  });

  it('keeps a path prefix of the address (Mimir, Thanos behind a proxy)', async () => {
    const prom = await fakePrometheus(() => ({}));
    await client({ address: `${prom.address}/prometheus` }).query('x', new Date());
    expect(prom.seen[0]?.url).toBe('/prometheus/api/v1/query');
  });

  it('reads Prometheus special floats', () => {
    expect([parseSampleValue('+Inf'), parseSampleValue('-Inf'), parseSampleValue('1e3')]).toEqual([
      Infinity,
      -Infinity,
      1000,
    ]);
    expect(parseSampleValue('NaN')).toBeNaN();
  });
});

describe('PrometheusClient failures', () => {
  it('retries a 5xx and succeeds', async () => {
    const prom = await fakePrometheus((_, n) => (n < 3 ? { status: 503, body: 'overloaded' } : {}));
    await client({ address: prom.address, retries: 2 }).query('x', new Date());
    expect(prom.seen).toHaveLength(3);
  });

  it('gives up after the retries with the last 5xx as Unreachable', async () => {
    const prom = await fakePrometheus(() => ({
      status: 500,
      body: { status: 'error', errorType: 'internal', error: 'boom' },
    }));
    const err = await failure(client({ address: prom.address, retries: 1 }).query('x', new Date()));
    expect(prom.seen).toHaveLength(2);
    expect(err).toMatchObject({ code: 'Unreachable', retryable: true, status: 500 });
    expect(err.message).toContain('internal: boom');
  });

  it("never retries a 4xx, and surfaces Prometheus' own message as BadQuery", async () => {
    const error = '1:7: parse error: unclosed left parenthesis';
    const prom = await fakePrometheus(() => ({
      status: 400,
      body: { status: 'error', errorType: 'bad_data', error },
    }));
    const err = await failure(client({ address: prom.address, retries: 3 }).query('sum(x', new Date()));
    expect(prom.seen).toHaveLength(1);
    expect(err).toMatchObject({ code: 'BadQuery', retryable: false, status: 400 });
    expect(err.message).toBe(`Prometheus rejected the query: bad_data: ${error}`);
    expect(err.toMeasurementError()).toEqual({ code: 'BadQuery', message: err.message, retryable: false });
  });

  it('reads an execution error (422) as BadQuery too', async () => {
    const prom = await fakePrometheus(() => ({
      status: 422,
      body: { status: 'error', errorType: 'execution', error: 'many-to-many matching not allowed' },
    }));
    const err = await failure(client({ address: prom.address }).query('a / b', new Date()));
    expect(err).toMatchObject({ code: 'BadQuery' });
    expect(err.message).toContain('many-to-many matching not allowed');
  });

  it('reports refused credentials without retrying, as worth asking again later', async () => {
    const prom = await fakePrometheus(() => ({ status: 401, body: 'unauthorized' }));
    const err = await failure(client({ address: prom.address }).query('x', new Date()));
    expect(prom.seen).toHaveLength(1);
    expect(err).toMatchObject({ code: 'Unreachable', retryable: true, status: 401 });
    expect(err.message).toMatch(/refused the credentials/);
  });

  it('reports a body that is not a query result as Malformed', async () => {
    const prom = await fakePrometheus(() => ({ body: '<html>Grafana</html>' }));
    const err = await failure(client({ address: prom.address }).query('x', new Date()));
    expect(err).toMatchObject({ code: 'Malformed', retryable: false });
    expect(err.message).toContain('<html>Grafana</html>');
  });

  it('retries network errors, then reports Unreachable with the cause', async () => {
    const prom = await fakePrometheus(() => ({}));
    const closed = servers.pop();
    closed?.close();
    const started = Date.now();
    const err = await failure(client({ address: prom.address, retries: 2 }).query('x', new Date()));
    expect(err).toMatchObject({ code: 'Unreachable', retryable: true });
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.cause).toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(30); // backoff 10 ms, then 20 ms
  });

  it('times out within the budget when Prometheus does not answer', async () => {
    const prom = await fakePrometheus(() => ({ hang: true }));
    const started = Date.now();
    const err = await failure(client({ address: prom.address, timeoutMs: 300 }).query('x', new Date()));
    const elapsed = Date.now() - started;
    expect(err).toMatchObject({ code: 'Timeout', retryable: true });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1000);
  });

  it('stops when the caller aborts', async () => {
    const prom = await fakePrometheus(() => ({ hang: true }));
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 50);
    const err = await failure(client({ address: prom.address }).query('x', new Date(), controller.signal));
    expect(err).toMatchObject({ code: 'Timeout' });
    expect(err.message).toMatch(/cancelled by the caller/);
  });
});

describe('PrometheusClient observer', () => {
  it('tells onQuery of each query once, retries included, with its endpoint, result and duration', async () => {
    const prom = await fakePrometheus((seen, n) =>
      seen.form.get('query') === 'bad'
        ? { status: 400, body: { status: 'error', errorType: 'bad_data', error: 'parse error' } }
        : n === 1
          ? { status: 503, body: 'overloaded' }
          : seen.url.endsWith('query_range')
            ? { body: { status: 'success', data: { resultType: 'matrix', result: [] } } }
            : {},
    );
    const told: { endpoint: string; result: string; seconds: number }[] = [];
    const api = client({ address: prom.address, retries: 1, onQuery: (q) => told.push(q) });
    await api.query('x', new Date());
    await api.queryRange('x', { start: new Date(0), end: new Date(60_000), stepSeconds: 15 });
    await failure(api.query('bad', new Date()));
    expect(prom.seen).toHaveLength(4);
    expect(told.map(({ endpoint, result }) => `${endpoint} ${result}`)).toEqual([
      'query ok',
      'query_range ok',
      'query BadQuery',
    ]);
    for (const { seconds } of told) expect(seconds).toBeGreaterThan(0);
  });
});

describe('PrometheusClient authentication', () => {
  it('sends a bearer token and extra headers such as a tenant', async () => {
    const prom = await fakePrometheus(() => ({}));
    await client({
      address: prom.address,
      bearerToken: 's3cret',
      headers: { 'X-Scope-OrgID': 'team-a' },
    }).query('x', new Date());
    expect(prom.seen[0]?.headers.authorization).toBe('Bearer s3cret');
    expect(prom.seen[0]?.headers['x-scope-orgid']).toBe('team-a');
  });

  it('sends basic auth', async () => {
    const prom = await fakePrometheus(() => ({}));
    await client({ address: prom.address, basicAuth: { username: 'u', password: 'p' } }).query(
      'x',
      new Date(),
    );
    expect(prom.seen[0]?.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('re-reads a bearer token file when it is rotated', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'canaria-token-'));
    try {
      const file = path.join(dir, 'token');
      writeFileSync(file, 'first\n');
      const prom = await fakePrometheus(() => ({}));
      const api = client({ address: prom.address, bearerTokenFile: file });
      await api.query('x', new Date());
      writeFileSync(file, 'second-token\n');
      await api.query('x', new Date());
      expect(prom.seen.map((s) => s.headers.authorization)).toEqual(['Bearer first', 'Bearer second-token']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports an unreadable token file with its path', async () => {
    const prom = await fakePrometheus(() => ({}));
    const err = await failure(
      client({ address: prom.address, bearerTokenFile: '/nonexistent/token' }).query('x', new Date()),
    );
    expect(err).toMatchObject({ code: 'Unreachable', retryable: true });
    expect(err.message).toMatch(/bearer token file \/nonexistent\/token/);
  });
});

describe('PrometheusClient TLS', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'canaria-tls-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** A self-signed certificate for 127.0.0.1, made by openssl, which every Debian system has. */
  function certificate() {
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=canaria-test',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          path.join(dir, 'key.pem'),
          '-out',
          path.join(dir, 'cert.pem'),
        ],
        { stdio: 'pipe' },
      );
    } catch (err) {
      throw new Error(
        `openssl is needed to make a test certificate (apt-get install openssl): ${String(err)}`,
      );
    }
    return { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) };
  }

  it('trusts a server signed by the configured CA, and explains a refusal without it', async () => {
    const prom = await fakePrometheus(() => ({}), certificate());
    await client({ address: prom.address, caFile: path.join(dir, 'cert.pem') }).query('x', new Date());
    expect(prom.seen).toHaveLength(1);
    const err = await failure(client({ address: prom.address, retries: 3 }).query('x', new Date()));
    expect(err).toMatchObject({ code: 'Unreachable', retryable: false });
    expect(err.message).toMatch(/set caFile/);
  });
});
