/**
 * The Widget server's view of the cluster's Namespaces, as client-go's shared namespace informer gives
 * kube-apiserver's admission plugins (the shared Informer: paged list, watch with bookmarks, relist on
 * 410, backoff). `hasSynced` turns true after the first complete list (the readiness check); `lookup` is
 * the live GET the NamespaceLifecycle plugin falls back to on a cache miss.
 */
import type { Logger } from 'pino';
import { Informer } from '../../shared/kube/informer';
import { isNotFound, type KubeObject, type KubeRest } from '../../shared/kube/rest';

/** Client-side bound on the live GET and each list page: the delegated-auth client's 10 s. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface Namespace extends KubeObject {
  status?: { phase?: string };
}

export interface NamespaceSource {
  readonly hasSynced: boolean;
  /** The cached namespace, undefined when the cache has not seen it. */
  get(name: string): Namespace | undefined;
  /** A live GET; resolves undefined when kube-apiserver answers 404. */
  lookup(name: string): Promise<Namespace | undefined>;
}

export class NamespaceInformer implements NamespaceSource {
  private readonly informer: Informer<Namespace>;

  constructor(
    private readonly rest: KubeRest,
    logger: Logger,
  ) {
    this.informer = new Informer<Namespace>(
      rest,
      { path: '/api/v1/namespaces', requestTimeoutMs: REQUEST_TIMEOUT_MS, name: 'Namespace' },
      logger,
    );
  }

  get hasSynced(): boolean {
    return this.informer.hasSynced;
  }

  get(name: string): Namespace | undefined {
    return this.informer.get(name);
  }

  async lookup(name: string): Promise<Namespace | undefined> {
    try {
      return await this.rest.request<Namespace>('GET', `/api/v1/namespaces/${encodeURIComponent(name)}`, {
        timeoutMs: REQUEST_TIMEOUT_MS,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Starts listing and watching in the background; `hasSynced` says when the first list is in. */
  start(): void {
    this.informer.start();
  }

  stop(): void {
    this.informer.stop();
  }
}
