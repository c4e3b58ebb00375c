/**
 * The storage contract shared by the embedded store and etcd: a revisioned key-value store of JSON
 * objects with etcd's semantics (one global revision counter, per-key modRevision, snapshot reads at a
 * past revision, compaction, and watch from a revision). The registry turns revisions into
 * resourceVersions; nothing here knows about Kubernetes metadata.
 */

export type JsonObject = Record<string, unknown>;

export interface KeyValue {
  key: string;
  value: JsonObject;
  /** Revision of the last write to this key: the object's resourceVersion. */
  modRevision: number;
  /** Revision at which the key was (last) created. */
  createRevision: number;
}

export interface ListOptions {
  /** Read the state as of this revision (0 or undefined: the latest). Older than compaction: CompactedError. */
  revision?: number;
  /** Return at most this many keys (0 or undefined: no limit). */
  limit?: number;
  /** Start listing strictly after this key (for continue tokens). */
  startAfter?: string;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at (the snapshot revision). */
  revision: number;
  /** True when more keys under the prefix follow the last returned one. */
  more: boolean;
  /** How many keys follow the returned page, when known. */
  remaining?: number;
}

export type WatchEventType = 'put' | 'delete';

export interface StorageWatchEvent {
  type: WatchEventType;
  key: string;
  /** New value for put; the last value before deletion for delete. */
  value: JsonObject;
  /** Previous value for an update, undefined on create. */
  prevValue?: JsonObject;
  /** Revision of this event (for delete, the revision of the deletion). */
  modRevision: number;
  /** True when this put created the key. */
  isCreate: boolean;
  /** Stored size of value and prevValue in bytes, where the store knows it (the watch cache's bound). */
  bytes?: number;
}

export interface WatchHandle {
  /** Stops delivering events and releases resources. Idempotent. */
  stop(): void;
}

export interface WatchCallbacks {
  /** Events in revision order, exactly once each, all with modRevision > the start revision. */
  onEvent(event: StorageWatchEvent): void;
  /** A watch whose start revision has been compacted or whose connection failed terminally. */
  onError(err: Error): void;
  /** Progress notification: every event up to `revision` under the prefix has been delivered. */
  onProgress?(revision: number): void;
}

/** Thrown when a create finds the key present. */
export class KeyExistsError extends Error {
  constructor(readonly key: string) {
    super(`key exists: ${key}`);
    this.name = 'KeyExistsError';
  }
}

/** Thrown when a key that must exist does not. */
export class KeyNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`key not found: ${key}`);
    this.name = 'KeyNotFoundError';
  }
}

/** Thrown when a compare-and-swap finds a different modRevision. */
export class RevisionConflictError extends Error {
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`revision conflict on ${key}: expected ${expected}, found ${actual}`);
    this.name = 'RevisionConflictError';
  }
}

/** Thrown when a read or watch asks for a revision older than the compacted one. */
export class CompactedError extends Error {
  constructor(
    readonly requested: number,
    /** The compacted revision, when the store can tell (etcd's client does not report it). */
    readonly compacted?: number,
  ) {
    super(
      `required revision ${requested} has been compacted` +
        (compacted !== undefined ? ` (compacted revision ${compacted})` : ''),
    );
    this.name = 'CompactedError';
  }
}

/**
 * Thrown before a write whose value is larger than the store takes (etcd refuses requests over its
 * --max-request-bytes, 1.5 MiB by default; sending one would also count as a failure against the
 * client's circuit breaker and stall every other call). Answered 413, as kube-apiserver answers it.
 */
export class ValueTooLargeError extends Error {
  constructor(
    readonly key: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`value of ${key} is ${bytes} bytes, over the store's limit of ${limit}`);
    this.name = 'ValueTooLargeError';
  }
}

/** Thrown when a read asks for a revision newer than the store has. */
export class FutureRevisionError extends Error {
  constructor(
    readonly requested: number,
    readonly current: number,
  ) {
    super(`required revision ${requested} is a future revision (current ${current})`);
    this.name = 'FutureRevisionError';
  }
}

/**
 * Values are not copied at the boundary: a value handed to create or update becomes the store's (the
 * caller must not change it afterwards), and values a store returns, from reads and watches, are
 * read-only (the embedded store hands out its own, frozen). The registry copies once, when it turns a
 * stored value into an object (registry/generic/stored-form.ts).
 */
export interface Storage {
  /** Human-readable kind, e.g. "memory" or "etcd", for logs and metrics. */
  readonly kind: string;

  /** Creates the key; KeyExistsError if present. Returns the new revision. */
  create(key: string, value: JsonObject): Promise<number>;

  /** Reads one key at the latest revision. */
  get(key: string): Promise<KeyValue | undefined>;

  /**
   * Replaces the key only if its modRevision equals `expectedModRevision`.
   * KeyNotFoundError if absent; RevisionConflictError if changed. Returns the new revision.
   */
  update(key: string, value: JsonObject, expectedModRevision: number): Promise<number>;

  /**
   * Deletes the key only if its modRevision equals `expectedModRevision` (when given).
   * KeyNotFoundError if absent; RevisionConflictError if changed. Returns the deletion revision.
   */
  delete(key: string, expectedModRevision?: number): Promise<number>;

  /** Lists keys under `prefix` in key order, optionally at a past revision and paginated. */
  list(prefix: string, options?: ListOptions): Promise<ListResult>;

  /**
   * Watches keys under `prefix` for events with modRevision > `afterRevision`.
   * If `afterRevision` is older than the compacted revision, onError receives a CompactedError.
   */
  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle;

  /**
   * Discards history up to `revision` (exclusive of the key's latest version), like etcd's compaction:
   * reads and watches older than it fail with CompactedError afterwards.
   */
  compact(revision: number): Promise<void>;

  /** The store's current revision (a consistent read). */
  currentRevision(): Promise<number>;

  /** Resolves when the store answers; rejects otherwise. Used by /readyz. */
  ping(): Promise<void>;

  close(): Promise<void>;
}
