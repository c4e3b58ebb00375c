/**
 * The Widget controller: makes each Widget run. Informers on Widgets (read through kube-apiserver, as
 * any controller reads an API), on the Deployments and pods it manages (by the managed-by label) feed a
 * work queue keyed by namespace/name; a worker applies the Widget's Deployment (deployment.ts) with
 * server-side apply and, when what its status should say (status.ts) differs from what it says, applies
 * the status through the status subresource. Deleted Widgets need nothing: the garbage collector
 * removes their Deployments, which the owner reference names.
 */
import type { Logger } from 'pino';
import type { ControllerMetrics } from '../shared/controller/metrics';
import { WorkQueue } from '../shared/controller/workqueue';
import { Informer, objectKey } from '../shared/kube/informer';
import {
  isNotFound,
  resourcePath,
  type KubeObject,
  type KubeRest,
  type ResourceRef,
} from '../shared/kube/rest';
import { rfc3339Seconds } from '../shared/time';
import type { Widget } from '../widget-server/api/types';
import { SCALE_SELECTOR_LABEL } from '../widget-server/api/scale';
import { desiredDeployment, MANAGED_BY, MANAGED_BY_LABEL } from './deployment';
import { statusEqual, widgetStatus, type DeploymentState, type PodState } from './status';

export const FIELD_MANAGER = 'widget-controller';
/** A Widget as the informer keeps it. */
type WidgetObject = Widget & KubeObject;
const DEPLOYMENT: ResourceRef = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  plural: 'deployments',
  namespaced: true,
};
const MANAGED = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

export interface WidgetControllerOptions {
  group: string;
  /** The Widget version the controller reads and writes. */
  version: string;
  workers?: number;
  now?: () => Date;
  /** controller-runtime's reconcile and work-queue metrics, labelled `widget`. */
  metrics?: ControllerMetrics;
}

export class WidgetController {
  private readonly queue = new WorkQueue({ baseDelayMs: 500, maxDelayMs: 60_000 });
  private readonly widgets: Informer<WidgetObject>;
  private readonly deployments: Informer<DeploymentState>;
  private readonly pods: Informer<PodState>;
  private readonly widgetRef: ResourceRef;
  private running?: Promise<void>;
  /** Settles once stop() is called: a start() still waiting for its informers gives up then. */
  private readonly stopping: Promise<'stopped'>;
  private markStopping: () => void = () => undefined;

  constructor(
    private readonly rest: KubeRest,
    private readonly options: WidgetControllerOptions,
    private readonly logger: Logger,
  ) {
    this.stopping = new Promise((resolve) => (this.markStopping = () => resolve('stopped')));
    this.widgetRef = {
      apiVersion: `${options.group}/${options.version}`,
      kind: 'Widget',
      plural: 'widgets',
      namespaced: true,
    };
    const enqueueOwner = (
      _type: string,
      o: { metadata?: { namespace?: string; labels?: Record<string, string> } },
    ) => {
      const name = o.metadata?.labels?.[SCALE_SELECTOR_LABEL];
      if (name && o.metadata?.namespace) this.queue.add(`${o.metadata.namespace}/${name}`);
    };
    this.widgets = new Informer<WidgetObject>(
      rest,
      { path: resourcePath(this.widgetRef), name: 'Widget' },
      logger.child({ informer: 'widgets' }),
    ).on((_type, w) => {
      const key = objectKey(w);
      if (key) this.queue.add(key);
    });
    this.deployments = new Informer<DeploymentState>(
      rest,
      { path: resourcePath(DEPLOYMENT), labelSelector: MANAGED, name: 'Deployment' },
      logger.child({ informer: 'deployments' }),
    ).on(enqueueOwner);
    this.pods = new Informer<PodState>(
      rest,
      { path: '/api/v1/pods', labelSelector: MANAGED, name: 'Pod' },
      logger.child({ informer: 'pods' }),
    ).on(enqueueOwner);
  }

  /**
   * Starts the informers and, once they have listed, the workers. Resolves without starting workers when
   * stop() comes first: until the server's own APIService is available its Widgets cannot be listed (the
   * list goes through kube-apiserver to this very server), and a shutdown then must not wait for a sync
   * that may never come.
   */
  async start(): Promise<void> {
    const informers = [this.widgets, this.deployments, this.pods];
    for (const i of informers) i.start();
    const synced = await Promise.race([Promise.all(informers.map((i) => i.synced)), this.stopping]);
    if (synced === 'stopped') return;
    this.logger.info({ widgets: this.widgets.list().length }, 'widget controller synced');
    const m = this.options.metrics;
    this.running = this.queue.run(
      this.options.workers ?? 2,
      async (key) => {
        const end = m?.reconcileTime.startTimer({ controller: m.controller });
        try {
          await this.reconcile(key);
          m?.reconcileTotal.inc({ controller: m.controller, result: 'success' });
        } finally {
          end?.();
          m?.queueDepth.set({ name: m.controller }, this.queue.length);
        }
      },
      (key, err, retryInMs) => {
        m?.reconcileTotal.inc({ controller: m.controller, result: 'error' });
        m?.reconcileErrors.inc({ controller: m.controller });
        this.logger.warn({ widget: key, err: (err as Error).message, retryInMs }, 'reconcile failed');
      },
    );
  }

  async stop(): Promise<void> {
    this.markStopping();
    this.queue.shutDown();
    for (const i of [this.widgets, this.deployments, this.pods]) i.stop();
    await this.running;
  }

  /** One Widget: its Deployment applied, then its status if it changed. */
  async reconcile(key: string): Promise<void> {
    const widget = this.widgets.get(key);
    if (!widget || widget.metadata.deletionTimestamp) return;
    const { namespace, name } = widget.metadata;
    const deployment = await this.rest.apply<DeploymentState>(
      DEPLOYMENT,
      desiredDeployment(widget, this.options.group, this.widgetRef.apiVersion),
      { fieldManager: FIELD_MANAGER },
    );
    const pods = this.pods
      .list()
      .filter(
        (p) => p.metadata?.namespace === namespace && p.metadata?.labels?.[SCALE_SELECTOR_LABEL] === name,
      );
    const now = rfc3339Seconds(this.options.now?.() ?? new Date());
    const status = widgetStatus(widget, deployment, pods, now);
    if (statusEqual(widget.status, status)) return;
    try {
      await this.rest.apply(
        this.widgetRef,
        {
          apiVersion: this.widgetRef.apiVersion,
          kind: 'Widget',
          metadata: { name, namespace },
          status,
        } as never,
        { fieldManager: FIELD_MANAGER, subresource: 'status' },
      );
    } catch (e) {
      // Deleted meanwhile: nothing to report.
      if (!isNotFound(e)) throw e;
    }
  }
}
