/**
 * Values walked against a kind's schema (schema/schema.ts) as structured-merge-diff's typed package
 * walks them: the field set of a value (every leaf, every list item of an associative list, and empty
 * or free-form map entries), and the comparison of two values (added, modified and removed paths).
 * Lists follow their x-kubernetes-list-type: `map` items are addressed by their keys, `set` items by
 * value, and anything else is atomic (a leaf), as a CRD's lists are by default. Free-form values
 * (`any`) are leaves.
 */
import { jsonEqual } from '../../shared/json-equal';
import type { ArrayNode, Node } from '../schema/schema';
import { FieldSet, fieldElement, keyElement, valueElement, type PathElement } from './fieldpath';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

type Composite = Extract<Node, { type: 'object' | 'map' | 'array' }>;

/** Objects, maps and lists: everything else (scalars, free-form values, unknown fields) is a leaf. */
function isComposite(node: Node | undefined): node is Composite {
  return node?.type === 'object' || node?.type === 'map' || node?.type === 'array';
}

function isAssociative(node: ArrayNode): boolean {
  return node.listType === 'map' || node.listType === 'set';
}

/** The path element of a list item: its keys for a map list, its value for a set. */
export function listItemElement(node: ArrayNode, item: unknown): PathElement {
  if (node.listType === 'set') return valueElement(item);
  const keys: Record<string, unknown> = {};
  for (const k of node.listMapKeys ?? []) {
    const v = isObject(item) ? item[k] : undefined;
    if (v !== undefined) keys[k] = v;
  }
  return keyElement(keys);
}

/** Child schema of an object or map field. */
export function fieldNode(node: Node, name: string): Node | undefined {
  if (node.type === 'object') return Object.hasOwn(node.properties, name) ? node.properties[name] : undefined;
  if (node.type === 'map') return node.values;
  return undefined;
}

/** The fields a value sets (typed.ToFieldSet). */
export function toFieldSet(node: Node, value: unknown): FieldSet {
  const set = new FieldSet();
  walkSet(node, value, [], set);
  return set;
}

// The walks below extend one path array in place (push, recurse, pop): copying it at every step was
// most of what tracking managedFields cost per write. FieldSet.insert copies what it keeps.
function walkSet(node: Node | undefined, value: unknown, path: PathElement[], set: FieldSet): void {
  if (!isComposite(node)) {
    set.insert(path);
    return;
  }
  if (node.type === 'array') {
    if (!isAssociative(node) || !Array.isArray(value)) {
      set.insert(path);
      return;
    }
    for (const item of value) {
      path.push(listItemElement(node, item));
      walkSet(node.items, item, path, set);
      set.insert(path);
      path.pop();
    }
    return;
  }
  if (!isObject(value)) {
    set.insert(path);
    return;
  }
  for (const key in value) {
    const child = value[key];
    if (child === undefined) continue;
    path.push(fieldElement(key));
    const childNode = fieldNode(node, key);
    walkSet(childNode, child, path, set);
    const declared = node.type === 'object' && childNode !== undefined;
    if (child === null || (isObject(child) && isEmptyObject(child)) || !declared) set.insert(path);
    path.pop();
  }
}

function isEmptyObject(o: Json): boolean {
  for (const _ in o) return false;
  return true;
}

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** What changed from `lhs` to `rhs` (typed.Compare). */
export function compare(node: Node, lhs: unknown, rhs: unknown): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  walkCompare(node, lhs, rhs, [], c);
  return c;
}

function leaf(lhs: unknown, rhs: unknown, path: PathElement[], c: Comparison): void {
  if (lhs === undefined) c.added.insert(path);
  else if (rhs === undefined) c.removed.insert(path);
  else if (!jsonEqual(lhs, rhs)) c.modified.insert(path);
}

function walkCompare(
  node: Node | undefined,
  lhs: unknown,
  rhs: unknown,
  path: PathElement[],
  c: Comparison,
): void {
  let isLeaf = false;
  if (!isComposite(node)) {
    leaf(lhs, rhs, path, c);
    isLeaf = true;
  } else if (node.type === 'array') {
    const l = Array.isArray(lhs) ? lhs : [];
    const r = Array.isArray(rhs) ? rhs : [];
    if (!isAssociative(node) || (l.length === 0 && r.length === 0)) {
      leaf(lhs, rhs, path, c);
      isLeaf = true;
    } else {
      const lItems = new Map<PathElement, unknown>(l.map((item) => [listItemElement(node, item), item]));
      const rItems = new Map<PathElement, unknown>(r.map((item) => [listItemElement(node, item), item]));
      for (const pe of new Set([...lItems.keys(), ...rItems.keys()])) {
        path.push(pe);
        walkCompare(node.items, lItems.get(pe), rItems.get(pe), path, c);
        path.pop();
      }
    }
  } else {
    const l = isObject(lhs) ? lhs : undefined;
    const r = isObject(rhs) ? rhs : undefined;
    const empty = (!l || isEmptyObject(l)) && (!r || isEmptyObject(r));
    if (empty || (lhs !== undefined && rhs !== undefined && (!l || !r))) {
      leaf(lhs, rhs, path, c);
      isLeaf = true;
    } else {
      // A key holding undefined is no field (JSON would not carry it).
      if (l)
        for (const key in l) {
          if (l[key] === undefined && r?.[key] === undefined) continue;
          path.push(fieldElement(key));
          walkCompare(fieldNode(node, key), l[key], r?.[key], path, c);
          path.pop();
        }
      if (r)
        for (const key in r) {
          // Keys of `l` were walked above.
          if ((l && Object.hasOwn(l, key)) || r[key] === undefined) continue;
          path.push(fieldElement(key));
          walkCompare(fieldNode(node, key), undefined, r[key], path, c);
          path.pop();
        }
    }
  }
  if (!isLeaf && path.length) {
    if (lhs === undefined) c.added.insert(path);
    else if (rhs === undefined) c.removed.insert(path);
  }
}
