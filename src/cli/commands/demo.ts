import type { Command } from 'commander';
import { loadCluster } from '../../sim/cluster.js';
import { DEMO_CASES, type DemoCase } from '../../sim/demo.js';
import { paint, renderEntry, renderProgress, renderSummary } from '../../sim/render.js';
import { simulate } from '../../sim/simulate.js';
import { colorWanted } from '../color.js';

/** Where the demo writes; a TTY gets the live progress line. */
export interface DemoOutput {
  write(text: string): void;
  error(text: string): void;
  isTTY: boolean;
  /** Colours when no flag says otherwise (NO_COLOR, FORCE_COLOR); a terminal's when absent. */
  colors?: boolean;
}

export interface DemoOptions {
  seed: number;
  color: boolean;
  /** No pacing: run as fast as the simulation can. */
  fast: boolean;
}

/** Real milliseconds the live display spends per simulated minute. */
const PACE_MS_PER_SIMULATED_MINUTE = 450;
const CLEAR_LINE = '\r\u001b[2K';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs both demo releases; returns the exit code: 1 unless one is promoted and one rolled back. */
export async function runDemo(
  options: DemoOptions,
  out: DemoOutput,
  cases: readonly DemoCase[] = DEMO_CASES,
): Promise<number> {
  const style = { color: options.color && (out.colors ?? out.isTTY) };
  // a terminal gets a progress line that updates in place; pacing lets a person follow it
  const live = out.isTTY;
  const paced = live && !options.fast;
  const outcomes: string[] = [];
  for (const demo of cases) {
    const loaded = loadCluster(demo.manifests);
    if (!loaded.ok)
      throw new Error(`demo ${demo.title}: ${loaded.problems.map((p) => p.message).join('; ')}`);
    const names = { stable: loaded.value.stable.revision, canary: loaded.value.canary.revision };
    out.write(
      `\n${paint(style, 'bold', `== ${demo.title}`)}\n${paint(style, 'dim', `   ${demo.description}`)}\n`,
    );
    let progressLine = '';
    let shownAt = 0;
    const result = await simulate(loaded.value, demo.scenario, {
      seed: options.seed,
      onEntry: (entry) => {
        // entries scroll above the progress line, which is drawn again below them
        out.write(
          `${live ? CLEAR_LINE : ''}${renderEntry(entry, names, style)}\n${live ? progressLine : ''}`,
        );
      },
      onProgress: async (progress) => {
        if (!live) return;
        progressLine = renderProgress(progress, names, style);
        out.write(`${CLEAR_LINE}${progressLine}`);
        if (paced) await sleep(((progress.atMs - shownAt) / 60_000) * PACE_MS_PER_SIMULATED_MINUTE);
        shownAt = progress.atMs;
      },
    });
    out.write(`${live ? CLEAR_LINE : ''}${renderSummary(result, style)}\n`);
    outcomes.push(result.outcome ?? 'unknown');
  }
  const expected = cases.map((d) => d.expected);
  if (outcomes.join() !== expected.join()) {
    out.error(`demo outcomes were ${outcomes.join(', ')}; expected ${expected.join(', ')}\n`);
    return 1;
  }
  return 0;
}

/** `canaria demo`: two simulated releases of bookinfo's reviews, no cluster and no Prometheus needed. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'simulate two releases of bookinfo reviews: a healthy one promoted, a faulty one rolled back',
    )
    .option('--seed <n>', 'random seed of the simulated traffic', '42')
    .option('--no-color', 'plain output')
    .option('--fast', 'no pacing of the live display: run as fast as the simulation can')
    .action(async (opts: { seed: string; color: boolean; fast?: boolean }) => {
      process.exitCode = await runDemo(
        { seed: Number(opts.seed), color: opts.color, fast: opts.fast === true },
        {
          write: (text) => process.stdout.write(text),
          error: (text) => process.stderr.write(text),
          isTTY: process.stdout.isTTY,
          colors: colorWanted(process.stdout, process.env),
        },
      );
    });
}
