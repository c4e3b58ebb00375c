/**
 * Merging an applied configuration into the live object, and removing fields from an object, as
 * structured-merge-diff's typed package does them for server-side apply. Objects and maps merge key by
 * key; associative lists (`map`, `set`) merge item by item, keeping the live order of items the
 * configuration does not name and the configuration's order for those it does; scalars, atomic lists
 * and free-form values are replaced by the configuration's.
 */
import type { Node } from '../schema/schema';
import type { FieldSet, PathElement } from './fieldpath';
import { fieldNode, listItemElement } from './typed';
import { fieldElement } from './fieldpath';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `rhs` merged into `lhs` (typed.Merge); neither is changed. */
export function merge(node: Node | undefined, lhs: unknown, rhs: unknown): unknown {
  if (rhs === undefined) return lhs;
  if (lhs === undefined) return rhs;
  if (!node) return rhs;
  if (node.type === 'array') {
    if ((node.listType !== 'map' && node.listType !== 'set') || !Array.isArray(lhs) || !Array.isArray(rhs))
      return rhs;
    return mergeList(node.items, (item) => listItemElement(node, item), lhs, rhs);
  }
  if ((node.type === 'object' || node.type === 'map') && isObject(lhs) && isObject(rhs)) {
    const out: Json = { ...lhs };
    for (const [key, value] of Object.entries(rhs)) {
      Object.defineProperty(out, key, {
        value: Object.hasOwn(lhs, key) ? merge(fieldNode(node, key), lhs[key], value) : value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return rhs;
}

/**
 * Interleaves two keyed lists as structured-merge-diff does: items only the live list has stay where
 * they were, shared items follow the configuration's order (merged), and items only the configuration
 * has come where it puts them.
 */
function mergeList(
  items: Node,
  key: (item: unknown) => PathElement,
  lhs: unknown[],
  rhs: unknown[],
): unknown[] {
  const lKeys = lhs.map(key);
  const rKeys = rhs.map(key);
  const lByKey = new Map(lKeys.map((k, i) => [k, lhs[i]]));
  const rSet = new Set(rKeys);
  // Shared keys in the configuration's order: a live item waits for its turn among them.
  const shared = rKeys.filter((k) => lByKey.has(k));
  let nextShared = 0;
  const emitted = new Set<PathElement>();
  const out: unknown[] = [];
  let l = 0;
  let r = 0;
  while (l < lhs.length || r < rhs.length) {
    if (l < lhs.length && r < rhs.length) {
      if (lKeys[l] === rKeys[r]) {
        out.push(merge(items, lhs[l], rhs[r]));
        emitted.add(rKeys[r]);
        l++;
        r++;
        nextShared++;
        continue;
      }
      if (rSet.has(lKeys[l]) && shared[nextShared] !== lKeys[l]) {
        // A shared item the configuration puts later: it is emitted when the configuration gets there.
        l++;
        continue;
      }
    }
    if (l < lhs.length) {
      if (!rSet.has(lKeys[l])) {
        out.push(lhs[l]);
        l++;
        continue;
      }
      if (emitted.has(lKeys[l])) l++;
    }
    if (r < rhs.length) {
      const k = rKeys[r];
      out.push(lByKey.has(k) ? merge(items, lByKey.get(k), rhs[r]) : rhs[r]);
      emitted.add(k);
      if (shared[nextShared] === k) nextShared++;
      r++;
    }
  }
  return out;
}

/**
 * `value` without the members of `set` (typed.RemoveItems): fields deleted, list items dropped. A map,
 * object or list that removal empties goes too (undefined, left out of its parent), as in
 * structured-merge-diff, where it becomes null, which kube-apiserver then omits (`omitempty` for built-in
 * types, null pruning for CRDs): a manager that stops applying its only label leaves no `labels: {}`.
 */
export function removeItems(node: Node | undefined, value: unknown, set: FieldSet): unknown {
  if (set.empty) return value;
  if (node?.type === 'array' && Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const pe = listItemElement(node, item);
      if (set.members.has(pe)) continue;
      const child = set.children.get(pe);
      const kept = child ? removeItems(node.items, item, child) : item;
      if (kept !== undefined) out.push(kept);
    }
    return out.length || !value.length ? out : undefined;
  }
  if (node && (node.type === 'object' || node.type === 'map') && isObject(value)) {
    const out: Json = {};
    let kept = 0;
    for (const [key, child] of Object.entries(value)) {
      const pe = fieldElement(key);
      if (set.members.has(pe)) continue;
      const sub = set.children.get(pe);
      const v = sub ? removeItems(fieldNode(node, key), child, sub) : child;
      if (v === undefined) continue;
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      kept++;
    }
    return kept || !Object.keys(value).length ? out : undefined;
  }
  return value;
}
