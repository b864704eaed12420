import { describe, expect, it } from 'vitest';
import { deepFreeze, memoizeFrozen } from './frozen.js';

describe('memoizeFrozen', () => {
  const counted = () => {
    let calls = 0;
    const fn = memoizeFrozen((input: { spec: { n: number } }) => {
      calls++;
      return { doubled: input.spec.n * 2 };
    });
    return { fn, calls: () => calls };
  };

  it('computes once per frozen object, and again for its next version', () => {
    const { fn, calls } = counted();
    const v1 = deepFreeze({ spec: { n: 1 } });
    expect(fn(v1)).toBe(fn(v1));
    expect(calls()).toBe(1);
    expect(fn(deepFreeze({ spec: { n: 2 } }))).toEqual({ doubled: 4 });
    expect(calls()).toBe(2);
  });

  it('hands out frozen results, since every reader shares them', () => {
    const { fn } = counted();
    expect(Object.isFrozen(fn(deepFreeze({ spec: { n: 1 } })))).toBe(true);
  });

  it('computes every time for an object that may still change', () => {
    const { fn, calls } = counted();
    const mutable = { spec: { n: 1 } };
    fn(mutable);
    mutable.spec.n = 3;
    expect(fn(mutable)).toEqual({ doubled: 6 });
    expect(calls()).toBe(2);
  });
});
