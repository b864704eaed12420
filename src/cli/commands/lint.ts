import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { customQueries, lintDocuments, type LintFinding, type LintInput } from '../../routers/istio/lint.js';
import { lintGatewayApiDocuments } from '../../routers/gateway-api/lint.js';
import { loadManifestFiles, parseManifests } from '../../routers/istio/manifests.js';
import { EXIT } from '../exit-codes.js';
import { processIo, type CommandIo } from '../io.js';
import type { RegisterCommand } from './index.js';
import { checkCustomQueries } from './lint-promql.js';

export interface LintCommandOptions {
  json?: boolean;
  istioVersion?: string;
}

const WORD: Record<LintFinding['severity'], string> = { error: 'error', warning: 'warning', info: 'note' };

export function formatFinding(f: LintFinding): string {
  const where = f.line === undefined ? f.file : `${f.file}:${f.line}`;
  const subject = [f.resource, f.path].filter(Boolean).join(' ');
  const fix = f.fix === undefined ? '' : ` (fix: ${f.fix})`;
  return `${where}: ${WORD[f.severity]}: ${subject ? `${subject}: ` : ''}${f.message}${fix}`;
}

const YAML = /\.ya?ml$/i;

/** Files to read for the arguments: a directory's YAML files (recursively, sorted), `-` for stdin. */
async function expand(paths: readonly string[]): Promise<{ files: string[]; problems: LintFinding[] }> {
  const files: string[] = [];
  const problems: LintFinding[] = [];
  const walk = async (dir: string): Promise<string[]> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    const found: string[] = [];
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) found.push(...(await walk(path)));
      else if (YAML.test(entry.name)) found.push(path);
    }
    return found;
  };
  for (const path of paths) {
    if (path === '-') {
      files.push(path);
      continue;
    }
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory()) {
      files.push(path);
      continue;
    }
    const inside = await walk(path);
    if (!inside.length) {
      problems.push({
        severity: 'error',
        file: path,
        resource: '',
        path: '',
        message: 'the directory holds no .yaml or .yml file',
      });
    }
    files.push(...inside);
  }
  return { files, problems };
}

/** The default ClusterAnalysisTemplates the chart installs, so references to them resolve. */
async function bundledTemplates(): Promise<LintInput[]> {
  const dir = new URL('../../../analysis-templates/', import.meta.url);
  const names = await readdir(dir).catch(() => [] as string[]);
  const inputs: LintInput[] = [];
  for (const name of names.filter((n) => YAML.test(n))) {
    const parsed = parseManifests(name, await readFile(new URL(name, dir), 'utf8'));
    inputs.push(...parsed.manifests.map((m) => ({ ...m, bundled: true })));
  }
  return inputs;
}

/**
 * Lints the files (directories and `-` for stdin too) and returns the exit code: 1 when there is an
 * error finding, or nothing to lint; else 0. Notes say what lint could not check from the files.
 */
export async function runLint(
  paths: readonly string[],
  options: LintCommandOptions,
  io: CommandIo,
): Promise<number> {
  const expanded = await expand(paths);
  const { manifests, problems } = await loadManifestFiles(expanded.files, (f) => io.readFile(f));
  const findings: LintFinding[] = [
    ...expanded.problems,
    ...problems.map((p): LintFinding => {
      const finding: LintFinding = {
        severity: 'error',
        file: p.file,
        resource: '',
        path: '',
        message: p.message,
      };
      if (p.line !== undefined) finding.line = p.line;
      return finding;
    }),
  ];
  if (!manifests.length && !findings.length) {
    const what = paths.map((p) => (p === '-' ? 'standard input' : p)).join(', ');
    findings.push({
      severity: 'error',
      file: what,
      resource: '',
      path: '',
      message: 'no YAML documents to lint: the input is empty',
      fix: 'give the files that hold the VirtualServices and DestinationRules or HTTPRoutes and Services, and the CanaryReleases',
    });
  }
  const inputs: LintInput[] = [...manifests, ...(await bundledTemplates())];
  findings.push(
    ...lintDocuments(
      inputs,
      options.istioVersion === undefined ? {} : { istioVersion: options.istioVersion },
    ),
    ...lintGatewayApiDocuments(inputs),
    ...(await checkCustomQueries(customQueries(inputs))),
  );
  const count = (severity: LintFinding['severity']) => findings.filter((f) => f.severity === severity).length;
  const errors = count('error');
  if (options.json) {
    io.stdout(JSON.stringify({ findings }, null, 2));
  } else {
    for (const f of findings) io.stdout(formatFinding(f));
    const warnings = count('warning');
    const notes = count('info');
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    io.stdout(
      findings.length
        ? `${plural(errors, 'error')}, ${plural(warnings, 'warning')}${notes ? `, ${plural(notes, 'note')} on what the files could not show` : ''}`
        : `${manifests.length} documents, no findings`,
    );
  }
  return errors > 0 ? EXIT.failed : EXIT.ok;
}

export const registerLint: RegisterCommand = (program: Command) => {
  program
    .command('lint')
    .description(
      'check Istio VirtualServices, DestinationRules, Gateway API HTTPRoutes, CanaryReleases and analysis templates in YAML files, offline',
    )
    .argument('<paths...>', 'YAML files (several documents each), directories, or - for standard input')
    .option('--json', 'print the findings as JSON')
    .option(
      '--istio-version <version>',
      "the mesh's Istio version, e.g. 1.14 (before 1.15 weights must add up to 100)",
    )
    .action(async (paths: string[], options: LintCommandOptions) => {
      process.exitCode = await runLint(paths, options, processIo);
    });
};
