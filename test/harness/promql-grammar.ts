/** PromQL checked with Prometheus' own grammar (@prometheus-io/lezer-promql), for tests. */
import { parser } from '@prometheus-io/lezer-promql';

export interface PromqlNode {
  name: string;
  text: string;
}

export interface ParsedPromql {
  /** Every node of the tree in document order. */
  nodes: PromqlNode[];
  /** Where the grammar gave up, as `offset: text`; empty when the query is valid. */
  errors: string[];
}

export function parsePromql(query: string): ParsedPromql {
  const nodes: PromqlNode[] = [];
  const errors: string[] = [];
  parser.parse(query).iterate({
    enter(node) {
      const text = query.slice(node.from, node.to);
      if (node.type.isError) errors.push(`${node.from}: ${JSON.stringify(text)}`);
      else nodes.push({ name: node.name, text });
    },
  });
  return { nodes, errors };
}

/** Names of the nodes of a kind, e.g. every `VectorSelector`. */
export function nodesNamed(parsed: ParsedPromql, name: string): string[] {
  return parsed.nodes.filter((n) => n.name === name).map((n) => n.text);
}
