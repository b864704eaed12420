import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  applyJsonPatch,
  jsonEqual,
  JsonPatchError,
  parsePointer,
  PatchTestFailed,
  toPointer,
  type JsonPatchOperation,
} from './json-patch.js';

function failure(run: () => unknown): JsonPatchError {
  try {
    run();
  } catch (err) {
    if (err instanceof JsonPatchError) return err;
    throw err;
  }
  throw new Error('expected a JsonPatchError');
}

describe('JSON pointers', () => {
  it('escapes ~ and / so that every member name round-trips', () => {
    expect(toPointer(['a/b', 'm~n', 0, ''])).toBe('/a~1b/m~0n/0/');
    expect(parsePointer('/a~1b/m~0n/0/')).toEqual(['a/b', 'm~n', '0', '']);
    // "~01" is a literal "~1", not a slash
    expect(parsePointer('/~01')).toEqual(['~1']);
  });

  it('rejects a pointer that does not start with a slash', () => {
    expect(failure(() => applyJsonPatch({}, [{ op: 'add', path: 'a', value: 1 }])).reason).toBe(
      'invalid-pointer',
    );
  });

  it('round-trips any member names', () => {
    fc.assert(
      fc.property(fc.array(fc.string()), (tokens) => {
        expect(parsePointer(toPointer(tokens))).toEqual(tokens);
      }),
    );
  });
});

describe('applyJsonPatch', () => {
  it('adds object members and inserts into arrays, "-" appending', () => {
    const doc = { foo: ['bar', 'baz'] };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/foo/1', value: 'qux' },
      { op: 'add', path: '/foo/-', value: 'end' },
      { op: 'add', path: '/child', value: { grand: 1 } },
    ]);
    expect(out).toEqual({ foo: ['bar', 'qux', 'baz', 'end'], child: { grand: 1 } });
    expect(doc).toEqual({ foo: ['bar', 'baz'] });
  });

  it('add on an existing member replaces it; add at the root replaces the document', () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '/a', value: 2 }])).toEqual({ a: 2 });
    expect(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '', value: [1] }])).toEqual([1]);
  });

  it('removes members and array items', () => {
    const out = applyJsonPatch({ a: 1, b: [1, 2, 3] }, [
      { op: 'remove', path: '/a' },
      { op: 'remove', path: '/b/1' },
    ]);
    expect(out).toEqual({ b: [1, 3] });
  });

  it('replace requires the target to exist', () => {
    expect(applyJsonPatch({ a: { b: 1 } }, [{ op: 'replace', path: '/a/b', value: 2 }])).toEqual({
      a: { b: 2 },
    });
    const err = failure(() => applyJsonPatch({ a: {} }, [{ op: 'replace', path: '/a/b', value: 2 }]));
    expect(err.reason).toBe('missing-path');
    expect(err.retryable).toBe(true);
  });

  it('moves and copies values', () => {
    const doc = { a: { x: 1 }, list: [1, 2, 3, 4] };
    expect(
      applyJsonPatch(doc, [
        { op: 'move', from: '/a/x', path: '/b' },
        { op: 'move', from: '/list/1', path: '/list/3' },
        { op: 'copy', from: '/b', path: '/c' },
      ]),
    ).toEqual({ a: {}, b: 1, c: 1, list: [1, 3, 4, 2] });
  });

  it('refuses to move a value into its own child', () => {
    expect(
      failure(() => applyJsonPatch({ a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }])).reason,
    ).toBe('invalid-operation');
  });

  it('copies deeply, so a later change to the copy leaves the source alone', () => {
    const out = applyJsonPatch({ a: { n: 1 } }, [
      { op: 'copy', from: '/a', path: '/b' },
      { op: 'replace', path: '/b/n', value: 2 },
    ]);
    expect(out).toEqual({ a: { n: 1 }, b: { n: 2 } });
  });

  it('test compares JSON values, ignoring member order', () => {
    const doc = { a: { x: [1, { y: 'z' }], w: null } };
    expect(applyJsonPatch(doc, [{ op: 'test', path: '/a', value: { w: null, x: [1, { y: 'z' }] } }])).toEqual(
      doc,
    );
  });

  it('a failed test throws PatchTestFailed with both values, and no partial result escapes', () => {
    const doc = { spec: { weight: 90 } };
    const ops: JsonPatchOperation[] = [
      { op: 'replace', path: '/spec/weight', value: 80 },
      { op: 'test', path: '/spec/weight', value: 90 },
    ];
    const err = failure(() => applyJsonPatch(doc, ops));
    if (!(err instanceof PatchTestFailed)) throw new Error(`expected PatchTestFailed, got ${err.name}`);
    expect(err.retryable).toBe(true);
    expect(err.expected).toBe(90);
    expect(err.actual).toBe(80);
    expect(doc.spec.weight).toBe(90);
  });

  it('test on a missing member fails as a missing path', () => {
    expect(failure(() => applyJsonPatch({}, [{ op: 'test', path: '/a', value: 1 }])).reason).toBe(
      'missing-path',
    );
  });

  it('rejects array indexes with leading zeros or past the end', () => {
    expect(failure(() => applyJsonPatch({ a: [1, 2] }, [{ op: 'remove', path: '/a/01' }])).reason).toBe(
      'invalid-pointer',
    );
    expect(failure(() => applyJsonPatch({ a: [1, 2] }, [{ op: 'add', path: '/a/3', value: 0 }])).reason).toBe(
      'missing-path',
    );
    expect(failure(() => applyJsonPatch({ a: [1, 2] }, [{ op: 'remove', path: '/a/2' }])).reason).toBe(
      'missing-path',
    );
  });

  it('keeps "__proto__" a plain member', () => {
    const out = applyJsonPatch<Record<string, unknown>>({}, [
      { op: 'add', path: '/__proto__', value: { polluted: true } },
    ]);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('rejects an unknown operation', () => {
    const op = { op: 'merge', path: '/a', value: 1 } as unknown as JsonPatchOperation;
    expect(failure(() => applyJsonPatch({}, [op])).reason).toBe('invalid-operation');
  });
});

describe('jsonEqual', () => {
  it('tells arrays from objects and compares numbers by value', () => {
    expect(jsonEqual([], {})).toBe(false);
    expect(jsonEqual({ a: 1.0 }, { a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
  });

  it('is reflexive on any JSON value and agrees with a structural clone', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(jsonEqual(value, structuredClone(value))).toBe(true);
      }),
    );
  });
});
