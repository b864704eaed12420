/**
 * RFC 6902 JSON Patch and RFC 6901 JSON Pointer, the patch format canaria sends to the API server for
 * custom resources. The in-memory Kubernetes adapter applies patches with it, so a `test` operation
 * behaves here as it does on a real API server: a failed guard rejects the whole patch.
 */

export type JsonPatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'move'; from: string; path: string }
  | { op: 'copy'; from: string; path: string }
  | { op: 'test'; path: string; value: unknown };

export type JsonPatchFailure = 'test-failed' | 'missing-path' | 'invalid-pointer' | 'invalid-operation';

export class JsonPatchError extends Error {
  override readonly name: string = 'JsonPatchError';
  constructor(
    readonly reason: JsonPatchFailure,
    /** The pointer of the operation that failed. */
    readonly path: string,
    message: string,
    /** The document changed under the patch; reading it again and re-planning can succeed. */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** A `test` operation found another value: someone edited the document since it was read. */
export class PatchTestFailed extends JsonPatchError {
  override readonly name = 'PatchTestFailed';
  constructor(
    path: string,
    readonly expected: unknown,
    readonly actual: unknown,
  ) {
    super(
      'test-failed',
      path,
      `test failed at ${path || '(root)'}: expected ${JSON.stringify(expected)}, found ${JSON.stringify(actual)}; the document changed since it was read`,
      true,
    );
  }
}

type Container = Record<string, unknown> | unknown[];

export function escapePointerToken(token: string | number): string {
  return String(token).replaceAll('~', '~0').replaceAll('/', '~1');
}

/** `['spec', 'http', 0]` -> `/spec/http/0` */
export function toPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${escapePointerToken(t)}`).join('');
}

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) {
    throw new JsonPatchError(
      'invalid-pointer',
      pointer,
      `"${pointer}" is not a JSON pointer; it must be empty or start with "/"`,
      false,
    );
  }
  // ~1 before ~0, so that "~01" decodes to "~1" and not to "/"
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** Applies `ops` in order to a copy of `doc`; the input is never modified. */
export function applyJsonPatch<T>(doc: T, ops: readonly JsonPatchOperation[]): T {
  let root: unknown = structuredClone(doc);
  for (const op of ops) root = applyOperation(root, op);
  return root as T;
}

function applyOperation(root: unknown, op: JsonPatchOperation): unknown {
  switch (op.op) {
    case 'add':
      return add(root, op.path, structuredClone(op.value));
    case 'remove':
      remove(root, op.path);
      return root;
    case 'replace':
      get(root, op.path);
      if (op.path === '') return structuredClone(op.value);
      remove(root, op.path);
      return add(root, op.path, structuredClone(op.value));
    case 'move': {
      if (op.path !== op.from && op.path.startsWith(`${op.from}/`)) {
        throw new JsonPatchError(
          'invalid-operation',
          op.path,
          `cannot move ${op.from} into its own child ${op.path}`,
          false,
        );
      }
      const value = get(root, op.from);
      if (op.path === op.from) return root;
      remove(root, op.from);
      return add(root, op.path, value);
    }
    case 'copy':
      return add(root, op.path, structuredClone(get(root, op.from)));
    case 'test': {
      const actual = get(root, op.path);
      if (!jsonEqual(actual, op.value)) throw new PatchTestFailed(op.path, op.value, actual);
      return root;
    }
    default: {
      const unknownOp: unknown = (op as { op: unknown }).op;
      throw new JsonPatchError(
        'invalid-operation',
        (op as { path?: string }).path ?? '',
        `unknown operation ${JSON.stringify(unknownOp)}; use add, remove, replace, move, copy or test`,
        false,
      );
    }
  }
}

function isContainer(value: unknown): value is Container {
  return typeof value === 'object' && value !== null;
}

/** Array index token: "0" or digits without a leading zero. */
function arrayIndex(token: string, length: number, pointer: string, allowEnd: boolean): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    throw new JsonPatchError(
      'invalid-pointer',
      pointer,
      `"${token}" is not an array index in ${pointer}`,
      false,
    );
  }
  const index = Number(token);
  if (index > length || (!allowEnd && index === length)) {
    throw new JsonPatchError(
      'missing-path',
      pointer,
      `index ${index} is out of bounds (length ${length}) in ${pointer}`,
      true,
    );
  }
  return index;
}

function child(container: Container, token: string, pointer: string): unknown {
  if (Array.isArray(container)) return container[arrayIndex(token, container.length, pointer, false)];
  if (!Object.hasOwn(container, token)) {
    throw new JsonPatchError('missing-path', pointer, `${pointer} does not exist`, true);
  }
  return container[token];
}

function get(root: unknown, pointer: string): unknown {
  let node = root;
  for (const token of parsePointer(pointer)) {
    if (!isContainer(node)) {
      throw new JsonPatchError('missing-path', pointer, `${pointer} does not exist`, true);
    }
    node = child(node, token, pointer);
  }
  return node;
}

function parentOf(root: unknown, pointer: string): { parent: Container; token: string } {
  const tokens = parsePointer(pointer);
  const token = tokens.pop();
  if (token === undefined) throw new Error('the root has no parent');
  const parent = get(root, toPointer(tokens));
  if (!isContainer(parent)) {
    throw new JsonPatchError(
      'missing-path',
      pointer,
      `the parent of ${pointer} is not an object or array`,
      true,
    );
  }
  return { parent, token };
}

function add(root: unknown, pointer: string, value: unknown): unknown {
  if (pointer === '') return value;
  const { parent, token } = parentOf(root, pointer);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(token, parent.length, pointer, true), 0, value);
  } else {
    // defineProperty, so that a "__proto__" member stays data and never becomes the prototype
    Object.defineProperty(parent, token, { value, writable: true, enumerable: true, configurable: true });
  }
  return root;
}

function remove(root: unknown, pointer: string): void {
  if (pointer === '') {
    throw new JsonPatchError('invalid-operation', pointer, 'cannot remove the whole document', false);
  }
  const { parent, token } = parentOf(root, pointer);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(token, parent.length, pointer, false), 1);
  } else {
    child(parent, token, pointer);
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- removing a member is what the operation means
    delete parent[token];
  }
}

/** JSON equality: member order does not matter, array order does, 1 equals 1.0. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!isContainer(a) || !isContainer(b)) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => jsonEqual(item, b[i]))
    );
  }
  const aKeys = Object.keys(a);
  return (
    aKeys.length === Object.keys(b).length && aKeys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]))
  );
}
