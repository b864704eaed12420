/** Resolved metrics as the engine and the metrics adapters see them, with the API's defaults. */
import { DEFAULT_REGRESSION } from '../../src/api/canary-release.js';
import { judges } from '../../src/analysis/judges.js';
import type { ResolvedMetric } from '../../src/analysis/types.js';

export function resolvedMetric(
  over: Partial<ResolvedMetric> & Pick<ResolvedMetric, 'name' | 'type'>,
): ResolvedMetric {
  const judge = over.judge ?? { type: 'relative' as const };
  return {
    source: 'inline',
    args: {},
    minSamples: 50,
    alpha: 0.01,
    regression: { ...DEFAULT_REGRESSION },
    window: judges[judge.type].window,
    ...over,
    judge,
  };
}
