#!/usr/bin/env node
import { basename } from 'node:path';
import { Command } from 'commander';
import { commands } from './commands/index.js';

/** `canaria`, also installed as the kubectl plugin `kubectl-canaria` (run as `kubectl canaria`). */
export function buildProgram(): Command {
  const asPlugin = basename(process.argv[1] ?? '').startsWith('kubectl-');
  const program = new Command(asPlugin ? 'kubectl canaria' : 'canaria')
    .description('Metrics-driven canary releases on Istio')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // commander already printed its own usage errors; exit with its code
    const code = (err as { exitCode?: number }).exitCode;
    if (typeof code === 'number') process.exit(code);
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}

await main();
