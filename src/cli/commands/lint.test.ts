import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { seedFile } from '../../../test/fixtures/seeds/load.js';
import type { CommandIo } from '../io.js';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { route, split } from '../../routers/gateway-api/fixtures.test-support.js';
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
    expect(io.out[0]).toMatch(/^\/nonexistent\/vs\.yaml: error: cannot read the file: ENOENT[^(]*$/);
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

  it('reads a directory recursively, and says an empty input is an error, not "no findings"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canaria-lint-'));
    mkdirSync(join(dir, 'nested'));
    writeFileSync(join(dir, 'nested', 'vs.yaml'), await readFile(seedFile('s4-demo4-cookie.yaml'), 'utf8'));
    writeFileSync(join(dir, 'README.md'), '# not YAML');
    const io = captureIo();
    expect(await runLint([dir], {}, io)).toBe(1);
    expect(io.out[0]).toMatch(
      new RegExp(`^${dir}/nested/vs\\.yaml:24: error: VirtualService test1/demo4-vs`),
    );

    const empty = mkdtempSync(join(tmpdir(), 'canaria-lint-'));
    writeFileSync(join(empty, 'blank.yaml'), '# nothing here\n---\n');
    const blank = captureIo();
    expect(await runLint([join(empty, 'blank.yaml')], {}, blank)).toBe(1);
    expect(blank.out).toEqual([
      `${empty}/blank.yaml: error: no YAML documents to lint: the input is empty (fix: give the files that hold the VirtualServices and DestinationRules or HTTPRoutes and Services, and the CanaryReleases)`,
      '1 error, 0 warnings',
    ]);
    const none = captureIo();
    expect(await runLint([mkdtempSync(join(tmpdir(), 'canaria-lint-'))], {}, none)).toBe(1);
    expect(none.out[0]).toMatch(/: error: the directory holds no \.yaml or \.yml file$/);
  });

  it('parses custom promql with the Prometheus grammar, placeholders filled in', async () => {
    const template = (query: string) =>
      [
        'apiVersion: canaria.dev/v1alpha1',
        'kind: AnalysisTemplate',
        'metadata: {name: queue-depth, namespace: shop}',
        'spec:',
        '  args: [{name: queue}]',
        '  metrics:',
        '    - name: depth',
        '      type: promql',
        `      query: ${JSON.stringify(query)}`,
        '      judge: {type: threshold, max: 100}',
      ].join('\n');
    const io = captureIo();
    const good = 'sum(rate(queue_depth{queue="{{ args.queue }}", version="{{ revision }}"}[{{ window }}]))';
    const bad = 'sum(rate(queue_depth{queue="{{ args.queue }}"}[{{ window }}])';
    const file = (name: string, text: string) => {
      const path = join(mkdtempSync(join(tmpdir(), 'canaria-lint-')), name);
      writeFileSync(path, text);
      return path;
    };
    expect(await runLint([file('good.yaml', template(good))], {}, io)).toBe(0);
    const broken = captureIo();
    const badFile = file('bad.yaml', template(bad));
    expect(await runLint([badFile], {}, broken)).toBe(1);
    expect(broken.out[0]).toBe(
      `${badFile}:9: error: AnalysisTemplate shop/queue-depth spec.metrics[0].query: the query is not valid PromQL (Prometheus' grammar stops at offset 38 near "x\\"}[300s])"); rendered with sample values it reads: sum(rate(queue_depth{queue="x"}[300s]) (fix: correct the query; try it in the Prometheus UI with the placeholders filled in)`,
    );
  });

  it('reads - from standard input, as the real command', () => {
    const run = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'lint', '-'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
      input: readFileSync(seedFile('s4-demo4-cookie.yaml'), 'utf8'),
    });
    expect(run.stdout).toMatch(
      /^-:24: error: VirtualService test1\/demo4-vs spec\.http\[0\]\.route\[0\]\.destination\.weight/,
    );
    expect(run.status).toBe(1);
    const empty = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'lint', '-'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
      input: '',
    });
    expect(empty.stdout).toMatch(/^standard input: error: no YAML documents to lint: the input is empty/);
    expect(empty.status).toBe(1);
  }, 120_000);

  it('checks a Gateway API release against the HTTPRoute in the files, with line and fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canaria-lint-'));
    const release = {
      apiVersion: 'canaria.dev/v1alpha1',
      kind: 'CanaryRelease',
      metadata: { name: 'reviews', namespace: 'prod' },
      spec: {
        subsets: {},
        trafficRouting: {
          gatewayAPI: {
            httpRoute: { name: 'reviews' },
            stableService: 'reviews-v1',
            canaryService: 'reviews-v2',
          },
        },
        strategy: { steps: [{ setWeight: 10 }] },
      },
    };
    const file = join(dir, 'app.yaml');
    writeFileSync(file, [release, route([split(100)])].map((d) => stringify(d)).join('---\n'));
    const io = captureIo();
    expect(await runLint([file], {}, io)).toBe(1);
    expect(io.out[0]).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: error: HTTPRoute prod/reviews spec\\.rules: no rule has a backendRef to the stable Service reviews-v1`,
      ),
    );
    expect(io.out[0]).toContain('(fix: add {name: reviews-v1, port: ...} to the rule canaria should manage)');
    expect(io.out.at(-1)).toBe('1 error, 0 warnings, 2 notes on what the files could not show');
  });
});
