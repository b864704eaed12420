import { describe, expect, it } from 'vitest';
import { applyJsonPatch } from '../../kube/json-patch.js';
import { planRoutePatch } from './patch.js';
import { readSplit } from './routes.js';
import { route, spec, split } from './fixtures.test-support.js';

const state = (stableWeight: number, canaryWeight: number, more = {}) => ({
  stableWeight,
  canaryWeight,
  total: 100,
  ...more,
});

describe('planRoutePatch', () => {
  it('sets only the two weights of a named rule, guarded by its name and its backendRefs', () => {
    const r = route([{ name: 'main', ...split(100, 0) }]);
    const plan = planRoutePatch(r, spec({ httpRoute: { name: 'reviews', rule: 'main' } }), state(90, 10));
    expect(plan).toEqual({
      ok: true,
      value: [
        { op: 'test', path: '/spec/rules/0/name', value: 'main' },
        { op: 'test', path: '/spec/rules/0/backendRefs', value: r.spec.rules?.[0]?.backendRefs },
        { op: 'replace', path: '/spec/rules/0/backendRefs/0/weight', value: 90 },
        { op: 'replace', path: '/spec/rules/0/backendRefs/1/weight', value: 10 },
      ],
    });
  });

  it('guards an unnamed rule by the whole rules list, and adds the canary backendRef from the stable one', () => {
    const r = route([split(undefined)]);
    const plan = planRoutePatch(r, spec(), state(95, 5));
    expect(plan).toEqual({
      ok: true,
      value: [
        { op: 'test', path: '/spec/rules', value: r.spec.rules },
        { op: 'add', path: '/spec/rules/0/backendRefs/0/weight', value: 95 },
        {
          op: 'add',
          path: '/spec/rules/0/backendRefs/-',
          value: { name: 'reviews-canary', port: 9080, weight: 5 },
        },
      ],
    });
  });

  it('plans nothing when the route already is as desired', () => {
    expect(planRoutePatch(route([split(90, 10)]), spec(), state(90, 10))).toEqual({ ok: true, value: [] });
  });

  it('puts the A/B rule in front with header, cookie and query matches, and removes it afterwards', () => {
    const r = route([{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], ...split(100, 0) }]);
    const match = {
      headers: [{ name: 'end-user', exact: 'testuser' }],
      cookie: { name: 'beta', regex: 'yes' },
      queryParams: [{ name: 'name', prefix: 'x.' }],
      canaryWeight: 100,
    };
    const plan = planRoutePatch(r, spec(), state(100, 0, { match }));
    if (!plan.ok) throw plan.error;
    const during = applyJsonPatch(r, plan.value);
    expect(during.spec.rules?.[0]).toEqual({
      name: 'canaria-ab',
      matches: [
        {
          path: { type: 'PathPrefix', value: '/api' },
          headers: [
            { type: 'Exact', name: 'end-user', value: 'testuser' },
            { type: 'RegularExpression', name: 'Cookie', value: '^(.*?;\\s*)?(beta=(?:yes))(;.*)?$' },
          ],
          queryParams: [{ type: 'RegularExpression', name: 'name', value: 'x\\..*' }],
        },
      ],
      backendRefs: [
        { group: '', kind: 'Service', name: 'reviews-stable', port: 9080, weight: 0 },
        { group: '', kind: 'Service', name: 'reviews-canary', port: 9080, weight: 100 },
      ],
    });
    expect(readSplit(during, spec())).toMatchObject({ ok: true, value: { match: true } });
    const after = planRoutePatch(during, spec(), state(100, 0));
    if (!after.ok) throw after.error;
    expect(applyJsonPatch(during, after.value)).toEqual(r);
  });

  it('refuses an A/B stage that matches a header the rule already matches', () => {
    const r = route([{ matches: [{ headers: [{ name: 'End-User', value: 'x' }] }], ...split(100, 0) }]);
    const plan = planRoutePatch(
      r,
      spec(),
      state(100, 0, { match: { headers: [{ name: 'end-user', exact: 'a' }], canaryWeight: 100 } }),
    );
    expect(plan).toMatchObject({ ok: false, error: { code: 'match-conflict' } });
  });

  it('adds a RequestMirror filter to the canary Service, a fraction when the percent is not whole', () => {
    const r = route([{ name: 'main', ...split(100, 0) }]);
    const plan = planRoutePatch(r, spec(), state(100, 0, { mirrorPercent: 0.5 }));
    if (!plan.ok) throw plan.error;
    expect(plan.value.at(-1)).toEqual({
      op: 'add',
      path: '/spec/rules/0/filters',
      value: [
        {
          type: 'RequestMirror',
          requestMirror: {
            backendRef: { group: '', kind: 'Service', name: 'reviews-canary', port: 9080 },
            fraction: { numerator: 5000, denominator: 1000000 },
          },
        },
      ],
    });
    // the whole rule is guarded: the absence of filters cannot be tested otherwise
    expect(plan.value[1]).toEqual({ op: 'test', path: '/spec/rules/0', value: r.spec.rules?.[0] });
  });

  it('refuses weights in other units than the release total, and an all-zero rule', () => {
    const r = route([split(100, 0)]);
    expect(planRoutePatch(r, spec(), { stableWeight: 900, canaryWeight: 100, total: 1000 })).toMatchObject({
      ok: false,
      error: { code: 'weights-invalid' },
    });
    expect(planRoutePatch(r, spec(), state(0, 0))).toMatchObject({
      ok: false,
      error: { code: 'weights-invalid' },
    });
  });
});
