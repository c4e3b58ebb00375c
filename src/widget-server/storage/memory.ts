/**
 * The embedded store: an in-process MVCC key-value store with etcd's semantics (one revision counter,
 * per-key version history, snapshot reads at past revisions, compaction, ordered asynchronous watches
 * replayed from a revision), so the registry behaves identically on it and on etcd. Hand-written because
 * no maintained npm package offers etcd-compatible revisions and watch resumption.
 */
import {
  CompactedError,
  FutureRevisionError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  type JsonObject,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Storage,
  type StorageWatchEvent,
  type WatchCallbacks,
  type WatchHandle,
} from './storage';
import { currentDeadline, StorageTimeoutError } from './deadline';
import { deepFreeze } from '../../shared/deep-freeze';

interface Version {
  revision: number;
  createRevision: number;
  /** undefined marks a deletion (tombstone). */
  value?: JsonObject;
}

export interface MemoryStorageOptions {
  /** History older than this is compacted (kube-apiserver compacts etcd every 5 minutes). */
  compactAfterMs?: number;
  /** At most this many events are kept for watch resumption. */
  maxHistoryEvents?: number;
  /** How often idle watchers get a progress notification. */
  progressIntervalMs?: number;
}

class MemoryWatcher {
  private queue: Array<() => void> = [];
  private scheduled = false;
  stopped = false;

  constructor(
    readonly prefix: string,
    readonly callbacks: WatchCallbacks,
  ) {}

  enqueue(fn: () => void): void {
    if (this.stopped) return;
    this.queue.push(fn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const items = this.queue;
    this.queue = [];
    for (const fn of items) {
      if (this.stopped) return;
      fn();
    }
  }
}

export class MemoryStorage implements Storage {
  readonly kind = 'memory';
  private revision = 1;
  private compacted = 0;
  private readonly versions = new Map<string, Version[]>();
  private sortedKeys: string[] = [];
  private events: StorageWatchEvent[] = [];
  private readonly checkpoints: Array<{ at: number; revision: number }> = [];
  private readonly watchers = new Set<MemoryWatcher>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly compactAfterMs: number;
  private readonly maxHistoryEvents: number;

  constructor(options: MemoryStorageOptions = {}) {
    this.compactAfterMs = options.compactAfterMs ?? 5 * 60 * 1000;
    this.maxHistoryEvents = options.maxHistoryEvents ?? 10000;
    const compactTimer = setInterval(
      () => this.compactByAge(),
      Math.max(1000, Math.min(60_000, this.compactAfterMs / 5)),
    );
    const progressTimer = setInterval(() => this.notifyProgress(), options.progressIntervalMs ?? 5000);
    compactTimer.unref();
    progressTimer.unref();
    this.timers.push(compactTimer, progressTimer);
  }

  private latest(key: string): Version | undefined {
    const history = this.versions.get(key);
    return history?.[history.length - 1];
  }

