import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command } from 'commander';
import { commands } from './commands/index.js';

/** The version in the package.json beside dist/ (or src/ when run from a checkout). */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** `canaria`, also installed as the kubectl plugin `kubectl-canaria` (run as `kubectl canaria`). */
export function buildProgram(argv1: string = process.argv[1] ?? ''): Command {
  const asPlugin = basename(argv1).startsWith('kubectl-');
  const program = new Command(asPlugin ? 'kubectl canaria' : 'canaria')
    .description('Metrics-driven canary releases on Istio')
    .version(packageVersion(), '--version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}
