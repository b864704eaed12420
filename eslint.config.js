// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// The layers, from the ground up (src/lib: small helpers the platform lacks or gets wrong): each folder may import only the folders below it, the engine only
// through its index. A bad import fails `npm run lint` with the message below.
const LAYERS = [
  ['lib'],
  ['api'],
  ['analysis'],
  ['kube', 'metrics', 'telemetry'],
  ['routers', 'managed', 'notify', 'hooks'],
  ['engine'],
  ['controller'],
  ['sim'],
  ['cli'],
];
const ADAPTERS = ['kube', 'metrics', 'telemetry', 'routers', 'managed', 'notify', 'hooks'];
const layerOf = (folder) => LAYERS.findIndex((folders) => folders.includes(folder));
/** The import patterns `folder` must not use. */
function forbidden(folder) {
  const above = LAYERS.slice(layerOf(folder) + 1).flat();
  const banned = folder === 'engine' ? [...new Set([...above, ...ADAPTERS])] : above;
  const groups = banned.map((other) => ({
    group: [`**/${other}/**`, `../${other}/*`],
    message:
      folder === 'engine' && ADAPTERS.includes(other)
        ? `the engine imports no adapter (src/${other}): give it what it needs in its observations, or move the pure part to src/api or src/analysis`
        : `src/${folder} sits below src/${other}: move the shared code down a layer or pass it in through a port`,
  }));
  if (folder !== 'engine' && layerOf(folder) > layerOf('engine')) {
    groups.push({
      group: ['**/engine/*', '!**/engine/index.js'],
      message: 'import the engine through src/engine/index.js',
    });
  }
  if (folder === 'api') {
    groups.push({
      group: ['../*', '!../lib'],
      message: 'src/api is the ground: it imports nothing else of the project but src/lib',
    });
  }
  return groups;
}
const layerRules = LAYERS.flat().map((folder) => ({
  files: [`src/${folder}/**/*.ts`],
  ignores: ['**/*.test.ts', '**/*.test-support.ts'],
  rules: { 'no-restricted-imports': ['error', { patterns: forbidden(folder) }] },
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.cache/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      'no-console': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  ...layerRules,
  {
    files: ['src/cli/**', 'scripts/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      // tests build Kubernetes objects as plain JSON for client-node's typed calls, which serialize
      // them as such; its model classes carry no behaviour to lose
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
