/**
 * How a kind's objects are kept in storage: their keys (`<resource>/<namespace>/<name>`), and the
 * stored form, in the storage version, recording the version it was written in. Reading converts an
 * object stored in any version the kind has (an older storage version, until migration rewrites it)
 * to the hub type; resourceVersion is never stored, it is the key's modRevision.
 */
import { deepFreeze } from '../../../shared/deep-freeze';
import { internalError } from '../../../shared/status-errors';
import type { JsonObject, KeyValue } from '../../storage/storage';
import type { KindNames } from './strategy';
import type { KindCodec, StoredObject } from './types';

/** The version part of an apiVersion (group/version, or a core version alone). */
export function versionOf(apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
}

/**
 * A deep copy of an object, except metadata.managedFields, which is shared and frozen: every write
 * replaces managedFields whole (field-tracker.ts) and nothing edits them in place. They are most of a
 * small object's nodes (every owned field is an object in FieldsV1), and copying them on every read
 * and write doubled what a write cost (bench/managed-fields.ts).
 */
export function copySharingManagedFields<V extends object>(value: V): V {
  const metadata = (value as JsonObject).metadata as JsonObject | undefined;
  const managedFields = metadata?.managedFields as unknown[] | undefined;
  if (managedFields === undefined) return structuredClone(value);
  // Copied without them (the key left undefined: a spread copy, not a `delete`, keeps objects fast).
  const shell = Object.assign({}, value) as JsonObject;
  shell.metadata = Object.assign({}, metadata, { managedFields: undefined });
  const copy = structuredClone(shell) as unknown as V & StoredObject;
  copy.metadata.managedFields = deepFreeze(managedFields);
  return copy;
}

export class StoredForm<T extends StoredObject> {
  private readonly hubApiVersion: string;

  constructor(
    group: string,
    private readonly names: KindNames,
    /** A codec for every version the kind has. */
    private readonly codecs: ReadonlyMap<string, KindCodec<T>>,
    private readonly hubVersion: string,
    readonly storageVersion: string,
  ) {
    this.hubApiVersion = `${group}/${hubVersion}`;
    this.codecFor(storageVersion);
  }

  /** The apiVersion objects are written with. */
  get storageApiVersion(): string {
    return this.codecFor(this.storageVersion).apiVersion;
  }

  prefixFor(namespace?: string): string {
    return namespace ? `${this.names.resource}/${namespace}/` : `${this.names.resource}/`;
  }

  keyFor(namespace: string, name: string): string {
    return `${this.names.resource}/${namespace}/${name}`;
  }

  /** A stored object as the hub type (a copy, see copySharingManagedFields), with its resourceVersion (the key's modRevision). */
  fromStored(value: JsonObject, revision: number): T {
    const stored = copySharingManagedFields(value);
    const storedVersion = versionOf(stored.apiVersion);
    const o =
      storedVersion === this.hubVersion || storedVersion === undefined
        ? (stored as unknown as T)
        : this.codecFor(storedVersion).toHub(stored);
    o.apiVersion = this.hubApiVersion;
    o.kind = this.names.kind;
    o.metadata = { ...o.metadata, resourceVersion: String(revision) };
    return o;
  }

  fromKeyValue(kv: KeyValue): T {
    return this.fromStored(kv.value, kv.modRevision);
  }

  /** The hub object as written to storage: in the storage version, which its apiVersion records. */
  toStored(o: T): JsonObject {
    const codec = this.codecFor(this.storageVersion);
    const encoded = codec.encode(o) as JsonObject & StoredObject;
    // A JSON round trip drops undefined fields, so stored values are canonical on every store; the
    // fields never stored are dropped that way too (`delete` would turn the object into a slow
    // dictionary that every later copy and read pays for). managedFields skip the round trip: they are
    // JSON already (read from storage, or written whole by the field tracker), and shared
    // (copySharingManagedFields).
    const { managedFields } = encoded.metadata;
    const shell = Object.assign({}, encoded, { apiVersion: codec.apiVersion, kind: this.names.kind });
    shell.metadata = Object.assign({}, encoded.metadata, {
      resourceVersion: undefined,
      selfLink: undefined,
      managedFields: undefined,
    });
    const copy = JSON.parse(JSON.stringify(shell)) as JsonObject & StoredObject;
    if (managedFields !== undefined) copy.metadata.managedFields = managedFields;
    return copy;
  }

  private codecFor(version: string): KindCodec<T> {
    const codec = this.codecs.get(version);
    if (!codec)
      throw internalError(`stored object is in version ${version}, which this server does not know`);
    return codec;
  }
}
