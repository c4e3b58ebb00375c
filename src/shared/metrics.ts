/**
 * Prometheus metrics (prom-client): the process registry and the API server request metrics under
 * kube-apiserver's names, labels and buckets (k8s.io/apiserver pkg/endpoints/metrics), so existing
 * dashboards and alerts for aggregated APIs work unchanged.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface RequestObservation {
  verb: string;
  dryRun: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  scope: string;
  code: number;
  seconds: number;
}

const REQUEST_DURATION_BUCKETS = [
  0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
];

export function createApiServerMetrics(registry: Registry) {
  const requestTotal = new Counter({
    name: 'apiserver_request_total',
    help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
    labelNames: [
      'verb',
      'dry_run',
      'group',
      'version',
      'resource',
      'subresource',
      'scope',
      'component',
      'code',
    ],
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: 'apiserver_request_duration_seconds',
    help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
    labelNames: ['verb', 'dry_run', 'group', 'version', 'resource', 'subresource', 'scope', 'component'],
    buckets: REQUEST_DURATION_BUCKETS,
    registers: [registry],
  });
  const currentInflightRequests = new Gauge({
    name: 'apiserver_current_inflight_requests',
    help: 'Maximal number of currently used inflight request limit of this apiserver per request kind in last second.',
    labelNames: ['request_kind'],
    registers: [registry],
  });
  const longrunningRequests = new Gauge({
    name: 'apiserver_longrunning_requests',
    help: 'Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.',
    labelNames: ['verb', 'group', 'version', 'resource', 'scope'],
    registers: [registry],
  });
  const droppedRequests = new Counter({
    name: 'apiserver_dropped_requests_total',
    help: "Number of requests dropped with 'Too many requests' error response.",
    labelNames: ['request_kind'],
    registers: [registry],
  });
  const terminatedWatchers = new Counter({
    name: 'apiserver_terminated_watchers_total',
    help: 'Counter of watchers closed due to unresponsiveness broken by resource type.',
    labelNames: ['group', 'resource'],
    registers: [registry],
  });
  return {
    requestTotal,
    requestDuration,
    currentInflightRequests,
    longrunningRequests,
    droppedRequests,
    terminatedWatchers,
    observeRequest(o: RequestObservation): void {
      const labels = {
        verb: o.verb,
        dry_run: o.dryRun,
        group: o.group,
        version: o.version,
        resource: o.resource,
        subresource: o.subresource,
        scope: o.scope,
        component: 'apiserver',
      };
      requestTotal.inc({ ...labels, code: String(o.code) });
      requestDuration.observe(labels, o.seconds);
    },
  };
}

export type ApiServerMetrics = ReturnType<typeof createApiServerMetrics>;
