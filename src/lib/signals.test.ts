import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkSignals } from './signals.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let server: Server;
let url: string;
beforeAll(async () => {
  // never answers, as a stuck webhook or a wedged API server does
  server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Runs `work` with garbage collections every 50 ms; says how it ended, or 'still waiting'. */
async function underGc(work: () => Promise<unknown>, waitMs: number): Promise<string> {
  const collector = setInterval(gc, 50);
  try {
    return await Promise.race([
      work().then(
        () => 'answered',
        (err: unknown) => (err as Error).name,
      ),
      new Promise<string>((resolve) =>
        setTimeout(() => {
          resolve('still waiting');
        }, waitMs),
      ),
    ]);
  } finally {
    clearInterval(collector);
  }
}

describe('linkSignals', () => {
  it('times a fetch out although garbage collections run while it waits', async () => {
    const stopping = new AbortController();
    const linked = linkSignals([stopping.signal], 300);
    const started = Date.now();
    const ended = await underGc(
      () => fetch(url, { method: 'POST', body: 'x', signal: linked.signal }),
      3_000,
    );
    expect(ended).toBe('TimeoutError');
    expect(linked.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('aborts an http.request when a parent aborts after garbage collections', async () => {
    const stopping = new AbortController();
    const linked = linkSignals([undefined, stopping.signal], 60_000);
    setTimeout(() => {
      stopping.abort(new Error('stopping'));
    }, 300);
    const ended = await underGc(
      () =>
        new Promise((resolve, reject) => {
          const req = request(url, { method: 'POST', signal: linked.signal }, resolve);
          req.on('error', reject);
          req.end('x');
        }),
      3_000,
    );
    expect(ended).toBe('AbortError');
    expect(linked.timedOut).toBe(false);
    expect(linked.signal.reason).toEqual(new Error('stopping'));
  });

  it('is aborted at once by a parent that already was, and keeps its reason', () => {
    const parent = new AbortController();
    parent.abort('gone');
    const linked = linkSignals([parent.signal], 1_000);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe('gone');
  });

  it('lets go of its parent once disposed: a later abort does not reach it', () => {
    const parent = new AbortController();
    const linked = linkSignals([parent.signal], 1_000);
    linked.dispose();
    parent.abort();
    expect(linked.signal.aborted).toBe(false);
  });

  it('without a deadline, aborts only with a parent', async () => {
    const parent = new AbortController();
    const linked = linkSignals([parent.signal]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(linked.signal.aborted).toBe(false);
    parent.abort();
    expect(linked.signal.aborted).toBe(true);
  });
});
