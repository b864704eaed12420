import { describe, expect, it } from 'vitest';
import { LIMITS, quoted, truncate } from './limits.js';

describe('truncate', () => {
  it('leaves short text alone and cuts long text to the limit with a marker that counts the rest', () => {
    expect(truncate('short', 10)).toBe('short');
    const cut = truncate('x'.repeat(1_000_000), 100);
    expect(cut.length).toBeLessThanOrEqual(100);
    expect(cut.length).toBeGreaterThan(95);
    expect(cut).toMatch(/^x+… \(truncated, 999\d{3} more characters\)$/);
    const kept = cut.indexOf('…');
    expect(Number(/truncated, (\d+) more/.exec(cut)?.[1]) + kept).toBe(1_000_000);
  });

  it('quotes user input as JSON, cut to LIMITS.quoted', () => {
    expect(quoted('a"b')).toBe('"a\\"b"');
    expect(quoted('y'.repeat(10_000)).length).toBeLessThanOrEqual(LIMITS.quoted + 2);
  });
});
