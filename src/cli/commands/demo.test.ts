import { describe, expect, it } from 'vitest';
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
    // under seed 22 the healthy canary's few early requests happen to fail often: rolled back by noise
    const o = output(false);
    expect(await runDemo({ seed: 22, color: false, fast: true }, o.out)).toBe(1);
    expect(o.errors.join('')).toMatch(
      /^demo outcomes were RolledBack, RolledBack; expected Succeeded, RolledBack/,
    );
  });
});
