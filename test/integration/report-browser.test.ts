/**
 * The HTML report of `canaria simulate --report`, opened in a real headless Chromium (Debian's
 * `chromium`, driven by playwright-core): it loads nothing from anywhere, every chart draws its series,
 * and a screenshot is taken.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCluster } from '../../src/sim/cluster.js';
import { reviewsObjects } from '../../src/sim/demo.js';
import { renderReport } from '../../src/sim/report.js';
import { scenarioSpec } from '../../src/sim/scenario.js';
import { simulate } from '../../src/sim/simulate.js';

const CHROMIUM = '/usr/bin/chromium';
const CHARTS = ['chart-weights', 'chart-errors', 'chart-latency'];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The few browser APIs the page function uses; the project compiles without the DOM library. */
interface SeriesElement {
  dataset: Record<string, string | undefined>;
  getTotalLength(): number;
  getBBox(): { width: number };
}
interface BrowserWindow {
  document: {
    querySelector(selector: string): { getBoundingClientRect(): { width: number } } | null;
    querySelectorAll(selector: string): Iterable<SeriesElement> & { length: number };
  };
  getComputedStyle(element: SeriesElement): { stroke: string };
}

interface DrawnSeries {
  name: string;
  points: number;
  length: number;
  width: number;
  stroke: string;
}

let dir = '';
let context: BrowserContext | undefined;

/** A release that goes to 50 % before a fault at 4m30s rolls it back: every chart has something to show. */
async function writeReport(file: string): Promise<void> {
  const loaded = loadCluster(
    reviewsObjects('v2').map((doc) => ({ file: 'reviews.yaml', doc, line: () => undefined })),
  );
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const scenario = scenarioSpec.parse({
    faults: [{ at: '4m30s', revision: 'v2', errorRate: 0.2, latency: { p50: 120, p99: 900 } }],
  });
  const result = await simulate(loaded.value, scenario, { seed: 3 });
  expect(result.outcome).toBe('RolledBack');
  await writeFile(file, renderReport(result));
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
  it('renders every chart with drawn series, fetches nothing, and screenshots', async () => {
    if (!context) throw new Error('the browser did not start');
    const report = path.join(dir, 'report.html');
    await writeReport(report);
    const page = await context.newPage();
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(pathToFileURL(report).href, { waitUntil: 'load' });
    expect(requested).toEqual([pathToFileURL(report).href]);

    const drawn = await page.evaluate((ids: string[]) => {
      const browser = globalThis as unknown as BrowserWindow;
      const { document } = browser;
      return ids.map((id) => {
        const svg = document.querySelector(`#${id} svg`);
        const series = [...document.querySelectorAll(`#${id} path.series`)].map((p): DrawnSeries => ({
          name: p.dataset.series ?? '',
          points: Number(p.dataset.points),
          length: p.getTotalLength(),
          width: p.getBBox().width,
          stroke: browser.getComputedStyle(p).stroke,
        }));
        return {
          id,
          width: svg?.getBoundingClientRect().width ?? 0,
          markers: document.querySelectorAll(`#${id} circle.marker`).length,
          series,
        };
      });
    }, CHARTS);

    for (const chart of drawn) {
      expect(chart.width, chart.id).toBeGreaterThan(500);
      expect(chart.series.length, chart.id).toBeGreaterThanOrEqual(2);
      for (const s of chart.series) {
        expect(s.points, `${chart.id} ${s.name}`).toBeGreaterThanOrEqual(2);
        expect(s.length, `${chart.id} ${s.name}`).toBeGreaterThan(0);
        expect(s.width, `${chart.id} ${s.name}`).toBeGreaterThan(0);
        expect(s.stroke, `${chart.id} ${s.name}`).not.toBe('none');
      }
    }
    expect(drawn.find((c) => c.id === 'chart-weights')?.markers).toBeGreaterThanOrEqual(3);
    expect(drawn.find((c) => c.id === 'chart-latency')?.series.map((s) => s.name)).toEqual([
      'v1 (stable) p99',
      'v1 (stable) p50',
      'v2 (canary) p99',
      'v2 (canary) p50',
    ]);

    const screenshot = path.join(dir, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    const png = await readFile(screenshot);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(png.length).toBeGreaterThan(20_000);
    if (process.env.CANARIA_KEEP_SCREENSHOT) await writeFile(process.env.CANARIA_KEEP_SCREENSHOT, png);
  });
});
