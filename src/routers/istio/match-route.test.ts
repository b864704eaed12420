import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { percentToUnits } from '../../api/routing.js';
import { cookieHeaderRegex } from '../http-match.js';
import { stageConditions } from './match-route.js';
import { compileIstioRegex, matchesString } from './string-match.js';

const cookieMatches = (name: string, valueRegex: string, header: string) =>
  matchesString({ regex: cookieHeaderRegex(name, valueRegex) }, header);

describe('cookieHeaderRegex', () => {
  it('finds the cookie first, in the middle or last, with or without a space after ";"', () => {
    for (const header of [
      'email=a@corp.com',
      'x=1; email=a@corp.com',
      'x=1;email=a@corp.com; y=2',
      'email=a@corp.com;y=2',
    ]) {
      expect(cookieMatches('email', '[^;]*@corp\\.com', header)).toBe(true);
    }
  });

  it('does not take another cookie whose name ends the same, or another value', () => {
    expect(cookieMatches('email', '[^;]*@corp\\.com', 'xemail=a@corp.com')).toBe(false);
    expect(cookieMatches('email', '[^;]*@corp\\.com', 'email=a@else.org')).toBe(false);
    expect(cookieMatches('email', '[^;]*@corp\\.com', 'x=email=a@corp.com')).toBe(false);
  });

  it('escapes regex characters of the cookie name', () => {
    expect(cookieMatches('a.b', 'v', 'a.b=v')).toBe(true);
    expect(cookieMatches('a.b', 'v', 'axb=v')).toBe(false);
  });

  it('finds a cookie among any other cookies', () => {
    const token = fc.stringMatching(/^[a-z]{1,8}$/);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(token, token)),
        fc.array(fc.tuple(token, token)),
        token,
        (before, after, value) => {
          const others = (list: [string, string][]) =>
            list.filter(([k]) => k !== 'grp').map(([k, v]) => `${k}=${v}`);
          const header = [...others(before), `grp=${value}`, ...others(after)].join('; ');
          expect(cookieMatches('grp', '[a-z]+', header)).toBe(true);
        },
      ),
    );
  });
});

describe('stageConditions', () => {
  it('lower-cases header names and sets exactly one of exact, prefix, regex', () => {
    const result = stageConditions({
      headers: [
        { name: 'End-User', exact: 'testuser' },
        { name: 'x-group', prefix: 'beta' },
      ],
      queryParams: [{ name: 'name', regex: 'x+' }],
      canaryWeight: 100,
    });
    expect(result).toEqual({
      ok: true,
      value: {
        headers: { 'end-user': { exact: 'testuser' }, 'x-group': { prefix: 'beta' } },
        queryParams: { name: { regex: 'x+' } },
      },
    });
  });

  it('refuses a cookie stage that also matches the cookie header', () => {
    const result = stageConditions({
      headers: [{ name: 'Cookie', regex: '.*' }],
      cookie: { name: 'a', regex: 'b' },
      canaryWeight: 100,
    });
    expect(result.ok).toBe(false);
  });
});

describe('string matches', () => {
  it('needs RE2 syntax: lookaround and backreferences are refused, with the reason', () => {
    const lookahead = compileIstioRegex('(?=a)b');
    expect(lookahead).toBeInstanceOf(Error);
    expect((lookahead as Error).message).toMatch(
      /^lookaround such as \(\?=\.\.\.\) or \(\?!\.\.\.\) is not supported by RE2 \(error parsing regexp: invalid or unsupported Perl syntax: `\(\?=`\)$/,
    );
    const backreference = compileIstioRegex('(a)\\1');
    expect((backreference as Error).message).toMatch(
      /^backreferences such as \\1 are not supported by RE2 \(error parsing regexp: invalid escape sequence: `\\1`\)$/,
    );
    expect(compileIstioRegex('(?<!a)b')).toBeInstanceOf(Error);
    expect(compileIstioRegex('[')).toBeInstanceOf(Error);
    expect(compileIstioRegex('a{1001}')).toBeInstanceOf(Error);
    expect(matchesString({ regex: '[' }, '[')).toBe(false);
  });

  it('matches as Envoy does: RE2 syntax JavaScript reads otherwise or not at all, and a full match', () => {
    // JavaScript's RegExp throws on (?i): "Invalid group"
    // eslint-disable-next-line no-invalid-regexp -- the point: JavaScript's RegExp refuses it
    expect(() => new RegExp('(?i).*chrome.*')).toThrow();
    expect(matchesString({ regex: '(?i).*chrome.*' }, 'Mozilla/5.0 CHROME/120.0')).toBe(true);
    expect(matchesString({ regex: '(?i).*chrome.*' }, 'Mozilla/5.0 Firefox/121.0')).toBe(false);
    // a POSIX class in RE2; in JavaScript the class [[:alph] followed by "]+"
    expect(new RegExp('^(?:[[:alpha:]]+)$').test('a]')).toBe(true);
    expect(matchesString({ regex: '[[:alpha:]]+' }, 'abc')).toBe(true);
    expect(matchesString({ regex: '[[:alpha:]]+' }, 'a]')).toBe(false);
    expect(matchesString({ regex: '\\pL+' }, 'ünïcode')).toBe(true);
    expect(matchesString({ regex: '(?P<v>v\\d+)' }, 'v2')).toBe(true);
    // the whole value, not a part of it
    expect(matchesString({ regex: 'chrome' }, 'a chrome b')).toBe(false);
    expect(matchesString({ regex: 'a|b' }, 'ab')).toBe(false);
  });

  it('converts percent to weight units', () => {
    expect(percentToUnits(0.1, 1000)).toBe(1);
    expect(percentToUnits(12.5, 10000)).toBe(1250);
    expect(percentToUnits(10, 100)).toBe(10);
  });
});
