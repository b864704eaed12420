import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/e2e-paths.js';
import { contextSources, dockerfileProblems, execForm, isPinned, parseDockerfile } from './dockerfile.js';

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const problemsOf = (text: string): string[] => dockerfileProblems(parseDockerfile(text));

/** The repository's Dockerfile with one line replaced; fails when the line is not there. */
function edited(from: RegExp, to: string): string {
  if (!from.test(DOCKERFILE)) throw new Error(`the Dockerfile has no line matching ${String(from)}`);
  return DOCKERFILE.replace(from, to);
}

describe('the controller image (Dockerfile)', () => {
  it('is pinned, production-only, non-root and runs node directly', () => {
    expect(problemsOf(DOCKERFILE)).toEqual([]);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim().replace(/\/$/, ''))
      .filter((l) => l !== '' && !l.startsWith('#'));
    const sources = contextSources(parseDockerfile(DOCKERFILE));
    expect(sources).toContain('package-lock.json');
    for (const source of sources) {
      expect(existsSync(join(REPO_ROOT, source)), `${source} exists`).toBe(true);
      expect(ignored, `.dockerignore excludes ${source}`).not.toContain(source.replace(/\/$/, ''));
    }
    // what must never reach the build context: local installs, build output, caches, history
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.cache', '.git']));
  });

  it('starts dist/main.js, which `npm run build` compiles from src/main.ts', () => {
    const runtime = parseDockerfile(DOCKERFILE).stages.at(-1)!;
    const entrypoint = execForm(runtime.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args)!;
    expect(entrypoint.slice(0, 2)).toEqual(['node', 'dist/main.js']);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    const build = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(existsSync(join(REPO_ROOT, 'src', 'main.ts'))).toBe(true);
    const stages = parseDockerfile(DOCKERFILE).stages;
    const builder = stages.find((s) => s.instructions.some((i) => /npm run build/.test(i.args)));
    expect(builder?.name, 'a stage runs npm run build').toBeDefined();
    expect(
      runtime.instructions.some(
        (i) => i.keyword === 'COPY' && i.args.startsWith(`--from=${builder!.name!} /app/dist`),
      ),
    ).toBe(true);
  });

  it('tells an exact version or a digest from a moving tag', () => {
    expect(isPinned('node:24.21.0-bookworm-slim')).toBe(true);
    expect(isPinned(`node@sha256:${'a'.repeat(64)}`)).toBe(true);
    expect(isPinned('registry.example.com:5000/node:24.21.0')).toBe(true);
    expect(isPinned('node:24-bookworm-slim')).toBe(false);
    expect(isPinned('node:lts-slim')).toBe(false);
    expect(isPinned('node')).toBe(false);
    expect(isPinned('registry.example.com:5000/node')).toBe(false);
  });

  // Each check broken on purpose: the repository's Dockerfile with one mistake is caught.
  it.each([
    ['a root user', /^USER .*$/m, 'USER 0', /USER 0 is root/],
    ['a user by name', /^USER .*$/m, 'USER node', /not numeric/],
    ['no user', /^USER .*\n/m, '', /no USER/],
    ['npm start', /^ENTRYPOINT .*$/m, 'ENTRYPOINT ["npm", "start"]', /npm start/],
    ['a shell-form entry point', /^ENTRYPOINT .*$/m, 'ENTRYPOINT node dist/main.js', /shell form/],
    ['a moving base tag', /^ARG NODE_IMAGE=.*$/m, 'ARG NODE_IMAGE=node:24-bookworm-slim', /not pinned/],
    [
      'dev dependencies in the runtime',
      /npm ci --omit=dev/,
      'npm ci',
      /without `npm ci --omit=dev`: dev dependencies would ship/,
    ],
    [
      'node_modules from the build stage',
      /--from=production-deps \/app\/node_modules/,
      '--from=build /app/node_modules',
      /dev dependencies would ship/,
    ],
  ])('reports %s', (_what, line, replacement, problem) => {
    expect(problemsOf(edited(line, replacement))).toEqual(
      expect.arrayContaining([expect.stringMatching(problem)]),
    );
  });
});
