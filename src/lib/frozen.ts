/** Freezes `value` and everything under it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

/**
 * `fn`, remembered per input while the input is a frozen object. The controller's caches hand out
 * frozen objects and a new version of an object is a new object, so a result computed from one can
 * never go stale, and a WeakMap forgets it with the object. Inputs that are not frozen are computed
 * every time. Results are frozen as well: every reconcile that reads the object shares them.
 */
export function memoizeFrozen<I, O>(fn: (input: I) => O): (input: I) => O {
  const memo = new WeakMap<object, O>();
  return (input) => {
    if (input === null || typeof input !== 'object' || !Object.isFrozen(input)) return fn(input);
    if (memo.has(input)) return memo.get(input) as O;
    const output = deepFreeze(fn(input));
    memo.set(input, output);
    return output;
  };
}
