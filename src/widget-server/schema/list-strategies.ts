/**
 * How strategic merge patch merges each list of a type, read from the schema's patch strategy and merge
 * key (x-kubernetes-patch-strategy / -patch-merge-key): by key, as a set, or (absent) replaced.
 */
import type { Node } from './schema';

export type ListStrategy = { kind: 'map'; key: string } | { kind: 'set' };

/** Strategies by JSON path, dot-joined, list items not part of the path. */
export function listStrategies(root: Node): Record<string, ListStrategy> {
  const out: Record<string, ListStrategy> = Object.create(null) as Record<string, ListStrategy>;
  const walk = (node: Node, path: string) => {
    if (node.type === 'array') {
      if (node.patchStrategy === 'merge') {
        out[path] = node.patchMergeKey ? { kind: 'map', key: node.patchMergeKey } : { kind: 'set' };
      }
      walk(node.items, path);
    } else if (node.type === 'map') {
      walk(node.values, path);
    } else if (node.type === 'object') {
      for (const [k, child] of Object.entries(node.properties)) walk(child, path ? `${path}.${k}` : k);
    }
  };
  walk(root, '');
  return out;
}
