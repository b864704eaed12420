import { describe, expect, it } from 'vitest';
import { applyJsonPatch } from '../../kube/json-patch.js';
import { evaluateHttpRoute } from './evaluate.js';
import { planRoutePatch } from './patch.js';
import { route, spec, split } from './fixtures.test-support.js';

describe('evaluateHttpRoute', () => {
  const r = route([
    { name: 'all', ...split(90, 10) },
    {
      name: 'api',
      matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
      backendRefs: [{ name: 'api', port: 80 }],
    },
    {
      name: 'login',
      matches: [{ path: { type: 'Exact', value: '/api/login' } }],
      backendRefs: [{ name: 'auth' }],
    },
    {
      name: 'post',
      matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'POST' }],
      backendRefs: [{ name: 'writer' }],
    },
  ]);
  const to = (request: Parameters<typeof evaluateHttpRoute>[1]) => {
    const result = evaluateHttpRoute(r, request);
    return result.kind === 'matched' ? result.name : result.kind;
  };

  it('follows Gateway API precedence, not rule order', () => {
    expect(to({ uri: '/' })).toBe('all');
    expect(to({ uri: '/api/users?x=1' })).toBe('api');
    expect(to({ uri: '/apix' })).toBe('all');
    expect(to({ uri: '/api/login' })).toBe('login');
    expect(to({ uri: '/api/users', method: 'post' })).toBe('post');
  });

  it('gives the weighted backends, an omitted weight counting 1', () => {
    const result = evaluateHttpRoute(r, { uri: '/' });
    expect(result).toMatchObject({
      kind: 'matched',
      backends: [
        { name: 'reviews-stable', weight: 90, percent: 90 },
        { name: 'reviews-canary', weight: 10, percent: 10 },
      ],
    });
    const single = evaluateHttpRoute(route([split(undefined)]), {});
    expect(single).toMatchObject({ backends: [{ name: 'reviews-stable', weight: 1, percent: 100 }] });
  });

  it('sends a request of the A/B stage to the canary, others by weight, whatever the rule order', () => {
    const user = route([split(100, 0)]);
    const match = {
      headers: [{ name: 'end-user', exact: 'testuser' }],
      cookie: { name: 'beta', regex: 'yes' },
      canaryWeight: 100,
    };
    const plan = planRoutePatch(user, spec(), { stableWeight: 100, canaryWeight: 0, total: 100, match });
    if (!plan.ok) throw plan.error;
    const ab = applyJsonPatch(user, plan.value);
    // put the A/B rule last: precedence still picks it for a request with both headers
    ab.spec.rules?.reverse();
    const hit = evaluateHttpRoute(ab, {
      headers: { 'End-User': 'testuser' },
      cookies: { a: '1', beta: 'yes' },
    });
    expect(hit).toMatchObject({
      kind: 'matched',
      name: 'canaria-ab',
      backends: [{ percent: 0 }, { percent: 100 }],
    });
    const miss = evaluateHttpRoute(ab, { headers: { 'end-user': 'testuser' }, cookies: { beta: 'no' } });
    expect(miss).toMatchObject({
      kind: 'matched',
      backends: [{ name: 'reviews-stable', percent: 100 }, { percent: 0 }],
    });
    expect(miss.kind === 'matched' && miss.name).toBe(undefined);
  });

  it('matches query parameters and hostnames, and says when nothing matches', () => {
    const q = route([
      {
        matches: [{ path: { type: 'Exact', value: '/x' }, queryParams: [{ name: 'name', value: 'xx' }] }],
        ...split(100),
      },
    ]);
    q.spec.hostnames = ['*.example.com'];
    expect(evaluateHttpRoute(q, { host: 'a.example.com', uri: '/x?name=xx' }).kind).toBe('matched');
    expect(evaluateHttpRoute(q, { host: 'a.example.com', uri: '/x?name=yy' }).kind).toBe('no-match');
    expect(evaluateHttpRoute(q, { host: 'example.org', uri: '/x?name=xx' })).toMatchObject({
      kind: 'no-match',
      notes: [expect.stringContaining('example.org')],
    });
  });

  it('reports the mirror and an all-zero rule', () => {
    const m = route([
      {
        ...split(0, 0),
        filters: [
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'reviews-canary' }, percent: 5 } },
        ],
      },
    ]);
    expect(evaluateHttpRoute(m, {})).toMatchObject({
      mirror: { name: 'reviews-canary', percent: 5 },
      notes: [expect.stringContaining('500')],
    });
  });
});
