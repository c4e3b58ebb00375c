/**
 * Structural defaulting from the schema, as kube-apiserver defaults a CRD: a field absent from an
 * object that is present gets its `default`; objects, lists and maps that are present are walked.
 */
import type { Node } from './schema';

export function applyDefaults(node: Node, value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  if (node.type === 'array' && Array.isArray(value)) {
    for (const item of value) applyDefaults(node.items, item);
    return;
  }
  if (node.type === 'map') {
    for (const v of Object.values(value)) applyDefaults(node.values, v);
    return;
  }
  if (node.type !== 'object' || Array.isArray(value)) return;
  const o = value as Record<string, unknown>;
  for (const [key, child] of Object.entries(node.properties)) {
    const present = Object.hasOwn(o, key) && o[key] !== undefined;
    if (!present && 'default' in child && child.default !== undefined) o[key] = child.default;
    else if (present) applyDefaults(child, o[key]);
  }
}
