import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { SimulationResult } from '../../sim/simulate.js';
import { runSimulate, type SimulateIo, type SimulateOptions } from './simulate.js';

const EXAMPLES = new URL('../../../examples/scenarios/', import.meta.url).pathname;
const example = (name: string) => `${EXAMPLES}${name}`;

/** Real files in, everything written kept; `inline` files are served from memory. */
function testIo(inline: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const written = new Map<string, string>();
  const io: SimulateIo = {
    readFile: (path) => (path in inline ? Promise.resolve(inline[path] ?? '') : readFile(path, 'utf8')),
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    writeFile: (path, text) => {
      written.set(path, text);
      return Promise.resolve();
    },
    style: { color: false },
  };
  return { io, out, err, written };
}

async function simulateJson(
  options: Partial<SimulateOptions> & { file: string[] },
): Promise<SimulationResult> {
  const t = testIo();
  const code = await runSimulate({ ...options, json: true }, t.io);
  expect(code, t.err.join('\n')).toBe(0);
  return JSON.parse(t.out.join('\n')) as SimulationResult;
}

const release = example('reviews-release.yaml');

describe('canaria simulate on the examples', () => {
  it('healthy.yaml: promoted step by step while traffic rises', async () => {
    const result = await simulateJson({ file: [release], scenario: example('healthy.yaml') });
    expect(result.outcome).toBe('Succeeded');
    expect([...new Set(result.weights.map((w) => w.actual))]).toEqual([0, 5, 10, 25, 50, 100]);
  });

  it('fault-at-10m.yaml: rolled back after the fault starts, at the weight it had reached', async () => {
    const result = await simulateJson({ file: [release], scenario: example('fault-at-10m.yaml') });
    expect(result.outcome).toBe('RolledBack');
    const rollback = result.timeline.at(-1)!;
    expect(rollback.atMs).toBeGreaterThan(10 * 60_000);
    expect(rollback.decision.message).toMatch(
      /^rolled back at (10|25)% over \d+m.*error-ratio Fail: .*e-value \S+ >= 100/,
    );
    // before the fault no analysis failed twice in a row
    expect(result.timeline.filter((e) => e.decision.action === 'Rollback')).toHaveLength(1);
  });

  it('low-traffic.yaml: holds at 5 % collecting evidence until the time limit and never rolls back', async () => {
    const result = await simulateJson({ file: [release], scenario: example('low-traffic.yaml') });
    expect(result.finished).toBe(false);
    expect(result.outcome).toBe('Progressing');
    expect(result.durationMs).toBe(30 * 60_000);
    expect(result.weights.at(-1)?.actual).toBe(5);
    const holds = result.timeline.filter((e) => e.decision.action === 'Hold');
    expect(holds.length).toBeGreaterThan(10);
    expect(holds.every((e) => ['Inconclusive', 'CollectingEvidence'].includes(e.decision.reason))).toBe(true);
    expect(holds.at(-1)?.decision.message).toMatch(/more canary requests \(~\d/);
    expect(result.timeline.some((e) => e.decision.action === 'Rollback')).toBe(false);
  });

  it('ab-header.yaml: only the testuser requests reach v2 during the A/B stage, then everyone moves', async () => {
    const result = await simulateJson({
      file: [example('reviews-ab-release.yaml')],
      scenario: example('ab-header.yaml'),
    });
    expect(result.outcome).toBe('Succeeded');
    const abDone = result.timeline.find((e) => e.decision.message.startsWith('step 1 (A/B match stage'))!;
    const { v1, v2 } = abDone.served;
    // the scenario sends 10 % of requests with end-user: testuser
    expect(v2!.total / (v1!.total + v2!.total)).toBeCloseTo(0.1, 1);
    expect(abDone.actualWeight).toBe(0);
  });

  it('prints the same timeline for the same seed and another for another seed', async () => {
    const text = async (seed: string) => {
      const t = testIo();
      await runSimulate({ file: [release], scenario: example('fault-at-10m.yaml'), seed }, t.io);
      return t.out.join('\n');
    };
    const once = await text('11');
    expect(await text('11')).toBe(once);
    expect(await text('12')).not.toBe(once);
    expect(once).toMatch(/^outcome {2}RolledBack after \d+m\d+s of simulated time$/m);
  });

  it('writes the HTML report and checks the outcome with --expect', async () => {
    const t = testIo();
    const code = await runSimulate(
      { file: [release], scenario: example('fault-at-10m.yaml'), report: 'out.html', expect: 'Succeeded' },
      t.io,
    );
    expect(code).toBe(1);
    expect(t.err).toEqual([
      'report written to out.html',
      'expected the release to end Succeeded, it ended RolledBack',
    ]);
    expect(t.written.get('out.html')).toMatch(/^<!doctype html>[\s\S]*id="chart-weights"/);
  });
});

describe('canaria simulate: bad input names the file, the field and the fix', () => {
  it('rejects a scenario field by its path', async () => {
    const t = testIo({
      'bad.yaml': 'faults:\n  - {at: 10, revision: v2, errorRate: 0.2}\nrevisions:\n  v9: {}\n',
    });
    expect(await runSimulate({ file: [release], scenario: 'bad.yaml' }, t.io)).toBe(64);
    expect(t.err).toEqual(['bad.yaml: faults[0].at: at must be a duration such as 10m (units ms, s, m, h)']);
  });

  it('rejects revisions the release does not have', async () => {
    const t = testIo({ 'typo.yaml': 'faults:\n  - {at: 10m, revision: v22, errorRate: 0.2}\n' });
    expect(await runSimulate({ file: [release], scenario: 'typo.yaml' }, t.io)).toBe(64);
    expect(t.err).toEqual([
      'typo.yaml: faults[0].revision: the release has no revision or subset "v22"; known: v1, v2',
    ]);
  });

  it('rejects a bad seed, an unknown phase and a missing file', async () => {
    const t = testIo();
    // usage errors (64), not the 1 of a release that ended other than expected
    expect(await runSimulate({ file: [release], seed: 'x' }, t.io)).toBe(64);
    expect(await runSimulate({ file: [release], expect: 'Done' }, t.io)).toBe(64);
    expect(await runSimulate({ file: ['/nonexistent/release.yaml'] }, t.io)).toBe(64);
    expect(t.err[0]).toBe('--seed "x" must be a whole number >= 0, e.g. --seed 7');
    expect(t.err[1]).toMatch(/^--expect "Done" is not a phase; use one of Initializing, Progressing/);
    expect(t.err[2]).toMatch(/^\/nonexistent\/release.yaml: cannot read the file/);
  });
});

describe('canaria simulate: exit codes a CI job can branch on', () => {
  it('exits 1, not 0, for a release that ends Failed on its configuration, unless --expect Failed', async () => {
    const text = await readFile(release, 'utf8');
    // the template does not exist: the controller reports ConfigValid False and the phase Failed
    const broken = text.replace('name: latency-p99', 'name: latency-p999');
    expect(broken).not.toBe(text);
    const t = testIo({ 'broken.yaml': broken });
    expect(await runSimulate({ file: ['broken.yaml'] }, t.io)).toBe(1);
    expect(t.out.join('\n')).toMatch(/^outcome {2}Failed/m);
    expect(t.err.at(-1)).toBe(
      'the release ended Failed: its configuration is invalid (the timeline says why); fix it and simulate again',
    );
    expect(
      await runSimulate({ file: ['broken.yaml'], expect: 'Failed' }, testIo({ 'broken.yaml': broken }).io),
    ).toBe(0);
  });
});
