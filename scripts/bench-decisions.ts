/**
 * Decision quality, in process: for every traffic level and kind of canary, seeded rollouts with
 * canaria's real engine and judges on its defaults, beside a reference of Flagger's default policy.
 * Prints the table and the targets, and exits 1 when a target is missed.
 * Run: npm run bench:decisions [-- --runs 1000] [--only "late fault"]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  checkTargets,
  formatTable,
  RATES,
  runCell,
  SCENARIOS,
  type CellResult,
} from '../src/sim/decisions/bench.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    only: { type: 'string', multiple: true },
    rps: { type: 'string', multiple: true },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a whole number >= 1, got ${values.runs}`);
  process.exit(2);
}
const rates = values.rps?.length ? values.rps.map(Number) : [...RATES];
const scenarios = values.only?.length ? SCENARIOS.filter((s) => values.only?.includes(s.name)) : SCENARIOS;

const started = performance.now();
const cells: CellResult[] = [];
for (const scenario of scenarios) {
  for (const rps of rates) {
    const t = performance.now();
    cells.push(runCell(scenario, rps, runs));
    console.error(`  ${scenario.name} @ ${rps} rps: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
}
console.log(formatTable(cells));
console.log('');
const checks = checkTargets(cells);
for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'MISS'} ${c.target}: ${c.detail}`);
console.log(
  `\n${cells.length} cells x ${runs} runs in ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
process.exit(checks.every((c) => c.ok) ? 0 : 1);
