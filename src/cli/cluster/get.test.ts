import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { CanaryReleaseSpecInput, CanaryReleaseStatus, Condition } from '../../api/canary-release.js';
import { MemoryKube } from '../../kube/memory.js';
import { baseSpecInput } from '../../../test/builders/release.js';
import { NOW, placeRelease, testEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { colorWanted } from '../color.js';
import { runGet, type GetFlags } from './get.js';
import { matchesSelector, parseSelector } from './selector.js';

const ESC = String.fromCharCode(27);
const ago = (ms: number) => new Date(NOW - ms).toISOString();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const waitingForPromote: Condition = {
  type: 'Paused',
  status: 'True',
  reason: 'WaitingForPromote',
  message: 'step 3 (pause until resumed) waits for promote',
  lastTransitionTime: ago(5 * MINUTE),
};

/** Five steps, the third a pause without duration: the A/B-style wait for a human. */
const manualGateSpec = (): CanaryReleaseSpecInput => ({
  ...baseSpecInput(),
  strategy: {
    steps: [{ setWeight: 10 }, { setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { setWeight: 80 }],
  },
});

/** Releases in every phase the table shows, the way the controller leaves them. */
function releasesInEveryPhase(): MemoryKube {
  const kube = new MemoryKube();
  const spec = baseSpecInput();
  const rollout = (status: CanaryReleaseStatus): CanaryReleaseStatus => ({
    stableRevision: '5f1c2a9e',
    canaryRevision: 'b7d04e13',
    ...status,
  });
  placeRelease(kube, {
    name: 'reviews',
    spec,
    createdAt: ago(2 * HOUR),
    status: rollout({
      phase: 'Progressing',
      currentStepIndex: 1,
      canaryWeight: 10,
      actualCanaryWeight: 10,
      message: 'step 1 (setWeight 10%) done; now step 2/4: pause 1m',
    }),
  });
  placeRelease(kube, {
    name: 'ratings',
    spec: manualGateSpec(),
    createdAt: ago(3 * DAY + 4 * HOUR),
    status: rollout({
      phase: 'Paused',
      currentStepIndex: 2,
      canaryWeight: 20,
      actualCanaryWeight: 20,
      message: 'step 3 (pause until resumed) waits for promote',
      conditions: [waitingForPromote],
    }),
  });
  placeRelease(kube, {
    name: 'details',
    spec,
    createdAt: ago(45_000),
    status: {
      phase: 'Succeeded',
      currentStepIndex: 4,
      canaryWeight: 100,
      actualCanaryWeight: 100,
      stableRevision: 'b7d04e13',
      canaryRevision: 'b7d04e13',
      message: 'canary revision b7d04e13 promoted: 100 % of traffic after 6m8s',
    },
  });
  placeRelease(kube, {
    name: 'productpage',
    spec,
    createdAt: ago(10 * DAY),
    status: rollout({
      phase: 'RolledBack',
      currentStepIndex: 1,
      canaryWeight: 0,
      actualCanaryWeight: 0,
      message:
        'rolled back at 10% after 2 failed analyses in a row (limit 2) over 2m: error-ratio Fail: canary 0.08 > stable 0.002222 x (1 + 0.5) + 0.001 = 0.004333',
    }),
  });
  placeRelease(kube, {
    name: 'payments',
    // the spec does not parse, so the controller failed it and touched no traffic
    spec: {
      ...spec,
      trafficRouting: { istio: { ...spec.trafficRouting.istio!, canarySubset: 'v1' } },
    },
    createdAt: ago(7 * MINUTE + 30_000),
    status: {
      phase: 'Failed',
      message:
        'invalid configuration, traffic left as it is: spec.trafficRouting.istio.canarySubset: stableSubset and canarySubset are both "v1"; the canary needs a subset of its own',
    },
  });
  placeRelease(kube, { name: 'catalog', spec, createdAt: ago(5_000) });
  placeRelease(kube, {
    name: 'checkout',
    namespace: 'shop',
    spec,
    createdAt: ago(5 * HOUR + 12 * MINUTE),
    status: rollout({
      phase: 'Promoting',
      currentStepIndex: 4,
      canaryWeight: 100,
      actualCanaryWeight: 50,
      message: 'step 4 (pause 1m) done; all steps done, promoting',
    }),
  });
  return kube;
}

async function get(kube: MemoryKube, name: string | undefined, flags: Partial<GetFlags>, tty = false) {
  const env = testEnv(kube, { tty });
  const code = await runGet(name, { color: true, ...flags }, env);
  return { code, out: env.out.join('\n'), err: env.err, env };
}

describe('canaria get', () => {
  it('prints a table of the releases in the namespace, one phase each (golden)', async () => {
    const { code, out, err } = await get(releasesInEveryPhase(), undefined, { color: false });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    await expect(`${out}\n`).toMatchFileSnapshot('./__golden__/get.txt');
  });

  it('adds a NAMESPACE column with -A and lists every namespace (golden)', async () => {
    const { code, out, env } = await get(releasesInEveryPhase(), undefined, {
      color: false,
      allNamespaces: true,
    });
    expect(code).toBe(0);
    expect(env.connections).toEqual([{ allNamespaces: true, timeoutMs: 30_000 }]);
    await expect(`${out}\n`).toMatchFileSnapshot('./__golden__/get-all-namespaces.txt');
  });

  it('prints one release by name (golden)', async () => {
    const { code, out } = await get(releasesInEveryPhase(), 'ratings', { color: false });
    expect(code).toBe(0);
    await expect(`${out}\n`).toMatchFileSnapshot('./__golden__/get-ratings.txt');
  });

  it('colors phases only on a terminal and never with --no-color', async () => {
    const kube = releasesInEveryPhase();
    const colored = await get(kube, undefined, { color: true }, true);
    expect(colored.out).toContain('\u001b[32mSucceeded  \u001b[0m');
    expect(colored.out).toContain('\u001b[31mFailed     \u001b[0m');
    // the escapes do not move the columns
    expect(colored.out.replaceAll(new RegExp(`${ESC}\\[\\d+m`, 'g'), '')).toBe(
      (await get(kube, undefined, { color: false })).out,
    );
    expect((await get(kube, undefined, { color: false }, true)).out).not.toContain('\u001b[');
    expect((await get(kube, undefined, { color: true }, false)).out).not.toContain('\u001b[');
  });

  it('prints the objects with -o json and -o yaml', async () => {
    const kube = releasesInEveryPhase();
    const json = await get(kube, undefined, { output: 'json' });
    const list = JSON.parse(json.out) as { kind: string; items: { metadata: { name: string } }[] };
    expect(list.kind).toBe('List');
    expect(list.items.map((i) => i.metadata.name)).toEqual([
      'catalog',
      'details',
      'payments',
      'productpage',
      'ratings',
      'reviews',
    ]);
    const yaml = await get(kube, 'reviews', { output: 'yaml' });
    expect(parse(yaml.out)).toMatchObject({
      kind: 'CanaryRelease',
      metadata: { name: 'reviews' },
      status: { phase: 'Progressing', canaryWeight: 10 },
    });
  });

  it('refuses an output format it does not know, before connecting', async () => {
    const { code, err, env } = await get(releasesInEveryPhase(), undefined, { output: 'table' });
    expect(code).toBe(64);
    expect(err).toEqual([
      '-o/--output "table" is not supported here; use -o wide, -o name, -o json, -o yaml, or leave it out for text',
    ]);
    expect(env.connections).toEqual([]);
  });

  it('uses -n, else the context namespace, else default', async () => {
    const kube = releasesInEveryPhase();
    const inShop = await get(kube, undefined, { color: false, namespace: 'shop' });
    expect(inShop.out.split('\n')[1]).toMatch(/^checkout {3}Promoting/);
    expect(inShop.env.connections).toEqual([{ namespace: 'shop', timeoutMs: 30_000 }]);

    const env = testEnv(kube, { contextNamespace: 'shop' });
    expect(await runGet(undefined, { color: false }, env)).toBe(0);
    expect(env.out[1]).toMatch(/^checkout /);
  });

  it('says so on stderr when a namespace has no releases, and exits 0', async () => {
    const { code, out, err } = await get(releasesInEveryPhase(), undefined, { namespace: 'empty' });
    expect(code).toBe(0);
    expect(out).toBe('');
    expect(err).toEqual(['No canaryreleases found in namespace empty.']);
  });

  it('names namespace and release when it does not exist, in one line, and disconnects', async () => {
    const { code, out, err, env } = await get(releasesInEveryPhase(), 'nope', {});
    expect(code).toBe(3);
    expect(out).toBe('');
    expect(err).toEqual([
      'canaryrelease default/nope not found; check the name and the namespace (-n), or list them with: kubectl canaria get -n default',
    ]);
    expect(env.stopped).toBe(1);
  });

  it('rejects flags that do not go together', async () => {
    const kube = releasesInEveryPhase();
    expect((await get(kube, undefined, { watch: true })).err).toEqual([
      '--watch follows one release: kubectl canaria get NAME --watch',
    ]);
    expect((await get(kube, 'reviews', { timeout: '10m' })).err).toEqual(['--timeout goes with --watch']);
    expect((await get(kube, 'reviews', { watch: true, timeout: 'soon' })).err).toEqual([
      '--timeout "soon" is not a duration; write it as 10m, 90s or 1h30m',
    ]);
    expect((await get(kube, 'reviews', { allNamespaces: true })).code).toBe(64);
  });
});

describe('canaria get: kubectl habits', () => {
  it('-o wide adds mode, VirtualService, subsets and the last decision (golden); -o name prints kind/name', async () => {
    const wide = await get(releasesInEveryPhase(), undefined, { color: false, output: 'wide' });
    expect(wide.code).toBe(0);
    expect(wide.out.split('\n')[0]).toMatch(
      /^NAME +PHASE +STEP +WEIGHT +ACTUAL +CANARY +STABLE +AGE +MODE +ROUTE +SIDES +LAST DECISION +MESSAGE$/,
    );
    await expect(`${wide.out}\n`).toMatchFileSnapshot('./__golden__/get-wide.txt');
    const names = await get(releasesInEveryPhase(), undefined, { output: 'name' });
    expect(names.out.split('\n')).toContain('canaryrelease.canaria.dev/reviews');
    expect(names.out).not.toContain('NAME');
  });

  it('-o wide shows a Gateway API release by its HTTPRoute and Services', async () => {
    const kube = new MemoryKube();
    placeRelease(kube, {
      name: 'ratings',
      spec: {
        ...baseSpecInput(),
        trafficRouting: {
          gatewayAPI: {
            httpRoute: { name: 'ratings' },
            stableService: 'ratings-v1',
            canaryService: 'ratings-v2',
          },
        },
      },
    });
    const wide = await get(kube, undefined, { color: false, output: 'wide' });
    expect(wide.out.split('\n')[1]).toMatch(/ subsets +httproute\/ratings +ratings-v1->ratings-v2 /);
  });

  it('-l selects by labels with kubectl syntax, and names a bad selector', async () => {
    const kube = new MemoryKube();
    for (const [name, labels] of [
      ['reviews', { team: 'shop', tier: 'web' }],
      ['ratings', { team: 'shop', tier: 'cache' }],
      ['payments', { team: 'pay' }],
    ] as const) {
      const object = placeRelease(kube, { name, spec: baseSpecInput() });
      kube.apply('CanaryRelease', { ...object, metadata: { ...object.metadata, labels: { ...labels } } });
    }
    const names = async (selector: string) =>
      (await get(kube, undefined, { output: 'name', selector })).out.split('\n').filter(Boolean);
    expect(await names('team=shop')).toEqual([
      'canaryrelease.canaria.dev/ratings',
      'canaryrelease.canaria.dev/reviews',
    ]);
    expect(await names('team=shop,tier!=cache')).toEqual(['canaryrelease.canaria.dev/reviews']);
    expect(await names('team in (pay, ops)')).toEqual(['canaryrelease.canaria.dev/payments']);
    expect(await names('!tier')).toEqual(['canaryrelease.canaria.dev/payments']);
    const bad = await get(kube, undefined, { selector: 'team=shop,' });
    expect(bad.code).toBe(64);
    expect(bad.err).toEqual(['-l "team=shop,": an empty requirement; write e.g. -l app=web,tier!=cache']);
    expect(matchesSelector(parseSelector('tier notin (cache)'), { team: 'x' })).toBe(true);
  });

  it('colours follow NO_COLOR and FORCE_COLOR as Node and no-color.org say; --no-color beats both', async () => {
    expect(colorWanted({ isTTY: true }, {})).toBe(true);
    expect(colorWanted({ isTTY: false }, {})).toBe(false);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colorWanted({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colorWanted({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorWanted({ isTTY: false }, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true);
    expect(colorWanted({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
    const colored = await get(releasesInEveryPhase(), undefined, {}, true);
    expect(colored.out).toContain('\u001b[');
    const plain = await get(releasesInEveryPhase(), undefined, { color: false }, true);
    expect(plain.out).not.toContain('\u001b[');
  });
});
