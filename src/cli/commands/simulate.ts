import { constants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { PHASES, type Phase } from '../../api/canary-release.js';
import { loadManifestFiles, type ManifestProblem } from '../../routers/istio/manifests.js';
import { loadCluster, unsimulatableMetrics } from '../../sim/cluster.js';
import { renderEntry, renderSummary, type Style } from '../../sim/render.js';
import { renderReport } from '../../sim/report.js';
import { defaultScenario, parseScenario, type Scenario } from '../../sim/scenario.js';
import { checkScenarioNames, simulate } from '../../sim/simulate.js';
import type { SimulatedSink } from '../../sim/hooks.js';
import { parseNotificationsFile } from '../../notify/registry.js';
import { parse as parseYaml } from 'yaml';
import { colorWanted } from '../color.js';
import { EXIT } from '../exit-codes.js';
import { processIo, type CommandIo } from '../io.js';
import type { RegisterCommand } from './index.js';

export interface SimulateOptions {
  file: string[];
  scenario?: string;
  seed?: string;
  json?: boolean;
  report?: string;
  expect?: string;
  release?: string;
  notificationsFile?: string;
}

export interface SimulateIo extends CommandIo {
  writeFile(path: string, text: string): Promise<void>;
  /** Why `path` cannot be written, or undefined when it can (checked before the run, writing nothing). */
  cannotWrite(path: string): Promise<string | undefined>;
  style: Style;
}

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/**
 * Whether a file can be written at `path` without writing it: an existing file must be writable and
 * not a directory; a new one needs a writable directory.
 */
export async function cannotWrite(path: string): Promise<string | undefined> {
  try {
    if ((await stat(path)).isDirectory()) return 'is a directory; name a file, e.g. report.html';
    await access(path, constants.W_OK);
    return undefined;
  } catch (err) {
    if (code(err) === 'EACCES' || code(err) === 'EPERM')
      return 'the file is not writable (permission denied)';
    // ENOTDIR: a file where the path needs a directory; the check below names it
    if (code(err) !== 'ENOENT' && code(err) !== 'ENOTDIR') return (err as Error).message;
  }
  const dir = dirname(resolve(path));
  try {
    if (!(await stat(dir)).isDirectory()) return `${dir} is not a directory`;
    await access(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    if (code(err) === 'ENOENT')
      return `the directory ${dir} does not exist; create it or write the report elsewhere`;
    if (code(err) === 'EACCES' || code(err) === 'EPERM')
      return `cannot create files in ${dir} (permission denied)`;
    return (err as Error).message;
  }
}

const where = (p: ManifestProblem) => (p.line === undefined ? p.file : `${p.file}:${p.line}`);

async function readScenario(
  file: string | undefined,
  io: SimulateIo,
): Promise<{ ok: true; scenario: Scenario } | { ok: false; errors: string[] }> {
  if (file === undefined) return { ok: true, scenario: defaultScenario() };
  let text: string;
  try {
    text = await io.readFile(file);
  } catch (err) {
    return { ok: false, errors: [`${file}: cannot read the scenario file: ${(err as Error).message}`] };
  }
  const parsed = parseScenario(text);
  if (!parsed.ok) {
    return {
      ok: false,
      errors: parsed.issues.map((i) => `${file}: ${i.path ? `${i.path}: ` : ''}${i.message}`),
    };
  }
  return { ok: true, scenario: parsed.value };
}

/**
 * The operator's sinks from the controller's notifications file (--notifications-file), with their
 * severity and dedup window; their URL files are not read, nothing is sent.
 */
async function readSinks(
  file: string | undefined,
  io: SimulateIo,
): Promise<{ ok: true; sinks: SimulatedSink[] } | { ok: false; errors: string[] }> {
  if (file === undefined) return { ok: true, sinks: [] };
  let content: unknown;
  try {
    content = parseYaml(await io.readFile(file)) as unknown;
  } catch (err) {
    return { ok: false, errors: [`${file}: cannot read the notifications file: ${(err as Error).message}`] };
  }
  const problems: string[] = [];
  const sinks = parseNotificationsFile(content, file, problems);
  if (problems.length) return { ok: false, errors: problems };
  return {
    ok: true,
    sinks: sinks.map((s) => ({ name: s.name, severity: s.severity, dedupSeconds: s.dedupSeconds })),
  };
}

/** Simulates the release in the files under the scenario; returns the exit code. */
export async function runSimulate(options: SimulateOptions, io: SimulateIo): Promise<number> {
  const fail = (lines: readonly string[], code: number = EXIT.failed) => {
    for (const line of lines) io.stderr(line);
    return code;
  };
  const seed = Number(options.seed ?? '1');
  if (!Number.isSafeInteger(seed) || seed < 0) {
    return fail([`--seed "${options.seed ?? ''}" must be a whole number >= 0, e.g. --seed 7`], EXIT.usage);
  }
  if (options.expect !== undefined && !(PHASES as readonly string[]).includes(options.expect)) {
    return fail([`--expect "${options.expect}" is not a phase; use one of ${PHASES.join(', ')}`], EXIT.usage);
  }
  if (options.report !== undefined) {
    // a report that cannot be written would be found out only after the whole run
    const why = await io.cannotWrite(options.report);
    if (why) return fail([`--report ${options.report}: ${why}`], EXIT.usage);
  }
  const { manifests, problems } = await loadManifestFiles(options.file, (f) => io.readFile(f));
  if (problems.length)
    return fail(
      problems.map((p) => `${where(p)}: ${p.message}`),
      EXIT.usage,
    );
  const loaded = loadCluster(manifests, options.release === undefined ? {} : { release: options.release });
  if (!loaded.ok)
    return fail(
      loaded.problems.map((p) => `${where(p)}: ${p.message}`),
      EXIT.usage,
    );
  const cluster = loaded.value;
  const unsimulatable = unsimulatableMetrics(cluster);
  if (unsimulatable.length) {
    return fail(
      unsimulatable.map((i) => `${cluster.file}: ${i.path}: ${i.message}`),
      EXIT.usage,
    );
  }
  const read = await readScenario(options.scenario, io);
  if (!read.ok) return fail(read.errors, EXIT.usage);
  const unknown = checkScenarioNames(read.scenario, cluster);
  if (unknown.length) {
    const file = options.scenario ?? 'scenario';
    return fail(
      unknown.map((i) => `${file}: ${i.path}: ${i.message}`),
      EXIT.usage,
    );
  }

  const sinks = await readSinks(options.notificationsFile, io);
  if (!sinks.ok) return fail(sinks.errors, EXIT.usage);

  const result = await simulate(cluster, read.scenario, {
    seed,
    notificationSinks: sinks.sinks,
    onEntry: (entry, names) => {
      if (!options.json) io.stdout(renderEntry(entry, names, io.style));
    },
  });
  if (options.json) io.stdout(JSON.stringify(result, null, 2));
  else io.stdout(renderSummary(result, io.style));
  if (options.report !== undefined) {
    await io.writeFile(options.report, renderReport(result));
    // stdout stays pure JSON under --json
    io.stderr(`report written to ${options.report}`);
  }
  if (options.expect !== undefined) {
    if (result.outcome === (options.expect as Phase)) return EXIT.ok;
    return fail([
      `expected the release to end ${options.expect}, it ended ${result.outcome ?? 'without a phase'}`,
    ]);
  }
  // a release that ends Failed never ran: its configuration is invalid, whatever the traffic
  if (result.outcome === 'Failed') {
    return fail([
      'the release ended Failed: its configuration is invalid (the timeline says why); fix it and simulate again',
    ]);
  }
  return EXIT.ok;
}

export const registerSimulate: RegisterCommand = (program: Command) => {
  program
    .command('simulate')
    .description(
      'run a CanaryRelease against simulated traffic with the real engine, judges and Istio routing, on a virtual clock',
    )
    .requiredOption(
      '-f, --file <files...>',
      'YAML files with the CanaryRelease and its VirtualService and DestinationRule, or its HTTPRoute and Services (Deployments and templates optional)',
    )
    .option(
      '--release <name>',
      'which CanaryRelease to simulate when the files hold several: NAME or NAMESPACE/NAME',
    )
    .option(
      '--scenario <file>',
      'scenario YAML: traffic, request classes, revision behaviour, faults, how each webhook answers',
    )
    .option(
      '--notifications-file <file>',
      "the controller's notifications file: its sinks are told too (severity filter and dedup applied; nothing is sent)",
    )
    .option('--seed <n>', 'random seed; the same seed gives the same timeline', '1')
    .option('--json', 'print the result as JSON')
    .option('--report <file>', 'also write a self-contained HTML report with charts')
    .option('--expect <phase>', 'exit 1 unless the release ends in this phase, e.g. Succeeded or RolledBack')
    .option('--no-color', 'plain output')
    .action(async (options: SimulateOptions & { color: boolean }) => {
      process.exitCode = await runSimulate(options, {
        ...processIo,
        writeFile: (path, text) => writeFile(path, text, 'utf8'),
        cannotWrite,
        style: { color: options.color && colorWanted(process.stdout, process.env) },
      });
    });
};
