/**
 * metadata.managedFields, kept as kube-apiserver's field manager keeps them
 * (k8s.io/apimachinery/pkg/util/managedfields): one entry per manager, operation (Apply or Update) and
 * subresource, with the apiVersion its fields are recorded in, a time, and FieldsV1.
 *
 * - Every write is tracked: an Update takes ownership of what it added or changed and gives up what it
 *   removed; other managers lose those fields.
 * - An Apply merges the configuration into the live object. It owns exactly the fields the
 *   configuration sets, removes the fields it owned before and no longer sets (unless another manager
 *   owns them), and fails with a 409 Conflict naming each field another manager owns with a different
 *   value, unless forced.
 * - Fields are compared in each manager's own apiVersion, so a v1alpha1 manager's `spec.size` and a v1
 *   manager's `spec.replicas` are one field.
 * - apiVersion, kind and the system metadata are never owned.
 * - At most ten Update entries are kept; older ones are merged into `ancient-changes`.
 * - Fields an object had before its first apply belong to `before-first-apply`.
 */
import { ApiError, badRequest, type StatusCause } from '../../shared/status-errors';
import type { Node } from '../schema/schema';
import { FieldSet, fieldElement, pathString } from './fieldpath';
import { compare, toFieldSet } from './typed';

export type Operation = 'Apply' | 'Update';

