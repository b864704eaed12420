/**
 * Every bad input ends with a condition: input far beyond the schema's bounds (a 1 MB regex, a 1 MB
 * header value, a 1 MB field name, thousands of bad steps) gives a Failed phase and ConfigValid=False,
 * and what the status and the Event repeat of it is cut, so the written status stays small. The real
 * reconciler on the in-memory API server, which stores what it is given: the size is measured there.
 */
import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import { API_VERSION } from '../api/meta.js';
import { LIMITS } from '../api/limits.js';
import { silentLogger } from '../telemetry/logger.js';
import { baseSpecInput, counts, requests } from '../../test/builders/release.js';
import {
  fakeMetrics,
  managedPrimary,
  NAMESPACE,
  releaseObject,
  reviewsCluster,
} from '../../test/builders/cluster.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';

const MB = 1024 * 1024;
/** Far below the 1.5 MB etcd takes, and small enough for a human to read. */
const STATUS_BUDGET = 16 * 1024;

const matchStep = (match: unknown) => ({
  ...managedPrimary(baseSpecInput()),
  strategy: { steps: [{ setWeight: 10 }, { match }, { setWeight: 50 }] },
});

async function reconcileOnce(
  spec: unknown,
  extra: (kube: ReturnType<typeof reviewsCluster>) => void = () => {},
) {
  const kube = reviewsCluster();
  kube.apply('CanaryRelease', releaseObject(spec));
  extra(kube);
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(
      fakeMetrics(() => requests(counts(1000, 1), counts(9000, 9))),
      0,
    ),
    clock: () => new Date('2026-11-21T10:00:00Z'),
    logger: silentLogger(),
  });
  const vsBefore = kube.get('VirtualService', { namespace: NAMESPACE, name: 'reviews' });
  await reconciler.reconcile(`${NAMESPACE}/reviews`);
  const status = kube.get('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' })?.status as
    CanaryReleaseStatus | undefined;
  return {
    status,
    written: JSON.stringify(status ?? {}).length,
    events: kube.events.map((e) => e.event.message),
    vsUnchanged:
      JSON.stringify(kube.get('VirtualService', { namespace: NAMESPACE, name: 'reviews' })) ===
      JSON.stringify(vsBefore),
  };
}

describe('oversized input ends with a small Failed status', () => {
  it.each([
    [
      'a 1 MB invalid header regex',
      matchStep({ headers: [{ name: 'end-user', regex: `(${'a'.repeat(MB)}` }] }),
      /headers\[0\]\.regex: must be at most 1024 characters/,
    ],
    [
      'a 1 MB invalid cookie regex',
      matchStep({ cookie: { name: 'group', regex: `[${'b'.repeat(MB)}` } }),
      /cookie\.regex: must be at most 1024 characters/,
    ],
    [
      'a 1 MB header value',
      matchStep({ headers: [{ name: 'end-user', exact: 'c'.repeat(MB) }] }),
      /headers\[0\]\.exact: must be at most 1024 characters/,
    ],
    [
      'a 1 MB field name',
      { ...baseSpecInput(), ['d'.repeat(MB)]: 1 },
      /unknown field "d+… \(truncated, \d+ more characters\)"/,
    ],
    [
      'a 1 MB release window',
      {
        ...baseSpecInput(),
        releaseWindows: [{ schedule: `0 9 * * ${'1'.repeat(MB)}`, duration: '1h', timeZone: 'e'.repeat(MB) }],
      },
      /releaseWindows\[0\]\.schedule: must be at most 256 characters/,
    ],
    [
      'a 1 MB stable subset equal to the canary',
      (() => {
        const s = baseSpecInput();
        s.trafficRouting.istio!.stableSubset = 'v'.repeat(MB);
        s.trafficRouting.istio!.canarySubset = 'v'.repeat(MB);
        return s;
      })(),
      /stableSubset and canarySubset are both "v+… \(truncated/,
    ],
    [
      '100 invalid steps',
      { ...baseSpecInput(), strategy: { steps: Array.from({ length: 100 }, () => ({ setWeight: 500 })) } },
      /steps\[9\]\.setWeight: setWeight must be <= 100 \(percent of traffic\); and 90 more issues$/,
    ],
    [
      '5,000 steps',
      { ...baseSpecInput(), strategy: { steps: Array.from({ length: 5000 }, () => ({ setWeight: 5 })) } },
      /spec\.strategy\.steps: at most 100 steps/,
    ],
  ])('%s', async (_what, spec, message) => {
    const { status, written, events, vsUnchanged } = await reconcileOnce(spec);
    expect(status?.phase).toBe('Failed');
    const valid = status?.conditions?.find((c) => c.type === 'ConfigValid');
    expect(valid).toMatchObject({ status: 'False', reason: 'InvalidConfiguration' });
    expect(valid?.message).toMatch(message);
    expect(written).toBeLessThan(STATUS_BUDGET);
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) expect(event.length).toBeLessThanOrEqual(LIMITS.message);
    expect(vsUnchanged).toBe(true);
  });

  it('a template with an oversized query fails the release that uses it, briefly', async () => {
    const spec = {
      ...managedPrimary(baseSpecInput()),
      strategy: { steps: [{ setWeight: 10 }, { analysis: {} }] },
      analysis: { templates: [{ name: 'huge' }] },
    };
    const { status, written } = await reconcileOnce(spec, (kube) =>
      kube.apply('AnalysisTemplate', {
        apiVersion: API_VERSION,
        kind: 'AnalysisTemplate',
        metadata: { name: 'huge', namespace: NAMESPACE },
        spec: {
          metrics: [
            {
              name: 'q',
              type: 'promql',
              query: `sum(${'x'.repeat(MB)}`,
              judge: { type: 'threshold', max: 1 },
            },
          ],
        },
      }),
    );
    expect(status?.conditions?.find((c) => c.type === 'ConfigValid')?.message).toMatch(
      /AnalysisTemplate "huge" is invalid: spec\.metrics\[0\]\.query: must be at most 8192 characters/,
    );
    expect(written).toBeLessThan(STATUS_BUDGET);
  });
});
