/**
 * The metadata the generic store owns, as k8s.io/apiserver's rest.BeforeCreate, BeforeUpdate and
 * BeforeDelete handle it for every kind (managedFields are the field tracker's): what a create resets, what an update carries over, the names
 * generateName makes, finalizers for the garbage collector's propagation policies, and delete
 * preconditions. Pure functions over ObjectMeta; the store calls them.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { FieldError } from '../../../shared/status-errors';
import type { DeleteOptions, ObjectMeta } from '../../api/types';

const FINALIZER_ORPHAN = 'orphan';
const FINALIZER_FOREGROUND = 'foregroundDeletion';
/** Characters kube-apiserver uses for generateName suffixes (no vowels, no confusable digits). */
const NAME_SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function generateName(prefix: string): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += NAME_SUFFIX_ALPHABET[randomInt(NAME_SUFFIX_ALPHABET.length)];
  return prefix + suffix;
}

/** A new object's metadata: a generated name if asked for, a uid, timestamps, generation 1; server-owned fields cleared. */
export function resetForCreate(meta: ObjectMeta, now: string): void {
  if (!meta.name && meta.generateName) meta.name = generateName(meta.generateName);
  meta.uid = randomUUID();
  meta.creationTimestamp = now;
  meta.generation = 1;
  delete meta.resourceVersion;
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  delete meta.selfLink;
}

/** An update's metadata: what only the server sets is carried over from the stored object. */
export function carryOverForUpdate(meta: ObjectMeta, old: ObjectMeta): void {
  meta.uid = meta.uid ?? old.uid;
  meta.creationTimestamp = meta.creationTimestamp ?? old.creationTimestamp;
  meta.deletionTimestamp = old.deletionTimestamp;
  meta.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
  meta.generation = old.generation;
  delete meta.selfLink;
  if (meta.generateName === undefined && old.generateName !== undefined) meta.generateName = old.generateName;
}

/** An object being deleted may lose finalizers, never gain one (ValidateObjectMetaUpdate). */
export function finalizersAddedWhileDeleting(meta: ObjectMeta, old: ObjectMeta): FieldError[] {
  if (!old.deletionTimestamp) return [];
  const before = new Set(old.finalizers ?? []);
  return (meta.finalizers ?? [])
    .filter((f) => !before.has(f))
    .map((f) => ({
      type: 'FieldValueForbidden',
      field: 'metadata.finalizers',
      detail: `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify([f])}`,
    }));
}

/** Finalizers the GC needs for a propagation policy (store.go deletionFinalizersForGarbageCollection). */
export function gcFinalizers(existing: string[], options: DeleteOptions): string[] {
  let policy = options.propagationPolicy;
  if (!policy && options.orphanDependents !== undefined)
    policy = options.orphanDependents ? 'Orphan' : 'Background';
  if (!policy) return existing;
  const rest = existing.filter((f) => f !== FINALIZER_ORPHAN && f !== FINALIZER_FOREGROUND);
  if (policy === 'Orphan') return [...rest, FINALIZER_ORPHAN];
  if (policy === 'Foreground') return [...rest, FINALIZER_FOREGROUND];
  return rest;
}

/** The Conflict message of a failed delete precondition, or undefined when they hold. */
export function failedPrecondition(meta: ObjectMeta, options: DeleteOptions): string | undefined {
  const pre = options.preconditions;
  if (pre?.uid && pre.uid !== meta.uid) {
    return `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${meta.uid}`;
  }
  if (pre?.resourceVersion && pre.resourceVersion !== meta.resourceVersion) {
    return `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion}`;
  }
  return undefined;
}
