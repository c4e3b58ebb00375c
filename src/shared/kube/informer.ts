/**
 * A list-and-watch cache of one collection, as client-go's reflector and informer keep one: a paged list,
 * then a watch from the list's resourceVersion with bookmarks and a randomized server-side timeout, a
 * relist when the watch's resourceVersion is too old (410 Gone, or an ERROR event), and retries with
 * capped exponential backoff on any failure. A relist reports what changed while no watch ran (adds,
 * updates and deletes against the cache), so handlers see every change as an event. Used by the
 * operator (AggregatedAPIs and the kinds they own) and the Widget server (Namespaces, the
 * authentication ConfigMap).
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { KubeApiError, type KubeObject, type KubeRest } from './rest';

/** client-go's reflector lists in pages of 500. */
const LIST_PAGE_SIZE = 500;
/** Reflectors ask for watches of [5, 10) minutes so that dead connections are noticed and spread out. */
const MIN_WATCH_TIMEOUT_SECONDS = 300;
const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
const VERY_SHORT_WATCH_MS = 1000;

export type ChangeType = 'add' | 'update' | 'delete';
export type ChangeHandler<T> = (type: ChangeType, object: T) => void;

export interface InformerOptions {
  /** The collection's path, e.g. /api/v1/namespaces or /api/v1/namespaces/kube-system/configmaps. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Per list page and per GET (default 30 s). */
  requestTimeoutMs?: number;
  /** Names the informer in logs (the kind). */
  name: string;
}

/** The cache key: namespace/name, or name for cluster-scoped objects (client-go's MetaNamespaceKeyFunc). */
export function objectKey(object: KubeObject): string | undefined {
  const name = object.metadata?.name;
  if (!name) return undefined;
  return object.metadata?.namespace ? `${object.metadata.namespace}/${name}` : name;
}

export class Informer<T extends KubeObject = KubeObject> {
  private cache = new Map<string, T>();
  private readonly handlers: ChangeHandler<T>[] = [];
  private resourceVersion = '';
  private listed = false;
  private stopped = false;
  private abort?: AbortController;
  private retryTimer?: NodeJS.Timeout;
  /** Consecutive failures since an event last arrived: the backoff's exponent. */
  private failures = 0;
  private markSynced: () => void = () => undefined;
  /** Resolves after the first complete list. */
  readonly synced = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(
    private readonly rest: KubeRest,
    private readonly options: InformerOptions,
    private readonly logger: Logger,
  ) {}

  get hasSynced(): boolean {
    return this.listed;
  }

  /** Handlers added before start() see the first list as adds. */
  on(handler: ChangeHandler<T>): this {
    this.handlers.push(handler);
    return this;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  start(): this {
    void this.listAndWatch();
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private emit(type: ChangeType, object: T): void {
    for (const handler of this.handlers) {
      try {
        handler(type, object);
      } catch (err) {
        this.logger.error({ informer: this.options.name, err: String(err) }, 'change handler failed');
      }
    }
  }

  private async relist(): Promise<void> {
    const items = new Map<string, T>();
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.rest.request<{
        metadata?: { resourceVersion?: string; continue?: string };
        items?: T[];
      }>('GET', this.options.path, {
        query: {
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
          limit: String(LIST_PAGE_SIZE),
          continue: cont,
        },
        timeoutMs: this.options.requestTimeoutMs,
        signal: this.abort?.signal,
      });
      for (const item of page.items ?? []) {
        const key = objectKey(item);
        if (key) items.set(key, item);
      }
      resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?.continue || undefined;
    } while (cont);
    // What changed while no watch ran: the cache is replaced whole, and handlers hear the difference.
    const previous = this.cache;
    this.cache = items;
    this.resourceVersion = resourceVersion;
    for (const [key, item] of items) {
      const old = previous.get(key);
      if (!old) this.emit('add', item);
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.emit('update', item);
    }
    for (const [key, old] of previous) if (!items.has(key)) this.emit('delete', old);
    if (!this.listed) {
      this.listed = true;
      this.markSynced();
    }
  }

  private apply(type: string, object: T): void {
    if (object.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
    if (type === 'BOOKMARK') return;
    const key = objectKey(object);
    if (!key) return;
    if (type === 'ADDED' || type === 'MODIFIED') {
      const existed = this.cache.has(key);
      this.cache.set(key, object);
      this.emit(existed ? 'update' : 'add', object);
    } else if (type === 'DELETED') {
      this.cache.delete(key);
      this.emit('delete', object);
    }
  }

  private async listAndWatch(): Promise<void> {
    if (this.stopped) return;
    this.abort = new AbortController();
    try {
      if (!this.resourceVersion) await this.relist();
      if (this.stopped) return;
      let errorEvent: { code?: number; message?: string } | undefined;
      const watchStarted = Date.now();
      let events = 0;
      await this.rest.watch<T>(
        this.options.path,
        {
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: 'true',
          timeoutSeconds: String(MIN_WATCH_TIMEOUT_SECONDS + randomInt(MIN_WATCH_TIMEOUT_SECONDS)),
        },
        (event) => {
          this.failures = 0;
          events++;
          if (event.type === 'ERROR') {
            errorEvent = event.object as { code?: number; message?: string };
            return 'stop';
          }
          this.apply(event.type, event.object);
          return undefined;
        },
        this.abort.signal,
      );
      if (this.stopped) return;
      if (errorEvent) {
        // 410: our resourceVersion was compacted away; any other ERROR also ends in a relist.
        this.resourceVersion = '';
        this.scheduleRetry(
          new Error(`watch ERROR event ${errorEvent.code ?? ''}: ${errorEvent.message ?? ''}`),
        );
        return;
      }
      // client-go's reflector treats a watch that ends within a second with no events as a failure, so
      // a server that closes watches at once cannot make it spin.
      if (events === 0 && Date.now() - watchStarted < VERY_SHORT_WATCH_MS) {
        this.scheduleRetry(new Error('very short watch: closed within a second with no events'));
        return;
      }
      // A watch that ended cleanly (its timeout) resumes at once from the last resourceVersion.
      void this.listAndWatch();
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 410) this.resourceVersion = '';
      this.scheduleRetry(err);
    }
  }

  private scheduleRetry(err: unknown): void {
    if (this.stopped) return;
    const delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.min(this.failures, 6));
    this.failures++;
    this.logger.warn(
      {
        informer: this.options.name,
        err: err instanceof Error ? err.message : String(err),
        retryInMs: delay,
      },
      'list/watch failed; retrying',
    );
    this.retryTimer = setTimeout(() => void this.listAndWatch(), delay);
    this.retryTimer.unref();
  }
}
