/**
 * The AggregatedAPI controller: informers on AggregatedAPIs and on every kind they own (selected by the
 * managed-by label and mapped back to their owner by the owner label) feed a de-duplicating,
 * rate-limited work queue that workers drain through the reconciler. Besides the requeue times the
 * reconciler asks for, every AggregatedAPI is resynced periodically.
 */
import type { Logger } from 'pino';
import { API_VERSION, KIND, MANAGED_BY, MANAGED_BY_LABEL, OWNER_LABEL } from '../api/aggregated-api';
import { AGGREGATED_API, OWNED_KINDS } from '../kube/kinds';
import { Informer } from '../../shared/kube/informer';
import type { AppliedState } from '../../shared/kube/applied-state';
import { resourcePath, type KubeObject, type KubeRest, type ResourceRef } from '../../shared/kube/rest';
import type { Reconciler } from '../reconcile/reconciler';
import type { OperatorMetrics } from './metrics';
import { WorkQueue } from '../../shared/controller/workqueue';

export const FULL_RESYNC_MS = 10 * 60_000;

export class Controller {
  private readonly queue = new WorkQueue({ baseDelayMs: 1000, maxDelayMs: 5 * 60_000 });
  private informers: Informer[] = [];
  /** The informer of each kind, by its collection path, for cached(). */
  private readonly byKind = new Map<string, Informer>();
  private resyncTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  synced = false;

  constructor(
    private readonly rest: KubeRest,
    private readonly reconciler: Reconciler,
    private readonly metrics: OperatorMetrics,
    private readonly logger: Logger,
    /** What the reconciler's client last applied: forgotten for objects the informers see deleted. */
    private readonly applied?: AppliedState,
  ) {}

  /**
   * The object as this controller's informer of its kind holds it now: undefined before the informers
   * run, for kinds it does not watch, and for objects without the managed-by label.
   */
  cached(ref: ResourceRef, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.byKind.get(resourcePath(ref))?.get(namespace ? `${namespace}/${name}` : name);
  }

  async start(workers: number): Promise<void> {
    const parents = new Informer(
      this.rest,
      { path: resourcePath(AGGREGATED_API), name: AGGREGATED_API.kind },
      this.logger,
    ).on((type, obj) => {
      if (type === 'delete') this.forgetApplied(AGGREGATED_API, obj);
      if (obj.metadata?.name) this.enqueue(obj.metadata.name);
    });
    this.informers.push(parents);
    this.byKind.set(resourcePath(AGGREGATED_API), parents);
    for (const kind of OWNED_KINDS) {
      const informer = new Informer(
        this.rest,
        { path: resourcePath(kind), labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`, name: kind.kind },
        this.logger,
      );
      this.byKind.set(resourcePath(kind), informer);
      this.informers.push(
        informer.on((type, obj) => {
          if (type === 'delete') this.forgetApplied(kind, obj);
          // An object whose labels another actor replaced leaves the label-selected watch as a
          // DELETED event without them; its controller reference still names the owner to repair it.
          const owner =
            obj.metadata?.labels?.[OWNER_LABEL] ??
            obj.metadata?.ownerReferences?.find(
              (o) => o.controller && o.apiVersion === API_VERSION && o.kind === KIND,
            )?.name;
          if (owner) this.enqueue(owner);
        }),
      );
    }
    for (const informer of this.informers) informer.start();
    await Promise.all(this.informers.map((i) => i.synced));
    this.synced = true;
    this.logger.info({ kinds: this.informers.length }, 'informers synced');
    this.resyncTimer = setInterval(() => {
      for (const obj of parents.list()) if (obj.metadata?.name) this.enqueue(obj.metadata.name);
    }, FULL_RESYNC_MS);
    this.resyncTimer.unref();
    this.running = this.queue.run(
      workers,
      async (name) => {
        const end = this.metrics.reconcileTime.startTimer({ controller: this.metrics.controller });
        try {
          const result = await this.reconciler.reconcile(name);
          this.metrics.reconcileTotal.inc({
            controller: this.metrics.controller,
            result: result?.requeueAfterMs !== undefined ? 'requeue_after' : 'success',
          });
          return result;
        } finally {
          end();
          this.metrics.queueDepth.set({ name: this.metrics.controller }, this.queue.length);
        }
      },
      (name, err, retryInMs) => {
        this.metrics.reconcileTotal.inc({ controller: this.metrics.controller, result: 'error' });
        this.metrics.reconcileErrors.inc({ controller: this.metrics.controller });
        this.logger.error(
          { aggregatedAPI: name, err: err instanceof Error ? err.message : String(err), retryInMs },
          'reconcile failed',
        );
      },
    );
  }

  private forgetApplied(kind: ResourceRef, obj: KubeObject): void {
    if (obj.metadata?.name) {
      this.applied?.forget(resourcePath(kind, obj.metadata.namespace, obj.metadata.name));
    }
  }

  private enqueue(name: string): void {
    this.queue.add(name);
    this.metrics.queueDepth.set({ name: this.metrics.controller }, this.queue.length);
  }

  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.queue.shutDown();
    for (const informer of this.informers) informer.stop();
    await this.running;
  }
}
