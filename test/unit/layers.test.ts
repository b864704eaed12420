import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The layer rules live in eslint.config.js; these cases prove they bite, so a loosened rule fails here.
const eslint = new ESLint({ cwd: process.cwd() });

async function restricted(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: file });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

// the first lint loads the TypeScript project, which takes a while on a loaded machine
describe('the layers', { timeout: 180_000 }, () => {
  it('keeps adapters out of the engine', async () => {
    const found = await restricted(
      'src/engine/steps.ts',
      "import type { KubePort } from '../kube/port.js';\nexport type K = KubePort;\n",
    );
    expect(found.join('\n')).toMatch(/the engine imports no adapter \(src\/kube\)/);
  });

  it('keeps the engine from importing a router', async () => {
    const found = await restricted(
      'src/engine/steps.ts',
      "import { MESH } from '../routers/istio/hosts.js';\nexport const m = MESH;\n",
    );
    expect(found.join('\n')).toMatch(/src\/routers/);
  });

  it('lets others in through the engine index only', async () => {
    const bad = await restricted(
      'src/controller/queue.ts',
      "import { decide } from '../engine/decide.js';\nexport const d = decide;\n",
    );
    expect(bad.join('\n')).toMatch(/through src\/engine\/index\.js/);
    const good = await restricted(
      'src/controller/queue.ts',
      "import { decide } from '../engine/index.js';\nexport const d = decide;\n",
    );
    expect(good).toEqual([]);
  });

  it('keeps src/api the ground', async () => {
    const found = await restricted(
      'src/api/duration.ts',
      "import { fnv } from '../kube/json-patch.js';\nexport const f = fnv;\n",
    );
    expect(found.join('\n')).toMatch(/src\/api is the ground/);
  });

  it('never lets imports run back up', async () => {
    const found = await restricted(
      'src/kube/port.ts',
      "import { Reconciler } from '../controller/reconciler.js';\nexport const r = Reconciler;\n",
    );
    expect(found.join('\n')).toMatch(/src\/kube sits below src\/controller/);
  });
});
