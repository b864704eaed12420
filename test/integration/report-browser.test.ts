/**
 * The HTML report of `canaria simulate --report`, opened in a real headless Chromium (Debian's
 * `chromium`, driven by playwright-core): it loads nothing from anywhere, every chart draws its
 * series, intervals, shaded stages and axis titles, and a screenshot is taken.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifests } from '../../src/routers/istio/manifests.js';
import { loadCluster } from '../../src/sim/cluster.js';
import { renderReport } from '../../src/sim/report.js';
import { parseScenario, scenarioSpec } from '../../src/sim/scenario.js';
import { simulate, type SimulationResult } from '../../src/sim/simulate.js';
import { asManifests, relativeReviews } from '../builders/sim.js';

const CHROMIUM = '/usr/bin/chromium';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const EXAMPLES = new URL('../../examples/scenarios/', import.meta.url);

/** The few browser APIs the page function uses; the project compiles without the DOM library. */
interface Box {
  width: number;
  height: number;
}
interface Drawn {
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
  getTotalLength(): number;
  getBBox(): Box;
  getBoundingClientRect(): Box;
}
interface Element {
  id: string;
  getBoundingClientRect(): Box;
  querySelectorAll(selector: string): Iterable<Drawn & { textContent: string | null }> & { length: number };
}
interface BrowserWindow {
  document: { querySelectorAll(selector: string): Iterable<Element> };
  getComputedStyle(element: Drawn): { stroke: string; fill: string };
}

interface DrawnChart {
  id: string;
  width: number;
  series: { name: string; points: number; length: number; width: number; stroke: string }[];
  bands: { name: string; width: number; height: number }[];
  shades: { kind: string; width: number; height: number }[];
  axisTitles: { text: string; width: number }[];
  markers: number;
  markerKeys: string[];
}

let dir = '';
let context: BrowserContext | undefined;

const exampleText = (name: string) => readFileSync(new URL(name, EXAMPLES), 'utf8');

/**
 * The A/B example (sequential error-ratio, relative latency) with a fault after the A/B stage: every
 * chart of the report has something to show, the sequential ones included.
 */
async function abReport(): Promise<SimulationResult> {
  const loaded = loadCluster(
    parseManifests('reviews-ab-release.yaml', exampleText('reviews-ab-release.yaml')).manifests,
  );
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const parsed = parseScenario(
    `${exampleText('ab-header.yaml')}faults:\n  - {at: 13m, revision: v2, errorRate: 0.05, latency: {p50: 90, p99: 900}}\n`,
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const result = await simulate(loaded.value, parsed.value, { seed: 3 });
  expect(result.outcome).toBe('RolledBack');
  return result;
}

/**
 * The demo release with relative judges (minSamples 100) at 10 requests per second: at 10 % the canary
 * serves about 60 requests a minute, short of minSamples in the first analysis; then a fault.
 */
async function lowTrafficReport(): Promise<SimulationResult> {
  const loaded = loadCluster(asManifests(relativeReviews()));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const scenario = scenarioSpec.parse({
    maxDuration: '20m',
    traffic: { requestsPerSecond: 10 },
    faults: [{ at: '3m30s', revision: 'v2', errorRate: 0.3, latency: { p50: 120, p99: 900 } }],
  });
  const result = await simulate(loaded.value, scenario, { seed: 3 });
  expect(result.outcome).toBe('RolledBack');
  // the first analysis is short of minSamples: Inconclusive for the error ratio
  expect(result.analyses[0]?.requests.canary).toBeLessThan(100);
  return result;
}

/** Opens the report and measures what the browser drew in each chart. */
async function drawnCharts(file: string): Promise<DrawnChart[]> {
  if (!context) throw new Error('the browser did not start');
  const page = await context.newPage();
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  expect(requested).toEqual([pathToFileURL(file).href]);
  const charts = await page.evaluate(() => {
    const browser = globalThis as unknown as BrowserWindow;
    return [...browser.document.querySelectorAll('section.chart')].map((section): DrawnChart => {
      const all = (selector: string) => [...section.querySelectorAll(selector)];
      // a DOMRect's fields are getters: copy them, a spread would copy nothing
      const box = (e: Drawn) => {
        const b = e.getBBox();
        return { width: b.width, height: b.height };
      };
      return {
        id: section.id,
        width: all('svg')[0]?.getBoundingClientRect().width ?? 0,
        series: all('path.series').map((p) => ({
          name: p.dataset.series ?? '',
          points: Number(p.dataset.points),
          length: p.getTotalLength(),
          width: p.getBBox().width,
          stroke: browser.getComputedStyle(p).stroke,
        })),
        bands: all('path.band').map((p) => ({ name: p.dataset.series ?? '', ...box(p) })),
        shades: all('rect.shade').map((r) => ({ kind: r.dataset.kind ?? '', ...box(r) })),
        axisTitles: all('text.axis-title').map((t) => ({
          text: t.textContent ?? '',
          width: t.getBBox().width,
        })),
        markers: all('circle.marker').length,
        markerKeys: all('li.marker-key').map((li) => li.dataset.action ?? ''),
      };
    });
  });
  const screenshot = path.join(dir, `${path.basename(file, '.html')}.png`);
  await page.screenshot({ path: screenshot, fullPage: true });
  const png = await readFile(screenshot);
  expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  expect(png.length).toBeGreaterThan(50_000);
  if (process.env.CANARIA_KEEP_SCREENSHOT) {
    await writeFile(`${process.env.CANARIA_KEEP_SCREENSHOT}-${path.basename(screenshot)}`, png);
  }
  await page.close();
  return charts;
}

/** Every chart drew every series, band, shaded stretch and both axis titles. */
function expectAllDrawn(charts: DrawnChart[]): void {
  for (const chart of charts) {
    expect(chart.width, chart.id).toBeGreaterThan(500);
    expect(chart.series.length, chart.id).toBeGreaterThanOrEqual(2);
    for (const s of chart.series) {
      const what = `${chart.id} ${s.name}`;
      expect(s.points, what).toBeGreaterThanOrEqual(2);
      expect(s.length, what).toBeGreaterThan(0);
      expect(s.width, what).toBeGreaterThan(0);
      expect(s.stroke, what).not.toBe('none');
    }
    for (const b of chart.bands) {
      expect(b.width, `${chart.id} ${b.name}`).toBeGreaterThan(0);
      expect(b.height, `${chart.id} ${b.name}`).toBeGreaterThan(0);
    }
    for (const shade of chart.shades)
      expect(shade.width * shade.height, `${chart.id} ${shade.kind}`).toBeGreaterThan(0);
    expect(
      chart.axisTitles.map((t) => t.text.split(' ')[0]),
      chart.id,
    ).toHaveLength(2);
    for (const title of chart.axisTitles)
      expect(title.width, `${chart.id} ${title.text}`).toBeGreaterThan(20);
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error('chromium not found: apt-get install chromium');
  dir = await mkdtemp(path.join(tmpdir(), 'canaria-report-'));
  context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 900 },
  });
});

