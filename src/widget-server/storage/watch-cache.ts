/**
 * One storage watch shared by every watcher, as kube-apiserver's watch cache (the Cacher) gives each
 * resource: a decorator over a Storage whose watch() is served from a single upstream watch of the
 * whole store plus a window of its most recent events, instead of one etcd watch per client. Each event
 * is then decoded once for all watchers (and its value objects are shared, so the registry can convert
 * and encode it once too), where 1,000 informers used to mean 1,000 etcd watch streams decoded 1,000
 * times each.
 *
 * A watch that starts inside the window (after the oldest revision it fully covers) is replayed from it
 * and then joins the live fan-out; one that starts earlier gets a storage watch of its own, so the cache
 * never answers 410 where the store would not. An upstream error (compaction while disconnected, etcd
 * gone) ends every shared watcher with it, as the store would have, and the next watch starts afresh.
 * Reads and writes go straight to the store.
 */
import type {
  JsonObject,
  KeyValue,
  ListOptions,
  ListResult,
  Storage,
  StorageWatchEvent,
  WatchCallbacks,
  WatchHandle,
} from './storage';

/** kube-apiserver's --default-watch-cache-size is 100 events; widgets churn more (status writes). */
export const DEFAULT_WATCH_CACHE_SIZE = 1000;
/**
 * The window is also bounded by the stored bytes of its events: each is held decoded, converted and
 * encoded (about four times its stored size), so 1,000 events of 200 KB objects held over 120 MB of
 * heap. 8 MiB stored keeps typical widgets (1-2 KB an event) at the count bound.
 */
export const DEFAULT_WATCH_CACHE_BYTES = 8 * 1024 * 1024;

interface Subscriber {
  prefix: string;
  /** Only events after this revision are delivered. */
  after: number;
  callbacks: WatchCallbacks;
}

export class WatchCacheStorage implements Storage {
  readonly kind: string;
  /** The window, oldest first; at most `capacity` events. */
  private window: StorageWatchEvent[] = [];
  /** Every event with modRevision > covered is in the window or still to come. */
  private covered = 0;
  private windowBytes = 0;
  private readonly subscribers = new Set<Subscriber>();
  private upstream?: WatchHandle;

  constructor(
    private readonly inner: Storage,
    private readonly capacity = DEFAULT_WATCH_CACHE_SIZE,
    private readonly maxBytes = DEFAULT_WATCH_CACHE_BYTES,
  ) {
    this.kind = inner.kind;
  }

  /** Watchers served by the shared upstream watch (for metrics and tests). */
  get sharedWatchers(): number {
    return this.subscribers.size;
  }

  create(key: string, value: JsonObject): Promise<number> {
    return this.inner.create(key, value);
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.inner.get(key);
  }

  update(key: string, value: JsonObject, expectedModRevision: number): Promise<number> {
    return this.inner.update(key, value, expectedModRevision);
  }

  delete(key: string, expectedModRevision?: number): Promise<number> {
    return this.inner.delete(key, expectedModRevision);
  }

  list(prefix: string, options?: ListOptions): Promise<ListResult> {
    return this.inner.list(prefix, options);
  }

  /**
   * A compaction through this store also narrows the window, so that a watch from before it fails with
   * CompactedError (410) as the store's would. (kube-apiserver's cache keeps serving its window after
   * etcd compacts; a compaction by another replica is not seen here, and the window then still serves.)
   */
  async compact(revision: number): Promise<void> {
    await this.inner.compact(revision);
    if (revision > this.covered) {
      this.covered = revision;
      this.window = this.window.filter((e) => e.modRevision > revision);
      this.windowBytes = this.window.reduce((sum, e) => sum + (e.bytes ?? 0), 0);
    }
  }

  currentRevision(): Promise<number> {
    return this.inner.currentRevision();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  async close(): Promise<void> {
    this.reset();
    await this.inner.close();
  }

  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle {
    if (this.capacity <= 0) return this.inner.watch(prefix, afterRevision, callbacks);
    if (!this.upstream) this.startUpstream(afterRevision);
    // No upstream (it failed at once) or a start before the window: a storage watch of its own, which
    // reports the store's error or replays what the window no longer holds.
    if (!this.upstream || afterRevision < this.covered)
      return this.inner.watch(prefix, afterRevision, callbacks);
    const subscriber: Subscriber = { prefix, after: afterRevision, callbacks };
    for (const event of this.window) {
      if (event.modRevision > afterRevision && event.key.startsWith(prefix)) callbacks.onEvent(event);
    }
    this.subscribers.add(subscriber);
    return { stop: () => this.subscribers.delete(subscriber) };
  }

  private startUpstream(afterRevision: number): void {
    this.covered = afterRevision;
    this.window = [];
    this.windowBytes = 0;
    let failed = false;
    const upstream = this.inner.watch('', afterRevision, {
      onEvent: (event) => this.dispatch(event),
      onError: (err) => {
        failed = true;
        const ended = [...this.subscribers];
        this.reset();
        for (const s of ended) s.callbacks.onError(err);
      },
      onProgress: (revision) => {
        for (const s of this.subscribers) s.callbacks.onProgress?.(revision);
      },
    });
    // A store may fail the watch before returning it (reset() had no upstream to stop then).
    if (failed) upstream.stop();
    else this.upstream = upstream;
  }

  private dispatch(event: StorageWatchEvent): void {
    this.window.push(event);
    this.windowBytes += event.bytes ?? 0;
    while (this.window.length > this.capacity || (this.windowBytes > this.maxBytes && this.window.length)) {
      // Dropping the oldest event narrows what the window covers to what comes after it.
      const dropped = this.window.shift()!;
      this.windowBytes -= dropped.bytes ?? 0;
      this.covered = dropped.modRevision;
    }
    for (const s of this.subscribers) {
      if (event.modRevision > s.after && event.key.startsWith(s.prefix)) s.callbacks.onEvent(event);
    }
  }

  private reset(): void {
    this.upstream?.stop();
    this.upstream = undefined;
    this.subscribers.clear();
    this.window = [];
    this.windowBytes = 0;
    this.covered = 0;
  }
}
