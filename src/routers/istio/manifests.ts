import { isMap, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { PathSegments } from './validate.js';
import {
  parseDestinationRule,
  parseVirtualService,
  type DestinationRule,
  type VirtualService,
} from './types.js';

/** One document of a multi-document YAML file, with a way back from a YAML path to its line. */
export interface Manifest {
  file: string;
  doc: unknown;
  line: (path: PathSegments) => number | undefined;
}

export interface ManifestProblem {
  file: string;
  line?: number;
  message: string;
}

export interface ParsedManifests {
  manifests: Manifest[];
  problems: ManifestProblem[];
}

/** The 1-based line where the value at `path` is written: the key of a member, the dash of an item. */
function lineFinder(
  document: Document.Parsed,
  counter: LineCounter,
): (path: PathSegments) => number | undefined {
  return (path) => {
    const parentPath = path.slice(0, -1);
    const last = path.at(-1);
    const parent = parentPath.length ? document.getIn(parentPath, true) : document.contents;
    let offset: number | undefined;
    if (isSeq(parent) && typeof last === 'number') {
      offset = (parent.items[last] as { range?: [number, number, number] } | undefined)?.range?.[0];
    } else if (isMap(parent)) {
      const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === last);
      offset = (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
    }
    return offset === undefined ? undefined : counter.linePos(offset).line;
  };
}

/** The documents of a YAML file; empty documents are skipped, syntax errors become problems. */
export function parseManifests(file: string, text: string): ParsedManifests {
  const counter = new LineCounter();
  const out: ParsedManifests = { manifests: [], problems: [] };
  for (const document of parseAllDocuments(text, { lineCounter: counter })) {
    const [error] = document.errors;
    if (error) {
      const problem: ManifestProblem = {
        file,
        // the parser appends "at line L, column C:"; the line is reported on its own
        message: `invalid YAML: ${(error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:$/, '')}`,
      };
      const line = error.linePos?.[0].line;
      if (line !== undefined) problem.line = line;
      out.problems.push(problem);
      continue;
    }
    const doc: unknown = document.toJS();
    if (doc === null || doc === undefined) continue;
    out.manifests.push({ file, doc, line: lineFinder(document, counter) });
  }
  return out;
}

export interface IstioResources {
  virtualServices: VirtualService[];
  destinationRules: DestinationRule[];
  /** Resources of those kinds that do not have the shape Istio requires. */
  problems: ManifestProblem[];
}

/** The VirtualServices and DestinationRules among manifests; other kinds are ignored. */
export function istioResources(manifests: readonly Manifest[]): IstioResources {
  const out: IstioResources = { virtualServices: [], destinationRules: [], problems: [] };
  for (const m of manifests) {
    const kind: unknown = (m.doc as { kind?: unknown } | null)?.kind;
    if (kind !== 'VirtualService' && kind !== 'DestinationRule') continue;
    const parsed = kind === 'VirtualService' ? parseVirtualService(m.doc) : parseDestinationRule(m.doc);
    if (!parsed.ok) {
      out.problems.push({
        file: m.file,
        message: `${kind}: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      });
    } else if (kind === 'VirtualService') {
      out.virtualServices.push(parsed.value as VirtualService);
    } else {
      out.destinationRules.push(parsed.value as DestinationRule);
    }
  }
  return out;
}

/** Reads and parses several files; a file that cannot be read becomes a problem, not an exception. */
export async function loadManifestFiles(
  files: readonly string[],
  readFile: (file: string) => Promise<string>,
): Promise<ParsedManifests> {
  const out: ParsedManifests = { manifests: [], problems: [] };
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file);
    } catch (err) {
      out.problems.push({
        file,
        message: `cannot read the file: ${err instanceof Error ? err.message : String(err)}`,
      });
      continue;
    }
    const parsed = parseManifests(file, text);
    out.manifests.push(...parsed.manifests);
    out.problems.push(...parsed.problems);
  }
  return out;
}
