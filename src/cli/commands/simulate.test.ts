import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { EXIT } from '../exit-codes.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulationResult } from '../../sim/simulate.js';
import { cannotWrite, runSimulate, type SimulateIo, type SimulateOptions } from './simulate.js';

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
    cannotWrite: () => Promise.resolve(undefined),
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
    // as the file says: only the first step holds, for a minute or two, until the canary has served enough
    const holds = result.timeline.filter((e) => e.decision.action === 'Hold');
    expect(holds.map((e) => e.step)).toEqual([1]);
    expect(holds[0]!.lastAtMs).toBeLessThan(3 * 60_000);
  });

  it('fault-at-10m.yaml: rolled back after the fault starts, at the weight it had reached', async () => {
    const result = await simulateJson({ file: [release], scenario: example('fault-at-10m.yaml') });
    expect(result.outcome).toBe('RolledBack');
    const rollback = result.timeline.at(-1)!;
    // as the file says: within about a minute of the fault, at once, at 25 %
    expect(rollback.atMs).toBeGreaterThan(10 * 60_000);
    expect(rollback.atMs).toBeLessThan(12 * 60_000);
    expect(rollback.decision.message).toMatch(
      /^rolled back at 25% over \d+m.*error-ratio Fail: .*e-value \S+ >= 100/,
    );
    // before the fault no analysis failed twice in a row
    expect(result.timeline.filter((e) => e.decision.action === 'Rollback')).toHaveLength(1);
  });

  it('low-traffic.yaml: holds at 5 % collecting evidence until the time limit, on one line, and never rolls back', async () => {
    const result = await simulateJson({ file: [release], scenario: example('low-traffic.yaml') });
    expect(result.finished).toBe(false);
    expect(result.outcome).toBe('Progressing');
    expect(result.durationMs).toBe(30 * 60_000);
    expect(result.weights.at(-1)?.actual).toBe(5);
    expect(result.timeline.map((e) => e.decision.action)).toEqual(['Start', 'Advance', 'Hold']);
    const hold = result.timeline[2]!;
    // an analysis a minute from 01:01 to 29:01
    expect(hold.count).toBe(29);
    expect(Object.keys(hold.reasons ?? {}).sort()).toEqual(['CollectingEvidence', 'Inconclusive']);
    expect(hold.decision.message).toMatch(/more canary requests \(~\d/);

    const t = testIo();
    expect(await runSimulate({ file: [release], scenario: example('low-traffic.yaml') }, t.io)).toBe(0);
    const text = t.out.join('\n');
    expect(text.match(/ Hold /g)).toHaveLength(1);
    expect(text).toMatch(/held 29 times from 01:01 to 29:01 \(\d+ collecting evidence, \d+ inconclusive\)/);
    expect(text).toMatch(
      /expected wait: ~\S+ for about \d+ more canary requests \(error-ratio: \d+% of the evidence, this step needs 25%\)/,
    );
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

describe('canaria simulate through an HTTPRoute (Gateway API, a Service per version)', () => {
  const gatewayRelease = example('reviews-gateway-api-release.yaml');

  it('healthy.yaml: promoted step by step, the weights read back from the HTTPRoute', async () => {
    const result = await simulateJson({ file: [gatewayRelease], scenario: example('healthy.yaml') });
    expect(result.outcome).toBe('Succeeded');
    expect([...new Set(result.weights.map((w) => w.actual))]).toEqual([0, 5, 10, 25, 50, 100]);
    expect(result.stable).toEqual({ subset: 'reviews-v1', revision: 'v1' });
    expect(result.canary).toEqual({ subset: 'reviews-v2', revision: 'v2' });
    expect(result.served.v2!.total).toBeGreaterThan(0);
    expect(result.dropped).toEqual({});
  });

  it('fault-at-10m.yaml: rolled back after the fault starts, at the weight it had reached', async () => {
    const result = await simulateJson({ file: [gatewayRelease], scenario: example('fault-at-10m.yaml') });
    expect(result.outcome).toBe('RolledBack');
    const rollback = result.timeline.at(-1)!;
    expect(rollback.decision.action).toBe('Rollback');
    // within about two minutes of the fault (the seed draws other requests than the Istio run's)
    expect(rollback.atMs).toBeGreaterThan(10 * 60_000);
    expect(rollback.atMs).toBeLessThan(13 * 60_000);
    expect(rollback.actualWeight).toBe(0);
  });

  it('says that the files lack the HTTPRoute, with the field and the fix', async () => {
    const text = await readFile(gatewayRelease, 'utf8');
    const withoutRoute = text.replace(
      'kind: HTTPRoute\nmetadata:\n  name: reviews',
      'kind: HTTPRoute\nmetadata:\n  name: other',
    );
    expect(withoutRoute).not.toBe(text);
    const t = testIo({ 'gw.yaml': withoutRoute });
    expect(await runSimulate({ file: ['gw.yaml'], scenario: example('healthy.yaml') }, t.io)).not.toBe(0);
    expect(t.err.join('\n')).toContain(
      'spec.trafficRouting.gatewayAPI.httpRoute.name: HTTPRoute "reviews" (namespace default) is not in the files; add it, the simulator routes every request through it',
    );
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

  it('refuses a metric it cannot simulate before the run, naming it', async () => {
    const text = readFileSync(release, 'utf8').replace(
      '      - name: latency-p99\n',
      '      - name: upstream-failures\n',
    );
    const t = testIo({ 'custom.yaml': text });
    expect(await runSimulate({ file: ['custom.yaml'] }, t.io)).toBe(EXIT.usage);
    expect(t.err).toHaveLength(1);
    expect(t.err[0]).toMatch(
      /^custom\.yaml: spec\.analysis\.templates\[1\] \(ClusterAnalysisTemplate upstream-failures\): metric "upstream-failures": custom PromQL cannot be simulated/,
    );
    // nothing ran: no timeline, no summary
    expect(t.out).toEqual([]);
  });

  it('checks that --report can be written before the run', async () => {
    const t = testIo();
    t.io.cannotWrite = cannotWrite;
    const code = await runSimulate(
      { file: [release], scenario: example('healthy.yaml'), report: '/nonexistent-dir/out.html' },
      t.io,
    );
    expect(code).toBe(EXIT.usage);
    expect(t.err).toEqual([
      '--report /nonexistent-dir/out.html: the directory /nonexistent-dir does not exist; create it or write the report elsewhere',
    ]);
    expect(t.out).toEqual([]);
    expect(t.written.size).toBe(0);
  });

  it('picks one release of a file with several with --release', async () => {
    const ab = readFileSync(example('reviews-ab-release.yaml'), 'utf8');
    const abRelease = ab
      .slice(ab.indexOf('apiVersion: canaria.dev'), ab.indexOf('---'))
      .replace('name: reviews\n  namespace', 'name: reviews-ab\n  namespace');
    const t = testIo({ 'both.yaml': `${readFileSync(release, 'utf8')}\n---\n${abRelease}` });
    expect(await runSimulate({ file: ['both.yaml'] }, t.io)).toBe(EXIT.usage);
    expect(t.err).toEqual([
      'both.yaml: 2 CanaryReleases found (default/reviews, default/reviews-ab); pick one with --release NAME, e.g. --release default/reviews',
    ]);
    const picked = testIo({ 'both.yaml': `${readFileSync(release, 'utf8')}\n---\n${abRelease}` });
    const code = await runSimulate(
      { file: ['both.yaml'], release: 'reviews-ab', scenario: example('ab-header.yaml'), json: true },
      picked.io,
    );
    expect(code, picked.err.join('\n')).toBe(0);
    const result = JSON.parse(picked.out.join('\n')) as SimulationResult;
    expect(result.release).toBe('default/reviews-ab');
    expect(result.stages.map((s) => s.kind)).toEqual(['match']);
  });
});

describe('cannotWrite: the report path, checked without writing', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'canaria-simulate-'));
    await writeFile(path.join(dir, 'existing.html'), 'old');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('accepts a new file in a directory and an existing file, and leaves both as they were', async () => {
    expect(await cannotWrite(path.join(dir, 'new.html'))).toBeUndefined();
    expect(await cannotWrite(path.join(dir, 'existing.html'))).toBeUndefined();
    expect(await readFile(path.join(dir, 'existing.html'), 'utf8')).toBe('old');
    await expect(readFile(path.join(dir, 'new.html'))).rejects.toThrow(/ENOENT/);
  });

  it('says why not: a directory, a missing directory, a file in the way', async () => {
    expect(await cannotWrite(dir)).toBe('is a directory; name a file, e.g. report.html');
    expect(await cannotWrite(path.join(dir, 'no', 'such', 'r.html'))).toBe(
      `the directory ${path.join(dir, 'no', 'such')} does not exist; create it or write the report elsewhere`,
    );
    expect(await cannotWrite(path.join(dir, 'existing.html', 'r.html'))).toBe(
      `${path.join(dir, 'existing.html')} is not a directory`,
    );
  });
});

describe('canaria simulate: managed mode', () => {
  it('simulates examples/managed-podinfo.yaml: the primary set up, a bad change rolled back and reverted', async () => {
    const t = testIo();
    const code = await runSimulate(
      {
        file: [new URL('../../../examples/managed-podinfo.yaml', import.meta.url).pathname],
        scenario: example('managed-bad-image.yaml'),
      },
      t.io,
    );
    expect(code, t.err.join('\n')).toBe(0);
    const text = t.out.join('\n');
    expect(text).toMatch(
      /^00:00 {2}Initialize .*\n {9}initialized: podinfo-primary runs revision [0-9a-f]{8}/m,
    );
    expect(text).toMatch(/^\d\d:\d\d {2}Rollback .*\n {9}rolled back at 10%/m);
    expect(text).toMatch(
      /^\d\d:\d\d {2}Revert .*\n {9}Deployment podinfo: pod template of revision \w+ replaced by the last promoted one/m,
    );
    expect(text).toMatch(/^outcome {2}RolledBack after /m);
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

describe('canaria simulate: webhooks and notifications', () => {
  /** The example release with a confirm-promotion gate and a release sink of its own. */
  const gated = () => {
    const [release_, ...rest] = parseAllDocuments(readFileSync(release, 'utf8')).map(
      (d) => d.toJS() as { spec?: Record<string, unknown> },
    );
    release_!.spec!.webhooks = [
      { name: 'release-manager', type: 'confirm-promotion', url: 'http://gate.test/approve' },
    ];
    release_!.spec!.notifications = {
      sinks: [{ name: 'team', type: 'slack', secretRef: { name: 'team-slack', key: 'url' } }],
    };
    return [release_, ...rest].map((d) => stringify(d)).join('---\n');
  };

  it('shows each hook call and each notification on the timeline, the operator sinks filtered by severity', async () => {
    const t = testIo({
      'gated.yaml': gated(),
      'gate.yaml': 'hooks:\n  release-manager: {status: 403, to: 40m}\n',
      'notifications.yaml': stringify({
        sinks: [{ name: 'ops', type: 'teams', urlFile: '/run/ops/url', severity: 'error' }],
      }),
    });
    const code = await runSimulate(
      { file: ['gated.yaml'], scenario: 'gate.yaml', notificationsFile: 'notifications.yaml' },
      t.io,
    );
    expect(code, t.err.join('\n')).toBe(0);
    const text = t.out.join('\n');
    expect(text).toMatch(
      /waiting for confirm-promotion hook release-manager: HTTP 403[\s\S]*hook release-manager, confirm-promotion: HTTP 403 \(failed\) x\d+/,
    );
    expect(text).toMatch(/hook release-manager, confirm-promotion: HTTP 200 at (40|41):\d\d/);
    expect(text).toContain('notify info started (NewRevision) to team; not to ops (filtered)');
    expect(text).toMatch(/notify info succeeded \(\w+\) to team; not to ops \(filtered\)/);
    expect(text).toMatch(/outcome +Succeeded/);
  });

  it('rejects a scenario hook the release does not have, and a bad notifications file, by their fields', async () => {
    const t = testIo({
      'gated.yaml': gated(),
      'typo.yaml': 'hooks:\n  release-manger: {fail: true}\n',
      'bad.yaml': 'sinks:\n  - {name: ops, type: discord, urlFile: /x}\n',
    });
    expect(await runSimulate({ file: ['gated.yaml'], scenario: 'typo.yaml' }, t.io)).toBe(64);
    expect(await runSimulate({ file: ['gated.yaml'], notificationsFile: 'bad.yaml' }, t.io)).toBe(64);
    expect(t.err).toEqual([
      'typo.yaml: hooks.release-manger: the release has no webhook "release-manger"; its webhooks: release-manager',
      'bad.yaml: sinks[0].type: unknown sink type "discord"; use one of slack, teams, cloudevents',
    ]);
  });
});
