import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The one command that produces everything under .cache/ the e2e suite needs. */
export const BUILD_COMMAND = 'bash scripts/build-e2e-binaries.sh';

export const KUBE_APISERVER_BIN = join(REPO_ROOT, '.cache', 'bin', 'kube-apiserver');
export const ETCD_BIN = join(REPO_ROOT, '.cache', 'bin', 'etcd');

/** The path of a binary the build script makes; a missing one fails the run with the fix, never skips. */
export function requireBinary(path: string): string {
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: run \`${BUILD_COMMAND}\` from the repository root first ` +
        '(it builds kube-apiserver and etcd from the Go module proxy; the first build takes a while)',
    );
  }
  return path;
}
