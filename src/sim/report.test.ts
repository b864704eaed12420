import { describe, expect, it } from 'vitest';
import { loadCluster } from './cluster.js';
import { DEMO_CASES } from './demo.js';
import { renderReport } from './report.js';
import { simulate } from './simulate.js';

async function faultyReport(): Promise<string> {
  const demo = DEMO_CASES[1]!;
  const loaded = loadCluster(demo.manifests);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  return renderReport(await simulate(loaded.value, demo.scenario, { seed: 3 }));
}

describe('renderReport', () => {
  it('draws the weights, error rates and latencies as SVG series, and marks every decision', async () => {
    const html = await faultyReport();
    for (const id of ['chart-weights', 'chart-errors', 'chart-latency']) {
      const chart = html.slice(
        html.indexOf(`id="${id}"`),
        html.indexOf('</section>', html.indexOf(`id="${id}"`)),
      );
      const counts = [...chart.matchAll(/class="series"[^>]*data-points="(\d+)"/g)].map((m) => Number(m[1]));
      expect(counts.length, id).toBeGreaterThanOrEqual(2);
      expect(Math.min(...counts), id).toBeGreaterThanOrEqual(2);
    }
    expect(html).toContain('data-series="v3 (canary) p99"');
    expect(html).toContain('data-series="v1 (stable) error rate"');
    const decisions = [...html.matchAll(/<tr class="decision /g)].length;
    expect(decisions).toBeGreaterThanOrEqual(3);
    expect([...html.matchAll(/<circle class="marker"/g)]).toHaveLength(decisions);
    expect(html).toMatch(/<title>\d\d:\d\d Rollback: rolled back at 10%/);
    expect(html).toContain('id="outcome">RolledBack<');
  });

  it('is self-contained: no script, no link, nothing fetched', async () => {
    const html = await faultyReport();
    expect(html).not.toMatch(/<script|<link|<img|src=|href=|url\(|@import/i);
  });
});
