/**
 * Commands that need no cluster must not load @kubernetes/client-node, which costs most of the
 * start-up: each runs here with a module hook that makes loading it fail, and must still succeed.
 * A cluster command run the same way shows that the hook bites.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { seedFile } from '../../test/fixtures/seeds/load.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const HOOKS = `export async function resolve(specifier, context, next) {
  if (specifier === '@kubernetes/client-node' || specifier.startsWith('@kubernetes/client-node/'))
    throw new Error('the Kubernetes client was loaded');
  return next(specifier, context);
}`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;

function run(args: string[]) {
  return spawnSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(REGISTER)}`,
      '--import',
      'tsx',
      'src/cli/main.ts',
      ...args,
    ],
    { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
  );
}

describe('start-up of the commands that need no cluster', () => {
  it.each([
    [['--version']],
    [['--help']],
    [['get', '--help']],
    [['demo', '--fast']],
    [['lint', seedFile('s1-myweb-fixed.yaml')]],
    [['route-test', '-f', seedFile('s3-reviews-header.yaml'), '--host', 'reviews']],
    [['completion', 'bash']],
  ])(
    'canaria %s does not load the Kubernetes client',
    (args) => {
      const result = run(args);
      expect(result.stderr).not.toContain('the Kubernetes client was loaded');
      expect(result.status).toBe(0);
    },
    60_000,
  );

  it('--version prints the version of the package, as canaria and as the kubectl plugin', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(run(['--version']).stdout).toBe(`${version}\n`);
  }, 60_000);

  it('a cluster command does load it (the hook works)', () => {
    const result = run(['get', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(result.stderr).toContain('the Kubernetes client was loaded');
  }, 60_000);
});

describe('shell completion', () => {
  it('completes every command and its flags, from the program itself; bash accepts the script', () => {
    const script = run(['completion', 'bash']);
    expect(script.status).toBe(0);
    for (const command of ['get', 'status', 'describe', 'lint', 'promote', 'demo'])
      expect(script.stdout).toContain(command);
    expect(script.stdout).toMatch(/get\) flags="[^"]*--selector[^"]*--output/);
    const words = spawnSync(
      'bash',
      [
        '-c',
        `${script.stdout}\nCOMP_WORDS=(canaria get --sel); COMP_CWORD=2; _canaria; echo "\${COMPREPLY[*]}"`,
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(words.stdout.trim()).toBe('--selector');
    expect(run(['completion', 'fish']).stdout).toContain(
      "complete -c canaria -n '__fish_seen_subcommand_from status' -l revision",
    );
    expect(run(['completion', 'tcsh']).status).toBe(64);
  }, 60_000);
});
