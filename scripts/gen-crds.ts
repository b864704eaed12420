import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCrds, renderCrd } from '../src/api/crd.js';

/**
 * Writes the CRDs generated from the zod schemas into the chart, as plain YAML that its CRD template
 * reads (and that `kubectl apply -f` takes as it is, for installs with installCRDs=false).
 */
const dir = join(import.meta.dirname, '..', 'charts', 'canaria', 'files', 'crds');
mkdirSync(dir, { recursive: true });
for (const { file, crd } of buildCrds()) {
  writeFileSync(join(dir, file), renderCrd(crd));
  console.log(`wrote ${join('charts/canaria/files/crds', file)}`);
}
