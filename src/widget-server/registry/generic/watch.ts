/**
 * Watch for the generic store, as kube-apiserver serves it: initial events or a resume from a
 * resourceVersion, 410 Expired for history that is gone, bookmarks (periodic, after initial events,
 * and a last one at shutdown), the filter applied to both sides of every change (leaving it is
 * DELETED, entering it ADDED), timeouts spread like kube-apiserver's, and ending every watch at
 * shutdown. Storage events are converted to hub objects once for every watcher that receives them.
 */
import { deepFreeze } from '../../../shared/deep-freeze';
import { randomInt } from 'node:crypto';
import {
  expired,
  internalError,
  tooLargeResourceVersion,
  type ApiError,
} from '../../../shared/status-errors';
import type { WatchEvent } from '../../api/types';
import {
  CompactedError,
  type JsonObject,
  type Storage,
  type StorageWatchEvent,
  type WatchHandle,
} from '../../storage/storage';
import { parseResourceVersion, type ListQuery } from '../list-options';
import type { BookmarkObject, ObjectList, StoredObject, WatchSink } from './types';

const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';
/** The longest delay a Node timer can hold. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What one watch needs from its store. */
export interface WatchRequest<T extends StoredObject> {
  storage: Storage;
  prefix: string;
  query: ListQuery;
  sink: WatchSink<T>;
  /** The filter: the name (single-object watch), labels and fields. */
  matches(obj: T): boolean;
  /** The initial state, for sendInitialEvents or a watch from "" / "0". */
  list(q: ListQuery): Promise<ObjectList<T>>;
  fromStored(value: JsonObject, revision: number): T;
  /** kind and apiVersion of bookmark objects. */
  bookmarkType: { kind: string; apiVersion: string };
}

export class Watches {
  /** Each open watch's stop, and what ends it at shutdown (a final bookmark, then stop). */
  private readonly active = new Map<() => void, () => void>();
  private ended = false;
  /** Hub objects of storage events, per shared event object (objectOf). */
  private readonly converted = new WeakMap<StorageWatchEvent, { value?: unknown; prevValue?: unknown }>();

  constructor(private readonly bookmarkIntervalMs: number) {}

  get count(): number {
    return this.active.size;
  }

  /** Ends every open watch cleanly, and any set up later (graceful shutdown); returns how many were open. */
  stopAll(): number {
    this.ended = true;
    const ends = [...this.active.values()];
    for (const end of ends) end();
    return ends.length;
  }

