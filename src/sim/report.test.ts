import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifests } from '../routers/istio/manifests.js';
import { loadCluster } from './cluster.js';
import { asManifests, relativeReviews, reviewsWith } from '../../test/builders/sim.js';
import { DEMO_CASES } from './demo.js';
import { renderReport } from './report.js';
import { parseScenario, scenarioSpec, type ScenarioInput } from './scenario.js';
import { simulate, type SimulationResult } from './simulate.js';

const EXAMPLES = new URL('../../examples/scenarios/', import.meta.url);
const exampleText = (name: string) => readFileSync(new URL(name, EXAMPLES), 'utf8');

async function faultyDemo(): Promise<SimulationResult> {
  const demo = DEMO_CASES[1]!;
  const loaded = loadCluster(demo.manifests);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  return simulate(loaded.value, demo.scenario, { seed: 3 });
}

/** The A/B example (sequential error-ratio, relative latency), with a fault after the A/B stage. */
async function abWithFault(): Promise<SimulationResult> {
  const loaded = loadCluster(
    parseManifests('reviews-ab-release.yaml', exampleText('reviews-ab-release.yaml')).manifests,
  );
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const parsed = parseScenario(
    `${exampleText('ab-header.yaml')}faults:\n  - {at: 13m, revision: v2, errorRate: 0.05, latency: {p50: 90, p99: 900}}\n`,
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return simulate(loaded.value, parsed.value, { seed: 3 });
}

/** The demo release with relative judges (minSamples 100) at low traffic: the requests chart's case. */
async function lowTraffic(
  scenario: ScenarioInput = { maxDuration: '12m', traffic: { requestsPerSecond: 0.5 } },
) {
  const loaded = loadCluster(asManifests(relativeReviews()));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  return simulate(loaded.value, scenarioSpec.parse(scenario), { seed: 1 });
}

/** The chart section with this id. */
function chart(html: string, id: string): string {
  const at = html.indexOf(`<section class="chart" id="${id}">`);
  if (at < 0) throw new Error(`no chart ${id}`);
  return html.slice(at, html.indexOf('</section>', at));
}

const seriesNames = (section: string) =>
  [...section.matchAll(/class="series" data-series="([^"]*)"/g)].map((m) => m[1]);
const pointCounts = (section: string) =>
  [...section.matchAll(/class="series"[^>]*data-points="(\d+)"/g)].map((m) => Number(m[1]));

describe('renderReport', () => {
  it('draws the weights, error rates and latencies as SVG series, and marks every decision', async () => {
    const result = await faultyDemo();
    const html = renderReport(result);
    for (const id of ['chart-weights', 'chart-errors', 'chart-latency']) {
      const counts = pointCounts(chart(html, id));
      expect(counts.length, id).toBeGreaterThanOrEqual(2);
      expect(Math.min(...counts), id).toBeGreaterThanOrEqual(2);
    }
    expect(html).toContain('data-series="v3 (canary) p99"');
    expect(html).toContain('data-series="v1 (stable) error rate"');
    const decisions = [...html.matchAll(/<tr class="decision /g)].length;
    expect(decisions).toBe(result.timeline.length);
    expect([...chart(html, 'chart-weights').matchAll(/<circle class="marker"/g)]).toHaveLength(decisions);
    expect(html).toMatch(/<title>\d\d:\d\d Rollback: rolled back at 10%/);
    expect(html).toContain('id="outcome">RolledBack<');
  });

  it('shows the share the canary answered, shades the A/B stage and the fault, and has a legend for the markers', async () => {
    const result = await abWithFault();
    expect(result.outcome).toBe('RolledBack');
    const weights = chart(renderReport(result), 'chart-weights');
    expect(seriesNames(weights)).toEqual([
      'desired weight (release status)',
      'actual weight (VirtualService)',
      'share the canary answered (per minute)',
    ]);
    // during the A/B stage the weights are 0 and the test group's tenth reaches v2
    const stage = result.stages[0]!;
    const during = result.shares.filter((s) => s.atMs < stage.toMs);
    expect(during.length).toBeGreaterThanOrEqual(9);
    for (const s of during) expect((100 * s.canary) / s.total).toBeGreaterThan(6);
    expect(weights).toMatch(
      /<rect class="shade" data-kind="match"[^>]*><title>A\/B: header end-user = testuser/,
    );
    expect(weights).toMatch(/<rect class="shade" data-kind="fault"[^>]*><title>fault on v2: error rate 5%/);
    const actions = [...new Set(result.timeline.map((e) => e.decision.action))];
    expect([...weights.matchAll(/<li class="marker-key" data-action="(\w+)">/g)].map((m) => m[1])).toEqual(
      actions,
    );
    expect(weights).toContain('<li class="shade-key" data-kind="match">');
    expect(weights).toContain('<li class="shade-key" data-kind="fault">');
  });

  it('titles both axes of every chart, and says when an axis is logarithmic', async () => {
    const html = renderReport(await abWithFault());
    const ids = [...html.matchAll(/<section class="chart" id="([^"]+)">/g)].map((m) => m[1]!);
    expect(ids.length).toBeGreaterThanOrEqual(8);
    for (const id of ids) {
      const section = chart(html, id);
      expect(section, id).toMatch(/<text class="axis-title x"[^>]*>simulated time since the start<\/text>/);
      expect(section, id).toMatch(/<text class="axis-title y"[^>]*>[^<]+<\/text>/);
    }
    expect(chart(html, 'chart-error-ratio-evalue')).toMatch(
      /class="axis-title y"[^>]*>e-value \(log scale\)</,
    );
  });

  it('draws a sequential metric’s e-value against its threshold, its pass evidence against each step’s need, and the ratio with its interval', async () => {
    const result = await abWithFault();
    const html = renderReport(result);
    const evalue = chart(html, 'chart-error-ratio-evalue');
    expect(seriesNames(evalue)).toEqual(['e-value (fail test)', 'threshold 100: roll back']);
    // the fault drives the e-value over the threshold: a point above the dashed line
    const last = result.analyses.at(-1)!.metrics.find((m) => m.metric === 'error-ratio')!.sequential!;
    expect(last.eValue).toBeGreaterThanOrEqual(100);
    expect(seriesNames(chart(html, 'chart-error-ratio-progress'))).toEqual([
      'pass evidence so far',
      'required by the step',
    ]);
    const ratio = chart(html, 'chart-error-ratio-ratio');
    expect(seriesNames(ratio)).toEqual(['ratio', 'tolerance: 1.25x', 'regression to catch: 4x']);
    expect(ratio).toMatch(/<path class="band" data-series="99% interval" d="M[\d. L]+Z"/);
    for (const id of ['chart-error-ratio-evalue', 'chart-error-ratio-progress', 'chart-error-ratio-ratio']) {
      expect(Math.min(...pointCounts(chart(html, id))), id).toBe(result.analyses.length);
    }
  });

  it('draws a relative judge’s measured values beside its bound', async () => {
    const html = renderReport(await abWithFault());
    const latency = chart(html, 'chart-latency-p99-value');
    expect(seriesNames(latency)).toEqual(['canary', 'stable', 'bound: stable x (1 + tolerance) + slack']);
    expect(html).toMatch(/id="metric-latency-p99"[\s\S]*last verdict <b>Fail<\/b>: canary \S+ &#62; stable/);
  });

  it('charts the requests behind each analysis against minSamples at low traffic, and collapses the holds', async () => {
    const result = await lowTraffic();
    const html = renderReport(result);
    const requests = chart(html, 'chart-requests');
    expect(seriesNames(requests)).toEqual([
      'canary requests in the analysed window',
      'stable requests in the analysed window',
      'minSamples 100 (fewer in the window: Inconclusive)',
    ]);
    expect(result.analyses.every((a) => a.requests.canary < 100)).toBe(true);
    const holds = [...html.matchAll(/<tr class="decision hold">(.*?)<\/tr>/g)].map((m) => m[1]!);
    expect(holds).toHaveLength(1);
    expect(holds[0]).toMatch(
      /^<td>01:01&ndash;11:01<\/td><td><span class="dot"[^>]*><\/span>Hold &times;11<\/td>/,
    );
  });

  it('says in the decisions how long each hold expects to wait, for sequential metrics', async () => {
    const loaded = loadCluster(
      parseManifests('reviews-release.yaml', exampleText('reviews-release.yaml')).manifests,
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const result = await simulate(
      loaded.value,
      scenarioSpec.parse({ maxDuration: '10m', traffic: { requestsPerSecond: 0.5 } }),
      { seed: 1 },
    );
    const html = renderReport(result);
    expect(html).toMatch(
      /<tr class="decision hold">.*<span class="wait">expected wait: ~\S+ for about \d+ more canary requests \(error-ratio: \d+% of the evidence, this step needs 25%\)<\/span><\/td><\/tr>/,
    );
    expect(seriesNames(chart(html, 'chart-requests'))).toEqual([
      'canary requests in the analysed window',
      'stable requests in the analysed window',
      'canary requests this rollout (error-ratio)',
      'canary requests the step needs before it may advance',
    ]);
  });

  it('is self-contained: no script, no link, nothing fetched', async () => {
    const html = renderReport(await abWithFault());
    expect(html).not.toMatch(/<script|<link|<img|src=|href=|url\(|@import/i);
  });
});

describe('the report: webhooks and notifications', () => {
  it('lists the hook calls and the notifications with the decisions they came with', async () => {
    const loaded = loadCluster(
      asManifests(
        reviewsWith((spec) => {
          spec.webhooks = [{ name: 'smoke', type: 'pre-rollout', url: 'http://smoke.test/' }];
          spec.notifications = {
            sinks: [
              { name: 'pager', type: 'slack', secretRef: { name: 'p', key: 'url' }, severity: 'error' },
            ],
          };
        }),
      ),
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const result = await simulate(
      loaded.value,
      scenarioSpec.parse({
        hooks: { smoke: { fail: true, to: '1m' } },
        faults: [{ at: '0s', revision: 'v2', errorRate: 0.3 }],
      }),
      { seed: 1 },
    );
    expect(result.outcome).toBe('RolledBack');
    const html = renderReport(result);
    expect(html).toMatch(/hook smoke, pre-rollout: HTTP 500 \(failed\)/);
    expect(html).toContain('notify error rolledback (AnalysisFailed) to pager');
    // info notifications no sink takes are not shown
    expect(html).not.toContain('notify info');
  });
});
