/**
 * Strategic merge patch (apimachinery pkg/util/strategicpatch) for the Widget schema: maps merge, null
 * deletes, lists are replaced unless the schema gives them a merge strategy — ownerReferences merge by
 * uid, finalizers as a set, status.conditions by type — and the directives `$patch`,
 * `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` and `$retainKeys` are honoured. This is
 * what kubectl patch and kube-controller-manager's garbage collector send. Hand-written: there is no
 * maintained JavaScript implementation of Kubernetes' strategic merge patch.
 */
import { badRequest } from '../../shared/status-errors';

type Json = Record<string, unknown>;
type ListStrategy = { kind: 'map'; key: string } | { kind: 'set' };

/** Merge strategies by JSON path (dot-joined, list items not part of the path). */
const LIST_STRATEGIES: Record<string, ListStrategy> = {
  'metadata.ownerReferences': { kind: 'map', key: 'uid' },
  'metadata.finalizers': { kind: 'set' },
  'status.conditions': { kind: 'map', key: 'type' },
};

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

export function strategicMergePatch(original: Json, patch: Json): Json {
  return mergeMap(original, patch, '');
}

function mergeMap(original: Json, patch: Json, path: string): Json {
  const directive = patch.$patch;
  if (directive !== undefined) {
    if (directive === 'replace') {
      const { $patch: _ignored, ...rest } = patch;
      return stripDirectives(rest);
    }
    if (directive === 'delete') return {};
    if (directive !== 'merge') throw badRequest(`Unknown patch type: ${String(directive)}`);
  }
  let result: Json = { ...original };
  const retainKeys = patch.$retainKeys;
  if (retainKeys !== undefined) {
    if (!Array.isArray(retainKeys)) throw badRequest('invalid patch: $retainKeys must be a list');
    const keep = new Set(retainKeys.map(String));
    result = Object.fromEntries(Object.entries(result).filter(([k]) => keep.has(k)));
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      if (!Array.isArray(value)) throw badRequest(`invalid patch: ${key} must be a list`);
      const current = result[field];
      if (Array.isArray(current)) {
        const remove = new Set(value.map((v) => JSON.stringify(v)));
        const kept = current.filter((v) => !remove.has(JSON.stringify(v)));
        if (kept.length) result[field] = kept;
        else delete result[field];
      }
      continue;
    }
    if (key.startsWith('$')) throw badRequest(`invalid patch: unknown directive ${key}`);
    const childPath = path ? `${path}.${key}` : key;
    if (value === null) {
      delete result[key];
      continue;
    }
    const current = result[key];
    if (isObject(value)) {
      result[key] = mergeMap(isObject(current) ? current : {}, value, childPath);
    } else if (Array.isArray(value)) {
      const merged = mergeList(Array.isArray(current) ? current : [], value, childPath);
      const order = patch[`$setElementOrder/${key}`];
      result[key] = Array.isArray(order) ? applyOrder(merged, order, childPath) : merged;
    } else {
      result[key] = clone(value);
    }
  }
  return result;
}

function stripDirectives(v: unknown): Json {
  return JSON.parse(JSON.stringify(v, (k, val) => (k.startsWith('$') ? undefined : val))) as Json;
}

function mergeList(original: unknown[], patch: unknown[], path: string): unknown[] {
  const strategy = LIST_STRATEGIES[path];
  const replaceDirective = patch.find((p) => isObject(p) && p.$patch === 'replace');
  if (!strategy || replaceDirective) {
    return patch
      .filter((p) => !(isObject(p) && p.$patch === 'replace'))
      .map((p) => (isObject(p) ? stripDirectives(p) : clone(p)));
  }
  if (strategy.kind === 'set') {
    const result = [...original];
    const seen = new Set(result.map((v) => JSON.stringify(v)));
    for (const item of patch) {
      if (isObject(item)) throw badRequest(`invalid patch: ${path} holds only strings`);
      if (!seen.has(JSON.stringify(item))) {
        result.push(item);
        seen.add(JSON.stringify(item));
      }
    }
    return result;
  }
  const result = original.map((o) => clone(o));
  for (const item of patch) {
    if (!isObject(item)) throw badRequest(`invalid patch: ${path} items must be objects`);
    const keyValue = item[strategy.key];
    if (keyValue === undefined)
      throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${strategy.key}`);
    const index = result.findIndex((o) => isObject(o) && o[strategy.key] === keyValue);
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) result[index] = mergeMap(result[index] as Json, item, path);
    else result.push(stripDirectives(item));
  }
  return result;
}

function applyOrder(items: unknown[], order: unknown[], path: string): unknown[] {
  const strategy = LIST_STRATEGIES[path];
  const keyOf = (v: unknown) => JSON.stringify(strategy?.kind === 'map' && isObject(v) ? v[strategy.key] : v);
  const rank = new Map(order.map((o, i) => [keyOf(o), i]));
  return [...items].sort(
    (a, b) => (rank.get(keyOf(a)) ?? order.length) - (rank.get(keyOf(b)) ?? order.length),
  );
}
