import type { Command } from 'commander';
import { lintDocuments, type LintFinding } from '../../istio/lint.js';
import { loadManifestFiles } from '../../istio/manifests.js';
import { processIo, type CommandIo } from '../io.js';
import type { RegisterCommand } from './index.js';

export interface LintCommandOptions {
  json?: boolean;
  istioVersion?: string;
}

export function formatFinding(f: LintFinding): string {
  const where = f.line === undefined ? f.file : `${f.file}:${f.line}`;
  const subject = [f.resource, f.path].filter(Boolean).join(' ');
  return `${where}: ${f.severity}: ${subject ? `${subject}: ` : ''}${f.message} (fix: ${f.fix})`;
}

/** Lints the files and returns the exit code: 1 when there is an error finding, else 0. */
export async function runLint(
  files: readonly string[],
  options: LintCommandOptions,
  io: CommandIo,
): Promise<number> {
  const { manifests, problems } = await loadManifestFiles(files, (f) => io.readFile(f));
  const findings: LintFinding[] = [
    ...problems.map((p): LintFinding => {
      const finding: LintFinding = {
        severity: 'error',
        file: p.file,
        resource: '',
        path: '',
        message: p.message,
        fix: 'correct the file',
      };
      if (p.line !== undefined) finding.line = p.line;
      return finding;
    }),
    ...lintDocuments(
      manifests,
      options.istioVersion === undefined ? {} : { istioVersion: options.istioVersion },
    ),
  ];
  const errors = findings.filter((f) => f.severity === 'error').length;
  if (options.json) {
    io.stdout(JSON.stringify({ findings }, null, 2));
  } else {
    for (const f of findings) io.stdout(formatFinding(f));
    const warnings = findings.length - errors;
    io.stdout(
      findings.length
        ? `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`
        : `${manifests.length} documents, no findings`,
    );
  }
  return errors > 0 ? 1 : 0;
}

export const registerLint: RegisterCommand = (program: Command) => {
  program
    .command('lint')
    .description('check Istio VirtualServices, DestinationRules and CanaryReleases in YAML files, offline')
    .argument('<files...>', 'YAML files, several documents each')
    .option('--json', 'print the findings as JSON')
    .option(
      '--istio-version <version>',
      "the mesh's Istio version, e.g. 1.14 (before 1.15 weights must add up to 100)",
    )
    .action(async (files: string[], options: LintCommandOptions) => {
      process.exitCode = await runLint(files, options, processIo);
    });
};
