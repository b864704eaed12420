import type { Command } from 'commander';
import { DEMO_CASES } from '../../sim/demo.js';
import { renderEntry, renderSummary, paint } from '../../sim/render.js';
import { simulate } from '../../sim/simulate.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `canaria demo`: two simulated releases of bookinfo's reviews, no cluster and no Prometheus needed. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'simulate two releases of bookinfo reviews: a healthy one promoted, a faulty one rolled back',
    )
    .option('--seed <n>', 'random seed of the simulated traffic', '42')
    .option('--no-color', 'plain output')
    .option('--fast', 'print without the live pacing')
    .action(async (opts: { seed: string; color: boolean; fast?: boolean }) => {
      const style = { color: opts.color && process.stdout.isTTY };
      const live = process.stdout.isTTY && !opts.fast;
      const outcomes: string[] = [];
      for (const demo of DEMO_CASES) {
        const names = { stable: demo.scenario.stable.name, canary: demo.scenario.canary.name };
        console.log(`\n${paint(style, 'bold', `== ${demo.title}`)}`);
        console.log(
          paint(
            style,
            'dim',
            `   ${demo.scenario.requestsPerSecond} req/s, steps 10% -> 20% -> 50% -> 100%, analysed every minute against v1`,
          ),
        );
        const entries: string[] = [];
        const result = simulate({
          spec: demo.spec,
          scenario: demo.scenario,
          seed: Number(opts.seed),
          onEntry: (entry) => entries.push(renderEntry(entry, names, style)),
        });
        for (const line of entries) {
          console.log(line);
          if (live) await sleep(120);
        }
        console.log(renderSummary(result, names, style));
        outcomes.push(result.outcome ?? 'unknown');
      }
      const expected = ['Succeeded', 'RolledBack'];
      if (outcomes.join() !== expected.join()) {
        console.error(`demo outcomes were ${outcomes.join(', ')}; expected ${expected.join(', ')}`);
        process.exitCode = 1;
      }
    });
}
