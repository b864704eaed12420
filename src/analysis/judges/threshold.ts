import { num } from '../format.js';
import type { Judge } from './judge.js';

/** An absolute range on the canary's value, e.g. success rate >= 0.99 (the seeds' style). */
export const thresholdJudge: Judge = {
  needsStable: false,
  window: 'step',
  judge({ metric, canary }) {
    const value = canary.value ?? Number.NaN;
    const { min, max } = metric.judge;
    if (min !== undefined && value < min) {
      return { verdict: 'Fail', rule: `canary ${num(value)} < min ${num(min)}`, bound: min };
    }
    if (max !== undefined && value > max) {
      return { verdict: 'Fail', rule: `canary ${num(value)} > max ${num(max)}`, bound: max };
    }
    const range = [min !== undefined ? `>= ${num(min)}` : '', max !== undefined ? `<= ${num(max)}` : '']
      .filter(Boolean)
      .join(' and ');
    return {
      verdict: 'Pass',
      rule: `canary ${num(value)} ${range}`,
      ...(max !== undefined ? { bound: max } : min !== undefined ? { bound: min } : {}),
    };
  },
};
