#!/usr/bin/env node
// The container image's entry point: the controller, configured by flags and environment.
import { Command } from 'commander';
import { registerController } from './cli/commands/controller.js';

const program = new Command('canaria');
registerController(program);
await program.parseAsync([process.argv[0] ?? 'node', 'canaria', 'controller', ...process.argv.slice(2)]);
