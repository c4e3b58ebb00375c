/**
 * The operator's Prometheus metrics: the reconcile and work-queue metrics every controller has
 * (shared/controller/metrics.ts, controller-runtime's names), and the operator's own.
 */
import { Gauge, type Registry } from 'prom-client';
import { createControllerMetrics } from '../../shared/controller/metrics';

export function createOperatorMetrics(registry: Registry, controller = 'aggregatedapi') {
  const { reconcileTotal, reconcileErrors, reconcileTime, queueDepth } = createControllerMetrics(
    registry,
    controller,
  );
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
  // Exported beside the expiry so that an alert can compare the two per AggregatedAPI: the renew window
  // is each API's own (spec.certificates), and the CA's is wider than renewBefore (certificatePolicy).
  const certificateRenewBefore = new Gauge({
    name: 'aggregator_operator_certificate_renew_before_seconds',
    help: 'Seconds before expiry at which the operator renews a certificate of an AggregatedAPI (certificate: ca or serving)',
    labelNames: ['aggregatedapi', 'certificate'],
    registers: [registry],
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
    certificateRenewBefore,
    /**
     * Records when a certificate expires and how long before that the operator renews it (the policy's
     * renewBeforeMs for serving, caRenewBeforeMs for the CA): one call, so the two never disagree.
     */
    setCertificateNotAfter(
      aggregatedapi: string,
      certificate: 'ca' | 'serving',
      at: Date,
      renewBeforeMs: number,
    ): void {
      notAfter.set(`${aggregatedapi}/${certificate}`, { aggregatedapi, certificate, at: at.getTime() });
      certificateRenewBefore.set({ aggregatedapi, certificate }, renewBeforeMs / 1000);
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
      for (const certificate of ['ca', 'serving'])
        certificateRenewBefore.remove({ aggregatedapi: name, certificate });
      ready.remove({ aggregatedapi: name });
      for (const apiservice of apiServicesOf.get(name) ?? []) {
        apiServiceAvailable.remove({ aggregatedapi: name, apiservice });
      }
      apiServicesOf.delete(name);
    },
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
