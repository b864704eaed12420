import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { seedFile } from '../../../test/fixtures/seeds/load.js';
import type { CommandIo } from '../io.js';
import { runLint } from './lint.js';

function captureIo(): CommandIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    readFile: (path) => readFile(path, 'utf8'),
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
  };
}

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('canaria lint', () => {
  it("reports seed 002's weight inside destination with file, line, path and fix, and exits 1", async () => {
    const io = captureIo();
    const file = seedFile('s4-demo4-cookie.yaml');
    expect(await runLint([file], {}, io)).toBe(1);
    expect(io.out[0]).toBe(
      `${file}:24: error: VirtualService test1/demo4-vs spec.http[0].route[0].destination.weight: weight is not a field of destination; Istio rejects the VirtualService (unknown field) and the split does not happen (fix: move "weight: 50" out of destination, to spec.http[0].route[0].weight beside destination)`,
    );
    expect(io.out[1]).toContain(
      ':28: error: VirtualService test1/demo4-vs spec.http[0].route[1].destination.weight',
    );
    expect(io.out.at(-1)).toBe('2 errors, 1 warning');
  });

  it('exits 0 on the corrected seeds, warnings included', async () => {
    const io = captureIo();
    const files = ['s1-myweb-fixed.yaml', 's3-reviews-header.yaml', 's4-demo4-cookie-fixed.yaml'].map(
      seedFile,
    );
    expect(await runLint(files, {}, io)).toBe(0);
    expect(io.out.at(-1)).toBe('0 errors, 1 warning');
  });

  it('prints JSON findings', async () => {
    const io = captureIo();
    expect(await runLint([seedFile('s1-myweb.yaml')], { json: true }, io)).toBe(1);
    const { findings } = JSON.parse(io.out.join('\n')) as { findings: { path: string; line: number }[] };
    expect(findings.map((f) => [f.path, f.line])).toEqual([
      ['spec.http[0].route[0].destination.weight', 76],
      ['spec.http[0].route[1].destination.weight', 80],
    ]);
  });

  it('reports a file it cannot read as an error', async () => {
    const io = captureIo();
    expect(await runLint(['/nonexistent/vs.yaml'], {}, io)).toBe(1);
    expect(io.out[0]).toMatch(
      /^\/nonexistent\/vs\.yaml: error: cannot read the file: .*\(fix: correct the file\)$/,
    );
  });

  it('exits non-zero from the real command line', () => {
    const run = (file: string) =>
      spawnSync('npx', ['tsx', 'src/cli/main.ts', 'lint', seedFile(file)], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const bad = run('s4-demo4-cookie.yaml');
    expect(bad.stdout).toContain('spec.http[0].route[0].destination.weight');
    expect(bad.status).toBe(1);
    expect(run('s4-demo4-cookie-fixed.yaml').status).toBe(0);
  }, 120_000);
});
