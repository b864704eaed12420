import type { CanaryReleaseSpec, RoutingState, Step, StepKind } from '../api/canary-release.js';
import { percentToUnits, unitsToPercent } from '../api/routing.js';

/**
 * The steps a rollout walks through. The shorthand `stepWeight/maxWeight/interval` becomes
 * setWeight + analysis gate pairs, so there is one way of running a rollout, not two.
 */
export function expandSteps(strategy: CanaryReleaseSpec['strategy']): Step[] {
  if (strategy.steps) return strategy.steps;
  const { stepWeight, maxWeight, interval } = strategy;
  if (!stepWeight || maxWeight === undefined || interval === undefined) return [];
  const steps: Step[] = [];
  // integer arithmetic in hundredths of a percent, so 0.1 + 0.2 stays 0.3
  const stepUnits = Math.round(stepWeight * 100);
  const maxUnits = Math.round(maxWeight * 100);
  for (let w = stepUnits; w <= maxUnits; w += stepUnits) {
    steps.push({ setWeight: w / 100 }, { analysis: { duration: interval } });
  }
  return steps;
}

/**
 * Step `index` (from 0) as people count it: from 1, over the number of steps. Once all steps are done
 * the index is the number of steps, which shows as the last step, the one that led to promotion.
 */
export function stepPosition(index: number, count: number): { number: number; count: number } {
  return { number: Math.min(index + 1, count), count };
}

/** `2/4`: the current step as `kubectl get` and `kubectl canaria get` show it. */
export const stepLabel = (index: number, count: number): string => {
  const { number } = stepPosition(index, count);
  return `${number}/${count}`;
};

export function stepKind(step: Step): StepKind {
  if (step.setWeight !== undefined) return 'setWeight';
  if (step.pause !== undefined) return 'pause';
  if (step.analysis !== undefined) return 'analysis';
  if (step.match !== undefined) return 'match';
  return 'mirror';
}

export { percentToUnits, unitsToPercent };

/** All traffic on the stable revision: where a rollout starts and a rollback ends. */
export function stableRouting(total: number): RoutingState {
  return { stableWeight: total, canaryWeight: 0, total };
}

export function fullCanaryRouting(total: number): RoutingState {
  return { stableWeight: 0, canaryWeight: total, total };
}

/**
 * The routing while on step `index`: the weight of the last setWeight at or before it, plus the
 * A/B match route or the mirror while a match or mirror stage is the current step.
 */
export function routingForStep(steps: readonly Step[], index: number, total: number): RoutingState {
  let percent = 0;
  for (let i = 0; i <= index && i < steps.length; i++) {
    const w = steps[i]?.setWeight;
    if (w !== undefined) percent = w;
  }
  const canaryWeight = percentToUnits(percent, total);
  const routing: RoutingState = { stableWeight: total - canaryWeight, canaryWeight, total };
  const current = steps[index];
  if (current?.match) routing.match = current.match;
  if (current?.mirror) routing.mirrorPercent = current.mirror.percent;
  return routing;
}

export function sameRouting(a: RoutingState | undefined, b: RoutingState | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.stableWeight === b.stableWeight &&
    a.canaryWeight === b.canaryWeight &&
    a.total === b.total &&
    (a.mirrorPercent ?? 0) === (b.mirrorPercent ?? 0) &&
    JSON.stringify(a.match ?? null) === JSON.stringify(b.match ?? null)
  );
}
