#!/usr/bin/env node
import { CommanderError } from 'commander';
import { EXIT } from './exit-codes.js';
import { buildProgram } from './program.js';

/** commander's codes for help and version, which are not errors. */
const NOT_ERRORS = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // commander already printed its own message and usage: a bad flag or argument is a usage error
    if (err instanceof CommanderError) {
      process.exit(NOT_ERRORS.has(err.code) || err.exitCode === 0 ? EXIT.ok : EXIT.usage);
    }
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(EXIT.unknown);
  }
}

await main();
