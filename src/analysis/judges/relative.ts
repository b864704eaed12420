import { num } from '../format.js';
import type { Judge } from './judge.js';

export const DEFAULT_TOLERANCE = 0.1;
export const DEFAULT_SLACK = 0;

/**
 * Canary against stable over the same window: canary <= stable x (1 + tolerance) + slack (mirrored
 * for metrics where higher is better). Comparing with the stable revision cancels what both share:
 * a slow dependency, a traffic spike, a bad minute in the mesh.
 */
export const relativeJudge: Judge = {
  needsStable: true,
  window: 'step',
  judge({ metric, canary, stable, higherIsBetter }) {
    const tolerance = metric.judge.tolerance ?? DEFAULT_TOLERANCE;
    const slack = metric.judge.slack ?? DEFAULT_SLACK;
    const c = canary.value ?? Number.NaN;
    const s = stable.value ?? Number.NaN;
    if (higherIsBetter) {
      const bound = s * (1 - tolerance) - slack;
      const formula = `stable ${num(s)} x (1 - ${num(tolerance)}) - ${num(slack)} = ${num(bound)}`;
      return c < bound
        ? { verdict: 'Fail', rule: `canary ${num(c)} < ${formula}`, bound }
        : { verdict: 'Pass', rule: `canary ${num(c)} >= ${formula}`, bound };
    }
    const bound = s * (1 + tolerance) + slack;
    const formula = `stable ${num(s)} x (1 + ${num(tolerance)}) + ${num(slack)} = ${num(bound)}`;
    return c > bound
      ? { verdict: 'Fail', rule: `canary ${num(c)} > ${formula}`, bound }
      : { verdict: 'Pass', rule: `canary ${num(c)} <= ${formula}`, bound };
  },
};
