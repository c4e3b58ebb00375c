/**
 * Kubernetes Events (core/v1) about AggregatedAPIs, so `kubectl describe aggregatedapi` and event-based
 * alerting see what the operator did. AggregatedAPIs are cluster-scoped; their Events go to `default`,
 * as kube-apiserver's own components do for cluster-scoped objects.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { EVENT } from './kinds';
import type { KubeObject, KubeRest } from '../../shared/kube/rest';

export const EVENT_NAMESPACE = 'default';

export class EventRecorder {
  constructor(
    private readonly rest: KubeRest,
    private readonly instance: string,
    private readonly logger: Logger,
  ) {}

  async record(
    object: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date().toISOString();
    const name = `${object.metadata?.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
    this.logger.info({ aggregatedAPI: object.metadata?.name, type, reason, eventMessage: message }, 'event');
    try {
      await this.rest.create(EVENT, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: EVENT_NAMESPACE },
        involvedObject: {
          apiVersion: object.apiVersion,
          kind: object.kind,
          name: object.metadata?.name,
          uid: object.metadata?.uid,
          resourceVersion: object.metadata?.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: 'aggregator-operator' },
        reportingComponent: 'aggregator-operator',
        reportingInstance: this.instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (e) {
      this.logger.warn({ err: String(e), reason }, 'could not record event');
    }
  }
}
