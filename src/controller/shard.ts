import { Gauge, type Registry } from 'prom-client';
import type { KubeObject } from '../kube/resources.js';

/**
 * Which releases one controller Deployment owns, when several share a cluster. A release is owned
 * when it matches the label selector (if any) and its hash falls in this shard (if hashing). Every
 * replica of every shard computes the same answer from the release alone, so two shards never act on
 * one release and no coordination between shards is needed.
 */
export interface Shard {
  /** In lease names, logs and metrics: `0-of-2`, `sel-1a2b3c4d`, or both joined; `all` unsharded. */
  id: string;
  hash?: { index: number; count: number };
  selector?: { text: string; requirements: Requirement[] };
}

export type Requirement =
  { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | 'notexists' };

export const UNSHARDED: Shard = { id: 'all' };

/**
 * 32-bit FNV-1a over the UTF-8 bytes of `namespace/name`. Chosen because it is defined by its
 * constants alone: no seed, no dependence on the Node version, the platform or the process (unlike a
 * runtime's own string hash), so replicas on different versions during a rolling upgrade still agree
 * on every release's shard, and a release keeps its shard for as long as the shard count stays.
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The hash shard, from 0 to count - 1, of the release `namespace/name`. */
export function hashShard(namespace: string, name: string, count: number): number {
  return fnv1a(`${namespace}/${name}`) % count;
}

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Splits on the commas that are not inside `in (a,b)` lists. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((t) => t.trim());
}

/**
 * Parses a Kubernetes label selector as kubectl writes it: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
 * `k in (a,b)`, `k notin (a,b)`, joined by commas. Throws with what is wrong in the term.
 */
export function parseSelector(text: string): Requirement[] {
  if (!text.trim()) throw new Error('is empty; write e.g. team=payments');
  return terms(text).map((term): Requirement => {
    const problem = (why: string) => new Error(`"${term}" ${why}; write e.g. team=payments or tier in (a,b)`);
    const [, setKey = '', setOp, list = ''] = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term) ?? [];
    const [, eqKey = '', eqOp, eqValue = ''] = /^([^=!]+?)\s*(==|=|!=)\s*([^=!]*)$/.exec(term) ?? [];
    let requirement: Requirement;
    if (setOp) {
      const values = list.split(',').map((v) => v.trim());
      requirement = { key: setKey, op: setOp as 'in' | 'notin', values };
    } else if (term.startsWith('!')) {
      requirement = { key: term.slice(1).trim(), op: 'notexists' };
    } else {
      if (eqOp) requirement = { key: eqKey, op: eqOp === '!=' ? 'notin' : 'in', values: [eqValue.trim()] };
      else requirement = { key: term, op: 'exists' };
    }
    if (!KEY.test(requirement.key)) throw problem(`has no valid label key ("${requirement.key}")`);
    if ('values' in requirement) {
      const bad = requirement.values.find((v) => !VALUE.test(v));
      if (bad !== undefined) throw problem(`has an invalid label value ("${bad}")`);
    }
    return requirement;
  });
}

export function matchesSelector(labels: Record<string, string>, requirements: Requirement[]): boolean {
  return requirements.every((r) => {
    const value = labels[r.key];
    switch (r.op) {
      case 'exists':
        return value !== undefined;
      case 'notexists':
        return value === undefined;
      case 'in':
        return value !== undefined && r.values.includes(value);
      case 'notin':
        return value === undefined || !r.values.includes(value);
    }
  });
}

/** The shard's id from its parts; stable so that lease names stay the same across restarts. */
export function shardId(hash: Shard['hash'], selector: string | undefined): string {
  const parts: string[] = [];
  if (selector !== undefined) parts.push(`sel-${fnv1a(selector).toString(16).padStart(8, '0')}`);
  if (hash) parts.push(`${hash.index}-of-${hash.count}`);
  return parts.length ? parts.join('-') : 'all';
}

/** Whether this shard acts on `release`. */
export function owns(shard: Shard, release: KubeObject): boolean {
  if (shard.selector && !matchesSelector(release.metadata.labels ?? {}, shard.selector.requirements))
    return false;
  if (shard.hash) {
    const { namespace = '', name } = release.metadata;
    if (hashShard(namespace, name, shard.hash.count) !== shard.hash.index) return false;
  }
  return true;
}

/** `canaria_shard_info{shard, index, count, selector} 1`: which releases this process's figures cover. */
export function shardInfo(registry: Registry, shard: Shard): void {
  new Gauge({
    name: 'canaria_shard_info',
    help: 'The shard of the releases this controller acts on: hash index and count, label selector',
    labelNames: ['shard', 'index', 'count', 'selector'],
    registers: [registry],
  }).set(
    {
      shard: shard.id,
      index: String(shard.hash?.index ?? 0),
      count: String(shard.hash?.count ?? 1),
      selector: shard.selector?.text ?? '',
    },
    1,
  );
}
