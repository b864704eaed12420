import { describe, expect, it } from 'vitest';
import { findManagedRule, readSplit } from './routes.js';
import { route, spec, split } from './fixtures.test-support.js';

describe('findManagedRule', () => {
  it('picks the only rule whose backendRefs are the stable and canary Services', () => {
    const r = route([{ backendRefs: [{ name: 'other', port: 80 }] }, split(90, 10)]);
    expect(findManagedRule(r, spec())).toEqual({ ok: true, value: { index: 1, stable: 0, canary: 1 } });
  });

  it('says which rules are ambiguous and how to name one', () => {
    const r = route([split(100), split(50, 50)]);
    const found = findManagedRule(r, spec());
    expect(found.ok).toBe(false);
    if (found.ok) return;
    expect(found.error.code).toBe('rule-ambiguous');
    expect(found.error.message).toContain('spec.rules[0], spec.rules[1]');
    expect(found.error.fix).toContain('trafficRouting.gatewayAPI.httpRoute.rule');
  });

  it('does not take a rule that also sends to another backend unless it is named', () => {
    const mixed = { backendRefs: [...(split(90).backendRefs ?? []), { name: 'legacy', port: 80 }] };
    expect(findManagedRule(route([mixed]), spec()).ok).toBe(false);
    const named = route([{ ...mixed, name: 'main' }]);
    expect(findManagedRule(named, spec({ httpRoute: { name: 'reviews', rule: 'main' } }))).toMatchObject({
      ok: true,
      value: { index: 0, name: 'main', stable: 0 },
    });
  });

  it('lists the named rules when the named one is missing', () => {
    const found = findManagedRule(
      route([{ ...split(1), name: 'api' }]),
      spec({ httpRoute: { name: 'reviews', rule: 'web' } }),
    );
    expect(found).toMatchObject({ ok: false, error: { code: 'named-rule-missing', path: 'spec.rules' } });
    if (!found.ok) expect(found.error.message).toContain('named rules: api');
  });

  it('counts an index among the user rules, so the A/B rule in front does not move it', () => {
    const r = route([{ ...split(0, 100), name: 'canaria-ab' }, split(100, 0)]);
    expect(findManagedRule(r, spec({ httpRoute: { name: 'reviews', rule: 0 } }))).toMatchObject({
      ok: true,
      value: { index: 1 },
    });
    expect(findManagedRule(r, spec({ httpRoute: { name: 'reviews', rule: 1 } })).ok).toBe(false);
  });

  it('refuses a rule that refers to the stable Service twice', () => {
    const r = route([{ backendRefs: [{ name: 'reviews-stable' }, { name: 'reviews-stable', port: 81 }] }]);
    expect(findManagedRule(r, spec())).toMatchObject({ ok: false, error: { code: 'backend-ambiguous' } });
  });

  it('ignores a backendRef to a Service of another namespace or to another kind', () => {
    const r = route([
      {
        backendRefs: [
          { name: 'reviews-stable', namespace: 'other' },
          { name: 'reviews-stable', group: 'example.com', kind: 'Backend' },
        ],
      },
    ]);
    expect(findManagedRule(r, spec())).toMatchObject({ ok: false, error: { code: 'rule-not-found' } });
  });
});

describe('readSplit', () => {
  it('reads an omitted weight as 1, as Gateway API does', () => {
    expect(readSplit(route([split(undefined)]), spec())).toEqual({
      ok: true,
      value: { stableWeight: 1, canaryWeight: 0, total: 1, match: false },
    });
  });

  it('reads the weights, the A/B rule and the mirror percent or fraction', () => {
    const mirror = (requestMirror: Record<string, unknown>) => ({
      ...split(90, 10),
      filters: [
        {
          type: 'RequestMirror',
          requestMirror: { backendRef: { name: 'reviews-canary', port: 9080 }, ...requestMirror },
        },
      ],
    });
    const ab = { ...split(0, 100), name: 'canaria-ab' };
    expect(readSplit(route([ab, mirror({ percent: 20 })]), spec())).toEqual({
      ok: true,
      value: { stableWeight: 90, canaryWeight: 10, total: 100, match: true, mirrorPercent: 20 },
    });
    expect(
      readSplit(route([mirror({ fraction: { numerator: 5000, denominator: 1000000 } })]), spec()),
    ).toMatchObject({
      ok: true,
      value: { mirrorPercent: 0.5 },
    });
    expect(readSplit(route([mirror({ fraction: { numerator: 1 } })]), spec())).toMatchObject({
      value: { mirrorPercent: 1 },
    });
    expect(readSplit(route([mirror({})]), spec())).toMatchObject({ value: { mirrorPercent: 100 } });
  });

  it('does not read a mirror to another backend as the canary mirror', () => {
    const r = route([
      {
        ...split(100),
        filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 } } }],
      },
    ]);
    expect(readSplit(r, spec())).toMatchObject({ ok: true, value: { match: false } });
    const value = readSplit(r, spec());
    expect(value.ok && value.value.mirrorPercent).toBe(undefined);
  });
});
