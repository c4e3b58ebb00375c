/**
 * The Widget server's view of the cluster's Namespaces, as client-go's shared namespace informer gives
 * kube-apiserver's admission plugins: a paged list, then a watch from the list's resourceVersion (with
 * bookmarks and a randomized server-side timeout, like a reflector), a relist on 410 Gone, and retries
 * with backoff on any failure. `hasSynced` turns true after the first complete list (the readiness
 * check); `lookup` is the live GET the NamespaceLifecycle plugin falls back to on a cache miss.
 */
import { randomInt } from 'node:crypto';
import { CoreV1Api, Watch, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { withTimeout } from '../../shared/with-timeout';

/** Page size of the list (client-go's reflector lists in pages of 500). */
const LIST_PAGE_SIZE = 500;
/** Client-side bound on the live GET and each list page: the delegated-auth client's 10 s. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Reflectors ask for watches of [5, 10) minutes so that dead connections are noticed and spread out. */
const MIN_WATCH_TIMEOUT_SECONDS = 300;

export interface NamespaceSource {
  readonly hasSynced: boolean;
  /** The cached namespace, undefined when the cache has not seen it. */
  get(name: string): V1Namespace | undefined;
  /** A live GET; resolves undefined when kube-apiserver answers 404. */
  lookup(name: string): Promise<V1Namespace | undefined>;
}

/** HTTP status of a failed client-node call (ApiException.code) or watch (statusCode). */
function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

export class NamespaceInformer implements NamespaceSource {
  private readonly core: CoreV1Api;
  private cache = new Map<string, V1Namespace>();
  private synced = false;
  private stopped = false;
  private resourceVersion = '';
  private abort?: AbortController;
  private retryTimer?: NodeJS.Timeout;
  /** Consecutive failures since an event last arrived: the backoff's exponent. */
  private failures = 0;

  constructor(
    private readonly kc: KubeConfig,
    private readonly logger: Logger,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(name: string): V1Namespace | undefined {
    return this.cache.get(name);
  }

  async lookup(name: string): Promise<V1Namespace | undefined> {
    try {
      return await withTimeout(
        this.core.readNamespace({ name }),
        `GET namespace ${name}`,
        REQUEST_TIMEOUT_MS,
      );
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Starts listing and watching in the background; `hasSynced` says when the first list is in. */
  start(): void {
    void this.listAndWatch();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private async list(): Promise<void> {
    const items = new Map<string, V1Namespace>();
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await withTimeout(
        this.core.listNamespace({ limit: LIST_PAGE_SIZE, _continue: cont }),
        'list namespaces',
        REQUEST_TIMEOUT_MS,
      );
      for (const ns of page.items) if (ns.metadata?.name) items.set(ns.metadata.name, ns);
      resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?._continue || undefined;
    } while (cont);
    // The cache is replaced whole: namespaces deleted while no watch ran disappear here.
    this.cache = items;
    this.resourceVersion = resourceVersion;
    this.synced = true;
  }

  private async listAndWatch(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.resourceVersion) await this.list();
      if (this.stopped) return;
      let gone = false;
      const watch = new Watch(this.kc);
      this.abort = await watch.watch(
        '/api/v1/namespaces',
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: MIN_WATCH_TIMEOUT_SECONDS + randomInt(MIN_WATCH_TIMEOUT_SECONDS),
        },
        (type: string, obj: V1Namespace & { code?: number }) => {
          this.failures = 0;
          if (type === 'ERROR') {
            // 410: our resourceVersion was compacted away; anything else also ends in a relist.
            gone = true;
            return;
          }
          const name = obj.metadata?.name;
          if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          if (!name) return;
          if (type === 'ADDED' || type === 'MODIFIED') this.cache.set(name, obj);
          else if (type === 'DELETED') this.cache.delete(name);
        },
        (err: unknown) => {
          if (this.stopped) return;
          if (gone || statusOf(err) === 410) this.resourceVersion = '';
          // A watch that ends cleanly (its timeout) resumes at once from the last resourceVersion.
          if (!err && !gone) void this.listAndWatch();
          else this.scheduleRetry(err ?? new Error('watch ended with an ERROR event; relisting'));
        },
      );
    } catch (err) {
      if (statusOf(err) === 410) this.resourceVersion = '';
      this.scheduleRetry(err);
    }
  }

  private scheduleRetry(err: unknown): void {
    if (this.stopped) return;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
    this.failures++;
    this.logger.warn({ err: String(err), retryInMs: delay }, 'namespace list/watch failed; retrying');
    this.retryTimer = setTimeout(() => void this.listAndWatch(), delay);
    this.retryTimer.unref();
  }
}
