import { describe, expect, it } from 'vitest';
import { loadCluster } from '../../sim/cluster.js';
import { DEMO_CASES } from '../../sim/demo.js';
import { simulate } from '../../sim/simulate.js';
import { runDemo, type DemoOutput } from './demo.js';

function output(isTTY: boolean) {
  const written: string[] = [];
  const errors: string[] = [];
  const out: DemoOutput = { write: (t) => written.push(t), error: (t) => errors.push(t), isTTY };
  return { out, text: () => written.join(''), errors };
}

describe('canaria demo', () => {
  it('shows one promoted and one rolled-back release and exits 0, plainly when not on a terminal', async () => {
    const o = output(false);
    expect(await runDemo({ seed: 42, color: true, fast: false }, o.out)).toBe(0);
    const text = o.text();
    expect(text.match(/^outcome {2}\S+/gm)).toEqual(['outcome  Succeeded', 'outcome  RolledBack']);
    expect(text).toContain('== reviews v1 -> v2: a healthy canary');
    expect(text).toMatch(/Rollback step 2\/6 {3}v3 {5}0%/);
    // no escape codes for a pipe or a file
    expect(text).not.toContain('\u001b');
    expect(o.errors).toEqual([]);
  });

  it('draws a progress line that updates in place on a terminal', async () => {
    const o = output(true);
    expect(await runDemo({ seed: 42, color: false, fast: true }, o.out)).toBe(0);
    // every redraw clears the line first
    const redraws = o.text().split('\r\u001b[2K');
    expect(
      redraws.some((r) => /^\d\d:\d\d {2}\[#*-*\] {2}step \d\/6 {2}v2 +\d+% {2}Progressing/.test(r)),
    ).toBe(true);
    // the summary replaces the progress line
    expect(redraws.some((r) => r.startsWith('outcome  Succeeded'))).toBe(true);
  });

  it('exits 1 when the outcomes are not the expected ones', async () => {
    const o = output(false);
    const [healthy, faulty] = DEMO_CASES;
    const wrongly = [{ ...healthy!, expected: 'RolledBack' as const }, faulty!];
    expect(await runDemo({ seed: 42, color: false, fast: true }, o.out, wrongly)).toBe(1);
    expect(o.errors.join('')).toMatch(
      /^demo outcomes were Succeeded, RolledBack; expected RolledBack, RolledBack/,
    );
  });

  it('promotes the healthy canary and rolls back the faulty one for every seed from 1 to 200', async () => {
    const wrong: string[] = [];
    for (const demo of DEMO_CASES) {
      const loaded = loadCluster(demo.manifests);
      if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
      for (let seed = 1; seed <= 200; seed++) {
        const { outcome } = await simulate(loaded.value, demo.scenario, { seed });
        if (outcome !== demo.expected) wrong.push(`${demo.title}, seed ${seed}: ${outcome ?? 'none'}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 120_000);
});
