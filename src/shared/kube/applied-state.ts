/**
 * Remembers what this process last server-side-applied to each object and the resourceVersion the apply
 * returned, so that an apply that cannot change anything is not sent. An apply of exactly the same
 * document, by the same field manager, to an object whose resourceVersion (as an informer's cache shows
 * it now) is still the one our last apply returned, is a no-op on the server: nobody has written the
 * object since, so there is no drift to repair. Any other write (another manager, a controller's status
 * update, a delete and re-create) changes the resourceVersion, and the next apply is sent.
 *
 * Why: a controller re-applies every object it owns on every pass (that is how drift is repaired), and
 * every change of any owned object's status starts a pass. kube-apiserver decodes, merges managed fields
 * and compares each of those applies even when nothing changes; with 20 AggregatedAPIs coming up at once
 * that was most of the operator's requests (issue 9).
 *
 * A cache that lags (it has not seen our apply yet, or shows an older object) never matches, so the
 * apply is sent: lag costs a request, never a missed repair. A change the cache has not seen yet is
 * repaired when its watch event arrives and starts the next pass.
 */
import { createHash } from 'node:crypto';
import type { KubeObject, ResourceRef } from './rest';

/** The object as an informer's cache holds it now, or undefined when it has none (or no informer). */
export type CachedObjectLookup = (
  ref: ResourceRef,
  namespace: string | undefined,
  name: string,
) => KubeObject | undefined;

interface Applied {
  digest: string;
  resourceVersion: string;
}

export class AppliedState {
  private readonly applied = new Map<string, Applied>();

  constructor(private readonly cached: CachedObjectLookup) {}

  /**
   * The cached object when applying `document` (to `path`, with `query`) now would change nothing; else
   * undefined, and the caller applies.
   */
  unchanged(
    ref: ResourceRef,
    path: string,
    document: KubeObject,
    query: Record<string, string | undefined>,
  ): KubeObject | undefined {
    const last = this.applied.get(path);
    if (!last) return undefined;
    const current = this.cached(ref, document.metadata?.namespace, document.metadata!.name!);
    if (!current) {
      this.applied.delete(path);
      return undefined;
    }
    if (current.metadata?.resourceVersion !== last.resourceVersion) return undefined;
    return last.digest === digest(document, query) ? current : undefined;
  }

  /** Records what an apply sent and the object it returned. */
  record(
    path: string,
    document: KubeObject,
    query: Record<string, string | undefined>,
    result: KubeObject | undefined,
  ): void {
    const resourceVersion = result?.metadata?.resourceVersion;
    if (resourceVersion) this.applied.set(path, { digest: digest(document, query), resourceVersion });
    else this.applied.delete(path);
  }

  /** Drops what is remembered under `pathPrefix` (an object and its subresources), e.g. once it is deleted. */
  forget(pathPrefix: string): void {
    for (const path of this.applied.keys()) {
      if (path === pathPrefix || path.startsWith(`${pathPrefix}/`)) this.applied.delete(path);
    }
  }

  get size(): number {
    return this.applied.size;
  }
}

function digest(document: KubeObject, query: Record<string, string | undefined>): string {
  return createHash('sha256')
    .update(JSON.stringify([document, query]))
    .digest('base64');
}