export interface ManagedFieldsEntry {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

interface Managed {
  manager: string;
  operation: Operation;
  subresource: string;
  apiVersion: string;
  time?: string;
  set: FieldSet;
  /** The FieldsV1 `set` was read from, reused when the set is written back unchanged. */
  fieldsV1?: Record<string, unknown>;
}

/** How the field manager sees an object in one version: its encoding and that version's schema. */
export interface VersionView {
  schema(apiVersion: string): Node | undefined;
  /** The (hub) object as `apiVersion`. */
  encode(obj: unknown, apiVersion: string): unknown;
}

export const MAX_UPDATE_MANAGERS = 10;
export const ANCIENT_CHANGES = 'ancient-changes';
export const BEFORE_FIRST_APPLY = 'before-first-apply';

/** Fields no manager owns (stripmeta.go). */
const STRIPPED = (() => {
  const s = new FieldSet();
  for (const p of [['apiVersion'], ['kind'], ['metadata']]) s.insert(p.map(fieldElement));
  for (const f of [
    'name',
    'namespace',
    'creationTimestamp',
    'selfLink',
    'uid',
    'clusterName',
    'generation',
    'managedFields',
    'resourceVersion',
  ])
    s.insert([fieldElement('metadata'), fieldElement(f)]);
  return s;
})();

const keyOf = (m: { manager: string; operation: Operation; subresource: string }) =>
  `${m.manager}\u0000${m.operation}\u0000${m.subresource}`;

/**
 * Sets read from stored FieldsV1, by the FieldsV1 object: the embedded store hands out the same frozen
 * managedFields until the next write (stored-form.ts), so a set is read once per revision there.
 */
const storedSets = new WeakMap<object, FieldSet>();

function storedFieldSet(fieldsV1: unknown): FieldSet {
  if (typeof fieldsV1 !== 'object' || fieldsV1 === null || !Object.isFrozen(fieldsV1))
    return FieldSet.fromFieldsV1(fieldsV1 ?? {});
  let set = storedSets.get(fieldsV1);
  if (!set) storedSets.set(fieldsV1, (set = FieldSet.fromFieldsV1(fieldsV1)));
  return set;
}

/**
 * Reads managedFields; throws (with a message for a 400/422) on anything malformed. `stored`: they are
 * a stored object's, which this server wrote in canonical form, so an entry whose set a write leaves
 * alone is written back with the same FieldsV1 instead of a re-encoded copy (a request's are always
 * re-encoded).
 */
export function decodeManagedFields(entries: unknown, stored = false): Map<string, Managed> {
  const out = new Map<string, Managed>();
  if (entries === undefined || entries === null) return out;
  if (!Array.isArray(entries)) throw new Error('managedFields must be a list');
  entries.forEach((e, i) => {
    const at = `metadata.managedFields[${i}]`;
    if (typeof e !== 'object' || e === null) throw new Error(`${at} must be an object`);
    const entry = e as Partial<ManagedFieldsEntry>;
    if (entry.operation !== 'Apply' && entry.operation !== 'Update')
      throw new Error(`${at}.operation: must be Apply or Update`);
    if (entry.fieldsType !== 'FieldsV1') throw new Error(`${at}.fieldsType: must be FieldsV1`);
    if (typeof entry.manager !== 'string') throw new Error(`${at}.manager: must be a string`);
    if (typeof entry.apiVersion !== 'string') throw new Error(`${at}.apiVersion: must be a string`);
    let set: FieldSet;
    try {
      set = stored ? storedFieldSet(entry.fieldsV1) : FieldSet.fromFieldsV1(entry.fieldsV1 ?? {});
    } catch (err) {
      throw new Error(`${at}.fieldsV1: ${(err as Error).message}`);
    }
    const m: Managed = {
      manager: entry.manager,
      operation: entry.operation,
      subresource: typeof entry.subresource === 'string' ? entry.subresource : '',
      apiVersion: entry.apiVersion,
      time: typeof entry.time === 'string' ? entry.time : undefined,
      set,
      fieldsV1: stored ? (entry.fieldsV1 as Record<string, unknown>) : undefined,
    };
    if (out.has(keyOf(m))) throw new Error(`${at}: duplicate entry for manager ${JSON.stringify(m.manager)}`);
    out.set(keyOf(m), m);
  });
  return out;
}

/** The managedFields list, sorted as kube-apiserver sorts it (operation, time, manager, ...). */
export function encodeManagedFields(managed: Map<string, Managed>): ManagedFieldsEntry[] {
  const entries = [...managed.values()].filter((m) => !m.set.empty);
  entries.sort(
    (p, q) =>
      cmp(p.operation, q.operation) ||
      cmp(seconds(p.time), seconds(q.time)) ||
      cmp(p.manager, q.manager) ||
      cmp(p.apiVersion, q.apiVersion) ||
      cmp(p.subresource, q.subresource),
  );
  return entries.map((m) => ({
    manager: m.manager,
    operation: m.operation,
    apiVersion: m.apiVersion,
    ...(m.time ? { time: m.time } : {}),
    fieldsType: 'FieldsV1',
    fieldsV1: m.fieldsV1 ?? m.set.toFieldsV1(),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  }));
}

const cmp = <T extends string | number>(a: T, b: T) => (a < b ? -1 : a > b ? 1 : 0);
const seconds = (t?: string) => (t ? Math.floor(Date.parse(t) / 1000) : 0);

export interface ManagerIdentity {
  manager: string;
  subresource: string;
  apiVersion: string;
  time: string;
}

interface Change {
  conflicts: Map<string, FieldSet>;
}

type Compared = ReturnType<typeof compare> & { changed: FieldSet };

/**
 * What changed from `live` to `next` as a manager of `apiVersion` sees it: compared once per version
 * and write (every manager of a version shares it).
 */
function comparisons(view: VersionView, live: unknown, next: unknown): (apiVersion: string) => Compared {
  const byVersion = new Map<string, Compared>();
  return (apiVersion) => {
    let c = byVersion.get(apiVersion);
    if (!c) {
      const schema = view.schema(apiVersion);
      const found = schema
        ? compare(
            schema,
            live === undefined ? undefined : view.encode(live, apiVersion),
            view.encode(next, apiVersion),
          )
        : { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
      c = { ...found, changed: found.modified.union(found.added) };
      byVersion.set(apiVersion, c);
    }
    return c;
  };
}

/**
 * Other managers' sets with what this write removed taken out (structured-merge-diff's
 * Updater.update). Returns the conflicts: fields another manager owns that this write changes or adds.
 * A set the write does not touch stays the same object (its FieldsV1 is then reused as it was).
 */
function updateOthers(
  managed: Map<string, Managed>,
  selfKey: string,
  compared: (apiVersion: string) => Compared,
  force: boolean,
): Change {
  const conflicts = new Map<string, FieldSet>();
  for (const [key, m] of managed) {
    if (key === selfKey) continue;
    const conflict = m.set.intersection(compared(m.apiVersion).changed);
    if (!conflict.empty) conflicts.set(key, conflict);
  }
  if (conflicts.size && !force) return { conflicts };
  for (const [key, m] of managed) {
    if (key === selfKey) continue;
    const { removed } = compared(m.apiVersion);
    const conflict = conflicts.get(key);
    if (!conflict && m.set.intersection(removed).empty) continue;
    let set = m.set.difference(removed);
    if (conflict) set = set.difference(conflict);
    if (set.empty) managed.delete(key);
    else managed.set(key, { ...m, set, fieldsV1: undefined });
  }
  return { conflicts: new Map() };
}

/**
 * Records an Update by `who` that turned `live` (undefined: a create) into `next`. `managed` is what the
 * entries were (the request's own when it sent valid ones, the live object's otherwise).
 */
export function recordUpdate(
  view: VersionView,
  managed: Map<string, Managed>,
  who: ManagerIdentity,
  live: unknown,
  next: unknown,
): Map<string, Managed> {
  const out = new Map(managed);
  const selfKey = keyOf({ manager: who.manager, operation: 'Update', subresource: who.subresource });
  const compared = comparisons(view, live, next);
  updateOthers(out, selfKey, compared, true);
  const c = view.schema(who.apiVersion) ? compared(who.apiVersion) : undefined;
  const previous = out.get(selfKey);
  let set = previous && previous.apiVersion === who.apiVersion ? previous.set : new FieldSet();
  if (c) set = set.difference(c.removed).union(c.changed);
  set = set.difference(STRIPPED);
  if (set.empty) out.delete(selfKey);
  else if (!previous || previous.apiVersion !== who.apiVersion || !previous.set.equals(set)) {
    out.set(selfKey, {
      manager: who.manager,
      operation: 'Update',
      subresource: who.subresource,
      apiVersion: who.apiVersion,
      time: who.time,
      set,
    });
  }
  return capUpdateManagers(out, who.time);
}

/** Keeps at most MAX_UPDATE_MANAGERS Update entries: the oldest are merged into `ancient-changes` (capmanagers.go). */
function capUpdateManagers(managed: Map<string, Managed>, now: string): Map<string, Managed> {
  const updates = [...managed.values()].filter(
    (m) => m.operation === 'Update' && m.manager !== ANCIENT_CHANGES,
  );
  const ancientKey = keyOf({ manager: ANCIENT_CHANGES, operation: 'Update', subresource: '' });
  const limit = MAX_UPDATE_MANAGERS - (managed.has(ancientKey) ? 1 : 0);
  if (updates.length <= limit) return managed;
  updates.sort((a, b) => cmp(seconds(a.time), seconds(b.time)));
  const excess = updates.slice(0, updates.length - Math.max(limit - (managed.has(ancientKey) ? 0 : 1), 0));
  let ancient = managed.get(ancientKey);
  for (const m of excess) {
    managed.delete(keyOf(m));
    ancient = {
      manager: ANCIENT_CHANGES,
      operation: 'Update',
      subresource: '',
      apiVersion: m.apiVersion,
      time: now,
      set: ancient ? ancient.set.union(m.set) : m.set,
    };
  }
  if (ancient) managed.set(ancientKey, ancient);
  return managed;
}

/**
 * The stale fields that may go: a stale member with fields still owned below it (a map or object
 * somebody still sets fields of, e.g. `spec` in an entry kubectl upgraded from client-side apply) stays.
 */
function prunable(stale: FieldSet, owned: FieldSet | undefined): FieldSet {
  const out = new FieldSet();
  for (const m of stale.members) {
    const below = owned?.children.get(m);
    if (!below || below.empty) out.members.add(m);
  }
  for (const [pe, child] of stale.children) {
    const sub = prunable(child, owned?.children.get(pe));
    if (!sub.empty) out.children.set(pe, sub);
  }
  return out;
}

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The fields kubectl's last-applied configuration sets that the live object still has with the same
 * values: a client-side applier's fields that server-side apply by kubectl may take over.
 */
function allowedFromLastApplied(
  schema: Node,
  live: unknown,
  liveVersioned: unknown,
  apiVersion: string,
): FieldSet | undefined {
  const annotations = (live as { metadata?: { annotations?: Record<string, string> } } | undefined)?.metadata
    ?.annotations;
  const text = annotations?.[LAST_APPLIED_ANNOTATION];
  if (!text) return undefined;
  let lastApplied: unknown;
  try {
    lastApplied = JSON.parse(text);
  } catch {
    return undefined;
  }
  if ((lastApplied as { apiVersion?: unknown }).apiVersion !== apiVersion) return undefined;
  const c = compare(schema, lastApplied, liveVersioned);
  return toFieldSet(schema, lastApplied).difference(c.modified).difference(c.added).difference(c.removed);
}

/** kube-apiserver's 409 for apply conflicts (managedfields/internal/conflict.go). */
export function applyConflict(conflicts: Map<string, FieldSet>, managed: Map<string, Managed>): ApiError {
  const list: Array<{ manager: string; path: string }> = [];
  for (const [key, set] of conflicts) {
    const m = managed.get(key)!;
    const who =
      `"${m.manager}"` +
      (m.subresource ? ` with subresource "${m.subresource}"` : '') +
      (m.operation === 'Update' ? ` using ${m.apiVersion}${m.time ? ` at ${m.time}` : ''}` : '');
    for (const p of set.paths()) list.push({ manager: who, path: pathString(p) });
  }
  const causes: StatusCause[] = list.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${c.manager}`,
    field: c.path,
  }));
  let message: string;
  if (list.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${list[0].manager}: ${list[0].path}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of list) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.path]);
    const parts: string[] = [];
    for (const who of [...byManager.keys()].sort()) {
      parts.push(`conflicts with ${who}:`, ...byManager.get(who)!.map((p) => `- ${p}`));
    }
    message = `Apply failed with ${list.length} conflicts: ${parts.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, { causes });
}

export interface ApplyResult {
  /** The applied object, in the configuration's version (not yet decoded, defaulted or validated). */
  object: Record<string, unknown>;
  /** The same as the hub type (the conversion the ownership comparison made), for the caller to write. */
  hub: unknown;
  managed: Map<string, Managed>;
}

/**
 * Applies `config` (an object of `who.apiVersion`, without managedFields) by `who` to `live` (a hub
 * object; undefined when the apply creates it). `merge` and `remove` are the typed merge and removal.
 */
export function recordApply(
  view: VersionView,
  managed: Map<string, Managed>,
  who: ManagerIdentity,
  live: unknown,
  config: Record<string, unknown>,
  force: boolean,
  ops: {
    merge(schema: Node, lhs: unknown, rhs: unknown): unknown;
    remove(schema: Node, value: unknown, set: FieldSet): unknown;
    toHub(versioned: Record<string, unknown>): unknown;
  },
): ApplyResult {
  const schema = view.schema(who.apiVersion);
  if (!schema) throw badRequest(`no schema for ${who.apiVersion}`);
  let current = new Map(managed);
  if (live !== undefined && current.size === 0) {
    // The object predates managed fields: what it has belongs to before-first-apply.
    current = recordUpdate(
      view,
      current,
      {
        manager: BEFORE_FIRST_APPLY,
        subresource: who.subresource,
        apiVersion: who.apiVersion,
        time: who.time,
      },
      undefined,
      live,
    );
  }
  const self = { manager: who.manager, operation: 'Apply' as const, subresource: who.subresource };
  const selfKey = keyOf(self);
  const liveVersioned = live === undefined ? {} : view.encode(live, who.apiVersion);
  let merged = ops.merge(schema, liveVersioned, config) as Record<string, unknown>;
  const applied = toFieldSet(schema, config).difference(STRIPPED);
  const last = current.get(selfKey);
  current.set(selfKey, { ...self, apiVersion: who.apiVersion, time: who.time, set: applied });
  if (last && last.apiVersion === who.apiVersion) {
    // Fields this manager applied before and no longer does go, unless somebody else owns them.
    let owned = new FieldSet();
    for (const m of current.values()) if (m.apiVersion === who.apiVersion) owned = owned.union(m.set);
    const stale = prunable(last.set.difference(owned), owned);
    if (!stale.empty) merged = ops.remove(schema, merged, stale) as Record<string, unknown>;
  }
  const nextHub = ops.toHub(structuredClone(merged));
  const before = new Map(current);
  const compared = comparisons(view, live, nextHub);
  const { conflicts } = updateOthers(current, selfKey, compared, force);
  if (conflicts.size) {
    // kubectl's first server-side apply after client-side ones may take over what its last-applied
    // configuration still describes as the live object has it (lastappliedmanager.go).
    const allowed =
      who.manager === 'kubectl'
        ? allowedFromLastApplied(schema, live, liveVersioned, who.apiVersion)
        : undefined;
    let all = new FieldSet();
    for (const set of conflicts.values()) all = all.union(set);
    if (!allowed || !all.difference(allowed).empty) throw applyConflict(conflicts, before);
    for (const [key, m] of before) current.set(key, m);
    updateOthers(current, selfKey, compared, true);
  }
  if (last && last.set.equals(applied) && last.apiVersion === who.apiVersion) {
    current.set(selfKey, { ...self, apiVersion: who.apiVersion, time: last.time, set: applied });
  }
  if (applied.empty) current.delete(selfKey);
  return { object: merged, hub: nextHub, managed: current };
}