  /**
   * Starts a watch. Resolves once the watch is established; events then flow to the sink until the
   * timeout, an error, stop(), or shutdown. A too-old resourceVersion is an ERROR event with a 410
   * Expired Status, then the end of the stream, as kube-apiserver does.
   */
  async start<T extends StoredObject>(w: WatchRequest<T>): Promise<WatchHandle> {
    const { query: q, sink } = w;
    let closed = false;
    // Created after the initial events are sent, but stop() may run before that.
    const resources: {
      storageWatch?: WatchHandle;
      timeout?: NodeJS.Timeout;
      bookmarkTimer?: NodeJS.Timeout;
    } = {};
    let lastRevision = 0;

    const stop = () => {
      if (closed) return;
      closed = true;
      resources.storageWatch?.stop();
      if (resources.timeout) clearTimeout(resources.timeout);
      if (resources.bookmarkTimer) clearInterval(resources.bookmarkTimer);
      this.active.delete(stop);
      sink.end();
    };
    const fail = (err: ApiError) => {
      if (closed) return;
      sink.send({ type: 'ERROR', object: err.toStatus() });
      stop();
    };
    const bookmark = (revision: number, annotations?: Record<string, string>) => {
      const metadata: BookmarkObject['metadata'] = { resourceVersion: String(revision) };
      if (annotations) metadata.annotations = annotations;
      sink.send({ type: 'BOOKMARK', object: { ...w.bookmarkType, metadata } });
    };

    // Decide the starting point: initial state (rv ""/"0" or sendInitialEvents) or resume after rv N.
    const rv = q.resourceVersion;
    const sendInitial = q.sendInitialEvents ?? (rv === undefined || rv === '0');
    let afterRevision: number;
    const initial: T[] = [];
    if (sendInitial) {
      const list = await w.list({
        ...q,
        watch: false,
        limit: undefined,
        continue: undefined,
        resourceVersion: rv,
        resourceVersionMatch: rv && rv !== '0' ? 'NotOlderThan' : undefined,
      });
      afterRevision = Number(list.metadata.resourceVersion);
      for (const o of list.items) if (w.matches(o)) initial.push(o);
    } else if (rv === undefined || rv === '0') {
      afterRevision = await w.storage.currentRevision();
    } else {
      afterRevision = parseResourceVersion(rv);
      const current = await w.storage.currentRevision();
      if (afterRevision > current) throw tooLargeResourceVersion(afterRevision, current);
    }
    lastRevision = afterRevision;

    // At shutdown a watch that takes bookmarks gets one first, so that the client resumes elsewhere
    // from the newest revision this watch had reached, not from its last event.
    const endForShutdown = () => {
      if (!closed && q.allowWatchBookmarks) bookmark(lastRevision);
      stop();
    };
    this.active.set(stop, endForShutdown);
    for (const o of initial) sink.send({ type: 'ADDED', object: o });
    if (q.sendInitialEvents && q.allowWatchBookmarks) {
      bookmark(afterRevision, { [INITIAL_EVENTS_END]: 'true' });
    }

    resources.storageWatch = w.storage.watch(w.prefix, afterRevision, {
      onEvent: (e) => {
        if (closed) return;
        lastRevision = e.modRevision;
        const out = this.translate(e, w);
        if (out) sink.send(out);
      },
      onError: (err) => {
        if (err instanceof CompactedError) {
          fail(
            expired(
              // The watch cache's message when the compacted revision is known; etcd3's otherwise.
              err.compacted !== undefined
                ? `too old resource version: ${afterRevision} (${err.compacted})`
                : 'The resourceVersion for the provided watch is too old.',
            ),
          );
        } else {
          fail(internalError(err.message));
        }
      },
      onProgress: (revision) => {
        if (revision > lastRevision) lastRevision = revision;
      },
    });

    const timeoutMs =
      q.timeoutSeconds !== undefined && q.timeoutSeconds > 0
        ? q.timeoutSeconds * 1000
        : // kube-apiserver picks a random timeout in [minRequestTimeout, 2*minRequestTimeout) to spread relists.
          (1800 + randomInt(1800)) * 1000;
    // Node's timers hold at most 2^31-1 ms (24.8 days) and fire at once beyond it: a larger
    // timeoutSeconds (kube-apiserver takes any) ends the watch after 24.8 days instead.
    resources.timeout = setTimeout(stop, Math.min(timeoutMs, MAX_TIMER_MS));
    resources.timeout.unref?.();
    if (q.allowWatchBookmarks) {
      resources.bookmarkTimer = setInterval(() => !closed && bookmark(lastRevision), this.bookmarkIntervalMs);
      resources.bookmarkTimer.unref?.();
    }
    // A watch still being set up when shutdown ended the others (it was waiting on storage) ends too,
    // once its caller has started the stream; otherwise it would hold its connection to the grace period.
    if (this.ended) setImmediate(endForShutdown);
    return { stop };
  }

  /**
   * The hub object of a storage event's value, converted once for every watcher that receives the
   * event (the watch cache shares event objects) and frozen, since all of them hold the same object.
   */
  private objectOf<T extends StoredObject>(
    e: StorageWatchEvent,
    which: 'value' | 'prevValue',
    w: WatchRequest<T>,
  ): T {
    let converted = this.converted.get(e);
    if (!converted) this.converted.set(e, (converted = {}));
    let o = converted[which] as T | undefined;
    if (!o) converted[which] = o = deepFreeze(w.fromStored(e[which]!, e.modRevision));
    return o;
  }

  /** Maps a storage event to a watch event through the filter: leaving the filter is DELETED, entering ADDED. */
  private translate<T extends StoredObject>(
    e: StorageWatchEvent,
    w: WatchRequest<T>,
  ): WatchEvent<T> | undefined {
    const current = this.objectOf(e, 'value', w);
    if (e.type === 'delete') return w.matches(current) ? { type: 'DELETED', object: current } : undefined;
    const nowMatches = w.matches(current);
    if (e.isCreate || !e.prevValue) return nowMatches ? { type: 'ADDED', object: current } : undefined;
    const wasMatching = w.matches(this.objectOf(e, 'prevValue', w));
    if (nowMatches && wasMatching) return { type: 'MODIFIED', object: current };
    if (nowMatches) return { type: 'ADDED', object: current };
    if (wasMatching) return { type: 'DELETED', object: current };
    return undefined;
  }
}