  /** Where `key` is or would be in sortedKeys (binary search). */
  private keyIndex(key: string): number {
    let lo = 0;
    let hi = this.sortedKeys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sortedKeys[mid] < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insertKey(key: string): void {
    const at = this.keyIndex(key);
    if (this.sortedKeys[at] !== key) this.sortedKeys.splice(at, 0, key);
  }

  private write(key: string, value: JsonObject | undefined, isCreate: boolean, prev?: Version): number {
    const revision = ++this.revision;
    const createRevision = isCreate ? revision : (prev?.createRevision ?? revision);
    // The value becomes the store's (see Storage): frozen, it is handed out to reads and watchers as is.
    const stored = value === undefined ? undefined : deepFreeze(value);
    let history = this.versions.get(key);
    if (!history) {
      history = [];
      this.versions.set(key, history);
      this.insertKey(key);
    }
    history.push({ revision, createRevision, value: stored });
    const event: StorageWatchEvent =
      stored === undefined
        ? { type: 'delete', key, value: prev!.value!, modRevision: revision, isCreate: false }
        : { type: 'put', key, value: stored, prevValue: prev?.value, modRevision: revision, isCreate };
    this.events.push(event);
    this.checkpoints.push({ at: Date.now(), revision });
    for (const w of this.watchers) {
      if (key.startsWith(w.prefix)) w.enqueue(() => w.callbacks.onEvent({ ...event }));
    }
    if (this.events.length > this.maxHistoryEvents) {
      this.compactSync(this.events[this.events.length - this.maxHistoryEvents].modRevision);
    }
    return revision;
  }

  async create(key: string, value: JsonObject): Promise<number> {
    const current = this.latest(key);
    if (current?.value !== undefined) throw new KeyExistsError(key);
    return this.write(key, value, true, current);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const current = this.latest(key);
    if (!current?.value) return undefined;
    return {
      key,
      value: current.value,
      modRevision: current.revision,
      createRevision: current.createRevision,
    };
  }

  private live(key: string): Version {
    const current = this.latest(key);
    if (!current?.value) throw new KeyNotFoundError(key);
    return current;
  }

  async update(key: string, value: JsonObject, expectedModRevision: number): Promise<number> {
    const current = this.live(key);
    if (current.revision !== expectedModRevision)
      throw new RevisionConflictError(key, expectedModRevision, current.revision);
    return this.write(key, value, false, current);
  }

  async delete(key: string, expectedModRevision?: number): Promise<number> {
    const current = this.live(key);
    if (expectedModRevision !== undefined && current.revision !== expectedModRevision) {
      throw new RevisionConflictError(key, expectedModRevision, current.revision);
    }
    return this.write(key, undefined, false, current);
  }

  private checkReadable(revision: number): void {
    if (revision < this.compacted) throw new CompactedError(revision, this.compacted);
    if (revision > this.revision) throw new FutureRevisionError(revision, this.revision);
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    const at = options.revision && options.revision > 0 ? options.revision : this.revision;
    this.checkReadable(at);
    const limit = options.limit && options.limit > 0 ? options.limit : Infinity;
    const items: KeyValue[] = [];
    let matching = 0;
    // Nothing here waits, but a large list is CPU time: one already past its request's deadline
    // stops instead of copying objects nobody will receive (etcd's calls are cancelled the same way).
    const deadline = currentDeadline();
    let visited = 0;
    for (const key of this.sortedKeys) {
      if (deadline !== undefined && ++visited % 1024 === 0 && Date.now() > deadline) {
        throw new StorageTimeoutError('list');
      }
      if (!key.startsWith(prefix)) continue;
      if (options.startAfter !== undefined && key <= options.startAfter) continue;
      const history = this.versions.get(key)!;
      let version: Version | undefined;
      for (let i = history.length - 1; i >= 0; i--) {
        if (history[i].revision <= at) {
          version = history[i];
          break;
        }
      }
      if (!version?.value) continue;
      matching++;
      if (items.length < limit) {
        items.push({
          key,
          value: version.value,
          modRevision: version.revision,
          createRevision: version.createRevision,
        });
      }
    }
    return { items, revision: at, more: matching > items.length, remaining: matching - items.length };
  }

  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle {
    const watcher = new MemoryWatcher(prefix, callbacks);
    if (afterRevision + 1 < this.compacted) {
      const err = new CompactedError(afterRevision, this.compacted);
      watcher.enqueue(() => callbacks.onError(err));
      return { stop: () => (watcher.stopped = true) };
    }
    for (const event of this.events) {
      if (event.modRevision > afterRevision && event.key.startsWith(prefix)) {
        watcher.enqueue(() => callbacks.onEvent({ ...event }));
      }
    }
    this.watchers.add(watcher);
    return {
      stop: () => {
        watcher.stopped = true;
        this.watchers.delete(watcher);
      },
    };
  }

  private notifyProgress(): void {
    const revision = this.revision;
    for (const w of this.watchers) {
      const onProgress = w.callbacks.onProgress;
      if (onProgress) w.enqueue(() => onProgress(revision));
    }
  }

  private compactByAge(): void {
    const cutoff = Date.now() - this.compactAfterMs;
    let target = 0;
    while (this.checkpoints.length && this.checkpoints[0].at <= cutoff)
      target = this.checkpoints.shift()!.revision;
    if (target > this.compacted) this.compactSync(target);
  }

  /**
   * Discards history up to `revision`. Only keys written since the previous compaction can hold
   * versions to discard (each key keeps at most one version at or below a compacted revision), and
   * every such write is still in `events`, so only those keys are visited: visiting every key made each
   * write past the history cap cost O(keys), and loading 100k widgets quadratic.
   */
  private compactSync(revision: number): void {
    if (revision <= this.compacted) return;
    const previous = this.compacted;
    this.compacted = Math.min(revision, this.revision);
    const touched = new Set<string>();
    let drop = 0;
    for (const e of this.events) {
      if (e.modRevision > this.compacted) break;
      if (e.modRevision >= previous) touched.add(e.key);
      if (e.modRevision < this.compacted) drop++;
    }
    for (const key of touched) {
      const history = this.versions.get(key);
      if (!history) continue;
      // Keep the newest version at or below the compacted revision (reads at it need it) and all later ones.
      let keepFrom = 0;
      for (let i = history.length - 1; i >= 0; i--) {
        if (history[i].revision <= this.compacted) {
          keepFrom = i;
          break;
        }
      }
      const kept = history.slice(keepFrom);
      if (kept.length && kept[0].value === undefined && kept[0].revision <= this.compacted) kept.shift();
      if (kept.length) this.versions.set(key, kept);
      else {
        this.versions.delete(key);
        this.sortedKeys.splice(this.keyIndex(key), 1);
      }
    }
    this.events.splice(0, drop);
    // Age checkpoints at or below the compacted revision can no longer move it.
    let stale = 0;
    while (stale < this.checkpoints.length && this.checkpoints[stale].revision <= this.compacted) stale++;
    this.checkpoints.splice(0, stale);
  }

  async compact(revision: number): Promise<void> {
    if (revision > this.revision) throw new FutureRevisionError(revision, this.revision);
    if (revision < this.compacted) throw new CompactedError(revision, this.compacted);
    this.compactSync(revision);
  }

  async currentRevision(): Promise<number> {
    return this.revision;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const w of this.watchers) w.stopped = true;
    this.watchers.clear();
  }
}
