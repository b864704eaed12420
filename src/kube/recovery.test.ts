import { describe, expect, it } from 'vitest';
import { ServerRecovery } from './recovery.js';

describe('ServerRecovery', () => {
  it('ends every wait at the first call that succeeds, long before the backoff would', async () => {
    let up = false;
    let probes = 0;
    const recovery = new ServerRecovery(() => {
      probes++;
      return up ? Promise.resolve() : Promise.reject(new Error('connection refused'));
    }, 20);
    // what the client's observer does with a successful probe (or any other call)
    const probe = () => {
      recovery.answered();
    };
    const stopping = new AbortController();
    const started = Date.now();
    const waits = [recovery.wait(16_000, stopping.signal), recovery.wait(8_000, stopping.signal)];
    setTimeout(() => {
      up = true;
    }, 100);
    const poll = setInterval(() => {
      if (up) probe();
    }, 10);
    await Promise.all(waits);
    clearInterval(poll);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(probes).toBeGreaterThan(0);
  });

  it('probes while someone waits, and rejects a wait whose signal aborts', async () => {
    let probes = 0;
    const recovery = new ServerRecovery(() => {
      probes++;
      return Promise.reject(new Error('down'));
    }, 10);
    const stopping = new AbortController();
    const wait = recovery.wait(10_000, stopping.signal);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(probes).toBeGreaterThan(2);
    stopping.abort();
    await expect(wait).rejects.toThrow();
    const after = probes;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(probes).toBeLessThanOrEqual(after + 1);
  });

  it('waits the whole time when the server stays quiet', async () => {
    const recovery = new ServerRecovery(() => Promise.reject(new Error('down')), 10);
    const started = Date.now();
    await recovery.wait(80, new AbortController().signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  });
});
