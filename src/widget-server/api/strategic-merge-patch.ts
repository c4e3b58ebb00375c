/**
 * Strategic merge patch (apimachinery pkg/util/strategicpatch) for the Widget schema: maps merge, null
 * deletes, lists are replaced unless the schema gives them a merge strategy (schema/list-strategies.ts:
 * ownerReferences merge by uid, finalizers as a set, status.conditions by type), and the directives `$patch`,
 * `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` and `$retainKeys` are honoured. This is
 * what kubectl patch and kube-controller-manager's garbage collector send. Hand-written: there is no
 * maintained JavaScript implementation of Kubernetes' strategic merge patch.
 */
import { badRequest } from '../../shared/status-errors';
import { setOwn } from './decode';
import { listStrategies, type ListStrategy } from '../schema/list-strategies';
import { v1 } from '../apis/widgets/v1';

type Json = Record<string, unknown>;
/** Merge strategies by JSON path, from the schema (the same in every Widget version). */
const LIST_STRATEGIES = listStrategies(v1.object);

const strategyFor = (path: string): ListStrategy | undefined => LIST_STRATEGIES[path];

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);
/** Own properties only: a `__proto__` key in a patch is data, never the object's prototype. */
const ownValue = (o: Json, key: string): unknown =>
  Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;

export function strategicMergePatch(original: Json, patch: Json): Json {
  if (!isObject(patch)) throw badRequest('invalid JSON document');
  return mergeMap(isObject(original) ? original : {}, patch, '');
}

const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList/';
const SET_ELEMENT_ORDER = '$setElementOrder/';

/** mergepatch.ErrBadPatchType's text, with Go's map rendering approximated by JSON. */
function badPatchType(directive: unknown, m: Json): never {
  throw badRequest(`unknown patch type: ${String(directive)} in map: ${JSON.stringify(m)}`);
}

function mergeMap(original: Json, patch: Json, path: string): Json {
  const directive = ownValue(patch, '$patch');
  if (directive !== undefined) {
    if (directive === 'replace') {
      const { $patch: _ignored, ...rest } = patch;
      return stripDirectives(rest);
    }
    if (directive === 'delete') return {};
    if (directive !== 'merge') badPatchType(directive, patch);
  }
  let result: Json = { ...original };

  const retainKeys = ownValue(patch, '$retainKeys');
  if (retainKeys !== undefined) {
    if (!Array.isArray(retainKeys) || retainKeys.some((k) => typeof k !== 'string'))
      throw badRequest('invalid patch format of retainKeys');
    const keep = new Set(retainKeys as string[]);
    for (const key of Object.keys(patch)) {
      if (!key.startsWith('$') && patch[key] !== null && !keep.has(key))
        throw badRequest("patch content doesn't match retainKeys list");
    }
    result = Object.fromEntries(Object.entries(result).filter(([k]) => keep.has(k)));
  }

  // Deletions from primitive lists apply to the original before the patch's own values merge in.
  for (const [key, value] of Object.entries(patch)) {
    if (!key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) continue;
    const field = key.slice(DELETE_FROM_PRIMITIVE_LIST.length);
    if (!field || !Array.isArray(value) || value.some((v) => isObject(v) || Array.isArray(v)))
      throw badRequest('invalid patch format of primitive list');
    const current = ownValue(result, field);
    if (!Array.isArray(current)) continue;
    const remove = new Set(value.map((v) => JSON.stringify(v)));
    const kept = current.filter((v) => !remove.has(JSON.stringify(v)));
    if (kept.length) setOwn(result, field, kept);
    else delete result[field];
  }

  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) {
      if (
        key === '$patch' ||
        key === '$retainKeys' ||
        key.startsWith(DELETE_FROM_PRIMITIVE_LIST) ||
        key.startsWith(SET_ELEMENT_ORDER)
      )
        continue;
      throw badRequest(`invalid patch: unknown directive ${key}`);
    }
    const childPath = path ? `${path}.${key}` : key;
    if (value === null) {
      delete result[key];
      continue;
    }
    const current = ownValue(result, key);
    if (isObject(value)) {
      setOwn(result, key, mergeMap(isObject(current) ? current : {}, value, childPath));
    } else if (Array.isArray(value)) {
      setOwn(result, key, mergeList(Array.isArray(current) ? current : [], value, childPath));
    } else {
      setOwn(result, key, clone(value));
    }
  }

  // $setElementOrder/<field> orders the merged list (also when the patch did not touch the field).
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const field = key.slice(SET_ELEMENT_ORDER.length);
    if (!field || !Array.isArray(order)) throw badRequest('invalid patch format of setElementOrder list');
    const childPath = path ? `${path}.${field}` : field;
    const strategy = strategyFor(childPath);
    if (strategy?.kind === 'map' && order.some((o) => !isObject(o) || o[strategy.key] === undefined))
      throw badRequest('invalid patch format of setElementOrder list');
    const current = ownValue(result, field);
    if (Array.isArray(current)) setOwn(result, field, applyOrder(current, order, strategy));
  }
  return result;
}

/** Removes directive keys (`$patch`, `$retainKeys`, ...) from a value copied in whole from the patch. */
function stripDirectives(v: unknown): Json {
  return JSON.parse(JSON.stringify(v, (k, val) => (k.startsWith('$') ? undefined : val))) as Json;
}

function mergeList(original: unknown[], patch: unknown[], path: string): unknown[] {
  const strategy = strategyFor(path);
  const directiveOf = (p: unknown) => (isObject(p) ? p.$patch : undefined);
  const replace = patch.some((p) => directiveOf(p) === 'replace');
  if (!strategy || replace) {
    // Lists without a merge strategy are replaced; `{"$patch": "replace"}` forces that for merging lists.
    return patch
      .filter((p) => !(isObject(p) && p.$patch === 'replace' && Object.keys(p).length === 1))
      .map((p) => (isObject(p) ? stripDirectives(p) : clone(p)));
  }
  if (strategy.kind === 'set') {
    const result = [...original];
    const seen = new Set(result.map((v) => JSON.stringify(v)));
    for (const item of patch) {
      if (isObject(item) || Array.isArray(item))
        throw badRequest(`invalid patch: ${path} is a list of primitives`);
      const k = JSON.stringify(item);
      if (!seen.has(k)) {
        result.push(item);
        seen.add(k);
      }
    }
    return result;
  }
  const result = original.map((o) => clone(o));
  for (const item of patch) {
    if (!isObject(item)) throw badRequest(`invalid patch: ${path} items must be objects`);
    const d = directiveOf(item);
    if (d !== undefined && d !== 'delete' && d !== 'merge') badPatchType(d, item);
    const keyValue = item[strategy.key];
    if (keyValue === undefined)
      throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${strategy.key}`);
    const index = result.findIndex((o) => isObject(o) && o[strategy.key] === keyValue);
    if (d === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) result[index] = mergeMap(result[index] as Json, item, path);
    else result.push(mergeMap({}, item, path));
  }
  return result;
}

/** Sorts by position in the order list; elements it does not name keep their relative order at the end. */
function applyOrder(items: unknown[], order: unknown[], strategy: ListStrategy | undefined): unknown[] {
  const keyOf = (v: unknown) => JSON.stringify(strategy?.kind === 'map' && isObject(v) ? v[strategy.key] : v);
  const rank = new Map(order.map((o, i) => [keyOf(o), i]));
  return [...items].sort(
    (a, b) => (rank.get(keyOf(a)) ?? order.length) - (rank.get(keyOf(b)) ?? order.length),
  );
}
