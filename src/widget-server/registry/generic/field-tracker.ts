/**
 * The generic store's use of the field manager (apply/field-manager.ts): who a write is by (the
 * fieldManager parameter, or the user agent's product as kube-apiserver derives it), which
 * managedFields a write starts from (the request's when it sends valid ones to the main resource, the
 * stored object's otherwise, as kube-apiserver does so that clients unaware of managedFields cannot
 * erase them), and the versions fields are compared in (each manager's own, through the kind's codecs).
 */
import {
  decodeManagedFields,
  encodeManagedFields,
  recordUpdate,
  type ManagerIdentity,
  type VersionView,
} from '../../apply/field-manager';
import type { KindCodec, StoredObject, WriteOptions } from './types';
import { versionOf } from './stored-form';
import { jsonEqual } from '../../../shared/json-equal';

/** kube-apiserver's prefixFromUserAgent: `kubectl/v1.34.4 (linux/amd64)` is `kubectl`. */
export function managerFromUserAgent(userAgent: string | undefined): string {
  return (userAgent ?? '').split('/')[0];
}

function decodedOrUndefined(entries: unknown, stored: boolean) {
  try {
    return decodeManagedFields(entries, stored);
  } catch {
    return undefined;
  }
}

export class FieldTracker<T extends StoredObject> {
  readonly view: VersionView;

  constructor(
    private readonly codecs: ReadonlyMap<string, KindCodec<T>>,
    private readonly codecFor: (version?: string) => KindCodec<T>,
    /** False only to measure what tracking costs (bench/managed-fields.ts); the server always tracks. */
    private readonly enabled = true,
  ) {
    this.view = {
      schema: (apiVersion) => this.codecs.get(versionOf(apiVersion) ?? '')?.schema,
      encode: (obj, apiVersion) => {
        const codec = this.codecs.get(versionOf(apiVersion) ?? '');
        return codec ? codec.encode(obj as T) : obj;
      },
    };
  }

  who(opts: WriteOptions, subresource: string, now: string): ManagerIdentity {
    return {
      manager: opts.fieldManager || managerFromUserAgent(opts.userAgent),
      subresource,
      apiVersion: this.codecFor(opts.version).apiVersion,
      time: now,
    };
  }

  /**
   * Sets next.metadata.managedFields for an Update (or a create, `current` undefined) by the writer of
   * `opts`. `requested` is the managedFields the request carried.
   */
  trackUpdate(
    next: T,
    current: T | undefined,
    requested: unknown,
    opts: WriteOptions,
    subresource: string,
    now: string,
  ): void {
    // Assigned, not deleted: `delete` turns metadata into a slow dictionary for every later pass.
    next.metadata.managedFields = undefined;
    if (!this.enabled) return;
    // The request's own managedFields when valid (not on a subresource), else the stored ones: a
    // client unaware of managedFields cannot erase them, and malformed ones are ignored.
    // Most clients send back what they read: those are the stored ones, read as such.
    const storedEntries = current?.metadata.managedFields;
    const own =
      !subresource &&
      Array.isArray(requested) &&
      requested.length &&
      requested !== storedEntries &&
      !jsonEqual(requested, storedEntries)
        ? decodedOrUndefined(requested, false)
        : undefined;
    const managed = own ?? decodedOrUndefined(storedEntries, true) ?? new Map();
    // A stored object that has never had managed fields is not tracked until its first apply, as
    // kube-apiserver skips it (skipnonapplied.go).
    if (current && managed.size === 0) return;
    this.setManagedFields(
      next,
      recordUpdate(this.view, managed, this.who(opts, subresource, now), current, next),
    );
  }

  /** Writes `managed` to `o` as its managedFields; none when no entry owns anything. */
  setManagedFields(o: T, managed: Parameters<typeof encodeManagedFields>[0]): void {
    const entries = encodeManagedFields(managed);
    o.metadata.managedFields = entries.length ? entries : undefined;
  }
}
