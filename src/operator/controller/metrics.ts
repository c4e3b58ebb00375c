/**
 * The operator's Prometheus metrics. Reconcile and work-queue metrics use controller-runtime's names and
 * labels, so dashboards built for Go operators read this one unchanged; the rest are the operator's own.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function createOperatorMetrics(registry: Registry, controller = 'aggregatedapi') {
  const reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'],
    registers: [registry],
  });
  const reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'],
    registers: [registry],
  });
  const reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: ['name'],
    registers: [registry],
  });
  // Expiry times are stored; seconds-until-expiry is computed at scrape time so it never goes stale.
  const notAfter = new Map<string, { aggregatedapi: string; certificate: string; at: number }>();
  const certificateExpiry = new Gauge({
    name: 'aggregator_operator_certificate_expiry_seconds',
    help: 'Seconds until a certificate of an AggregatedAPI expires (certificate: ca or serving)',
    labelNames: ['aggregatedapi', 'certificate'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { aggregatedapi, certificate, at } of notAfter.values()) {
        this.set({ aggregatedapi, certificate }, (at - Date.now()) / 1000);
      }
    },
  });
  const apiServicesOf = new Map<string, Set<string>>();
  const apiServiceAvailable = new Gauge({
    name: 'aggregator_operator_apiservice_available',
    help: 'Whether an APIService of an AggregatedAPI reports Available=True (1) or not (0)',
    labelNames: ['aggregatedapi', 'apiservice'],
    registers: [registry],
  });
  const ready = new Gauge({
    name: 'aggregator_operator_aggregatedapi_ready',
    help: 'Whether an AggregatedAPI reports Ready=True (1) or not (0)',
    labelNames: ['aggregatedapi'],
    registers: [registry],
  });
  const leader = new Gauge({
    name: 'aggregator_operator_leader',
    help: 'Whether this operator replica holds the leader lease (1) or not (0)',
    registers: [registry],
  });
  return {
    controller,
    reconcileTotal,
    reconcileErrors,
    reconcileTime,
    queueDepth,
    certificateExpiry,
    setCertificateNotAfter(aggregatedapi: string, certificate: 'ca' | 'serving', at: Date): void {
      notAfter.set(`${aggregatedapi}/${certificate}`, { aggregatedapi, certificate, at: at.getTime() });
    },
    apiServiceAvailable,
    /** Sets the availability of an AggregatedAPI's APIServices, dropping those it no longer has. */
    setApiServicesAvailable(aggregatedapi: string, available: Map<string, boolean>): void {
      for (const apiservice of apiServicesOf.get(aggregatedapi) ?? []) {
        if (!available.has(apiservice)) apiServiceAvailable.remove({ aggregatedapi, apiservice });
      }
      for (const [apiservice, up] of available)
        apiServiceAvailable.set({ aggregatedapi, apiservice }, up ? 1 : 0);
      apiServicesOf.set(aggregatedapi, new Set(available.keys()));
    },
    ready,
    leader,
    /** Drops every series of a deleted AggregatedAPI. */
    forget(name: string): void {
      for (const key of [...notAfter.keys()]) if (key.startsWith(`${name}/`)) notAfter.delete(key);
      ready.remove({ aggregatedapi: name });
      for (const apiservice of apiServicesOf.get(name) ?? []) {
        apiServiceAvailable.remove({ aggregatedapi: name, apiservice });
      }
      apiServicesOf.delete(name);
    },
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
