import type { Command } from 'commander';
import { clusterCommands } from '../cluster/index.js';
import { registerCompletion } from './completion.js';
import { registerController } from './controller.js';
import { registerDemo } from './demo.js';
import { registerLint } from './lint.js';
import { registerRouteTest } from './route-test.js';
import { registerSimulate } from './simulate.js';

/** Every CLI command registers itself on the program; one file per command. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  registerController,
  registerDemo,
  registerLint,
  registerRouteTest,
  registerSimulate,
  ...clusterCommands(),
  registerCompletion,
];
