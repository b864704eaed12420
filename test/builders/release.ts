import {
  canaryReleaseSpec,
  type CanaryReleaseSpec,
  type CanaryReleaseSpecInput,
} from '../../src/api/canary-release.js';
import { describeIssues, parseCanaryReleaseSpec } from '../../src/api/validation.js';
import type { Measurement, RequestCounts } from '../../src/analysis/types.js';
import type { ObservedRouting, Observations } from '../../src/engine/types.js';

/** The seeds' S1/S2 shape: stable subset v1, canary subset v2, whole-percent weights. */
export const baseSpecInput = (): CanaryReleaseSpecInput => ({
  subsets: {},
  trafficRouting: {
    istio: {
      virtualService: { name: 'reviews' },
      destinationRule: { name: 'reviews' },
      stableSubset: 'v1',
      canarySubset: 'v2',
    },
  },
  strategy: {
    steps: [
      { setWeight: 10 },
      { pause: { duration: '1m' } },
      { setWeight: 50 },
      { pause: { duration: '1m' } },
    ],
  },
});

type DeepPartial<T> = {
  [K in keyof T]?: Exclude<T[K], undefined> extends object
    ? DeepPartial<Exclude<T[K], undefined>> | T[K]
    : T[K];
};

function merge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(patch) || patch === null || typeof patch !== 'object') return patch;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(patch)) {
    out[k] = v === undefined ? undefined : merge(out[k], v);
    if (v === undefined) Reflect.deleteProperty(out, k);
  }
  return out;
}

/** A valid spec with defaults applied; `patch` is deep-merged (arrays replace). Throws on invalid input. */
export function aSpec(patch: DeepPartial<CanaryReleaseSpecInput> = {}): CanaryReleaseSpec {
  const parsed = parseCanaryReleaseSpec(merge(baseSpecInput(), patch));
  if (!parsed.ok) throw new Error(`test spec is invalid: ${describeIssues(parsed.issues)}`);
  return canaryReleaseSpec.parse(parsed.value);
}

type AnalysisInput = NonNullable<CanaryReleaseSpecInput['analysis']>;

/** An analysis block with one relative error-ratio metric. */
export const errorRatioAnalysis = (extra: Partial<AnalysisInput> = {}): AnalysisInput => ({
  interval: '1m',
  minSamples: 50,
  failureLimit: 2,
  metrics: [
    { name: 'error-ratio', type: 'errorRatio', judge: { type: 'relative', tolerance: 0.5, slack: 0.001 } },
  ],
  ...extra,
});

export const routingOf = (stableWeight: number, canaryWeight: number, total = 100): ObservedRouting => ({
  stableWeight,
  canaryWeight,
  total,
  match: false,
});

export function observations(patch: Partial<Observations> = {}): Observations {
  return {
    canaryRevision: 'rev-2',
    stableRevision: 'rev-1',
    canaryReady: true,
    actualRouting: routingOf(100, 0),
    configIssues: [],
    ...patch,
  };
}

export const counts = (total: number, errors: number, slow?: number): RequestCounts => ({
  total,
  errors,
  ...(slow !== undefined ? { slow } : {}),
});

export const requests = (canary: RequestCounts, stable: RequestCounts): Measurement => ({
  kind: 'requests',
  canary,
  stable,
});
