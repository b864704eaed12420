import type { Command } from 'commander';
import { registerDemo } from './demo.js';
import { registerLint } from './lint.js';
import { registerRouteTest } from './route-test.js';

/** Every CLI command registers itself on the program; one file per command. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerDemo, registerLint, registerRouteTest];