afterAll(async () => {
  await context?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the simulation report in headless Chromium', () => {
  it('draws every chart of a sequential A/B release with a fault: series, interval, shading, legend, axis titles', async () => {
    const result = await abReport();
    const file = path.join(dir, 'ab.html');
    await writeFile(file, renderReport(result));
    const charts = await drawnCharts(file);
    expect(charts.map((c) => c.id)).toEqual([
      'chart-weights',
      'chart-errors',
      'chart-latency',
      'chart-requests',
      'chart-error-ratio-evalue',
      'chart-error-ratio-progress',
      'chart-error-ratio-ratio',
      'chart-latency-p99-value',
    ]);
    expectAllDrawn(charts);
    const weights = charts.find((c) => c.id === 'chart-weights')!;
    expect(weights.series.map((s) => s.name)).toContain('share the canary answered (per minute)');
    expect(weights.markers).toBe(result.timeline.length);
    expect(weights.markerKeys).toEqual([...new Set(result.timeline.map((e) => e.decision.action))]);
    expect(weights.shades.map((s) => s.kind)).toEqual(['match', 'fault']);
    expect(charts.find((c) => c.id === 'chart-error-ratio-ratio')?.bands.map((b) => b.name)).toEqual([
      '99% interval',
    ]);
    expect(charts.find((c) => c.id === 'chart-latency')?.series.map((s) => s.name)).toEqual([
      'v1 (stable) p99',
      'v1 (stable) p50',
      'v2 (canary) p99',
      'v2 (canary) p50',
    ]);
  });

  it('draws the requests against minSamples and the relative judges’ bounds of a low-traffic release', async () => {
    const result = await lowTrafficReport();
    const file = path.join(dir, 'low.html');
    await writeFile(file, renderReport(result));
    const charts = await drawnCharts(file);
    expect(charts.map((c) => c.id)).toEqual([
      'chart-weights',
      'chart-errors',
      'chart-latency',
      'chart-requests',
      'chart-error-ratio-value',
      'chart-latency-p99-value',
    ]);
    expectAllDrawn(charts);
    expect(charts.find((c) => c.id === 'chart-requests')?.series.map((s) => s.name)).toEqual([
      'canary requests in the analysed window',
      'stable requests in the analysed window',
      'minSamples 100 (fewer in the window: Inconclusive)',
    ]);
    expect(charts.find((c) => c.id === 'chart-error-ratio-value')?.series.map((s) => s.name)).toEqual([
      'canary',
      'stable',
      'bound: stable x (1 + tolerance) + slack',
    ]);
  });
});
