/**
 * A real Prometheus for tests: Debian's `prometheus` binary on a free loopback port, with a temporary
 * TSDB and a 1 s scrape interval. Missing binary is a failure that says how to install it, never a skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PrometheusClient } from '../../src/metrics/prometheus-client.js';

export const PROMETHEUS_BINARY = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface PrometheusOptions {
  /** host:port targets to scrape at /metrics. */
  targets: string[];
  scrapeIntervalSeconds?: number;
}

export interface PrometheusServer {
  url: string;
  /**
   * Waits for a scrape of every target that happened after `after` (epoch ms; now by default) and
   * returns its sample timestamp, so a test can evaluate exactly at the last sample.
   */
  waitForScrape(after?: number, timeoutMs?: number): Promise<number>;
  /** SIGSTOP: the process stays, answers nothing; for timeout tests. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  if (!existsSync(PROMETHEUS_BINARY)) {
    throw new Error(`prometheus not found: apt-get install prometheus (looked for ${PROMETHEUS_BINARY})`);
  }
  const interval = options.scrapeIntervalSeconds ?? 1;
  const dir = await mkdtemp(path.join(tmpdir(), 'canaria-prometheus-'));
  const config = [
    'global:',
    `  scrape_interval: ${interval}s`,
    `  evaluation_interval: ${interval}s`,
    'scrape_configs:',
    '  - job_name: mesh',
    `    scrape_timeout: ${interval}s`,
    '    static_configs:',
    `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const child = spawn(
    PROMETHEUS_BINARY,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', resolve);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const client = new PrometheusClient({ address: url, timeoutMs: 2000, retries: 0 });
  const waitForScrape = async (after = Date.now(), timeoutMs = 30_000): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr}`);
      try {
        const now = new Date();
        const [up, stamp] = await Promise.all([
          client.query(`count(up == 1) == ${options.targets.length}`, now),
          client.query('min(timestamp(up))', now),
        ]);
        const at = stamp.type === 'vector' ? (stamp.samples[0]?.value ?? 0) * 1000 : 0;
        if (up.type === 'vector' && up.samples.length === 1 && at > after) return Math.round(at);
        last = `targets up: ${JSON.stringify(up)}, last scrape at ${new Date(at).toISOString()}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `no scrape of ${options.targets.join(', ')} after ${new Date(after).toISOString()}: ${last}`,
    );
  };

  try {
    await waitUntilReady(url, child, () => stderr);
    await waitForScrape(0);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    waitForScrape,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    stop,
  };
}

async function waitUntilReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`prometheus exited (${child.exitCode}) before ready: ${stderr()}`);
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`prometheus at ${url} not ready within 30 s: ${stderr()}`);
}
