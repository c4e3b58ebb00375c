/**
 * Reconcile and work-queue metrics under controller-runtime's names and labels, so dashboards built for
 * Go controllers read ours unchanged; shared by the operator and the Widget controller, which may run
 * in one process's registry each (a metric is registered once per registry and labelled by controller).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ControllerMetrics {
  controller: string;
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileTime: Histogram<'controller'>;
  queueDepth: Gauge<'name'>;
}

function registered<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createControllerMetrics(registry: Registry, controller: string): ControllerMetrics {
  return {
    controller,
    reconcileTotal: registered(
      registry,
      'controller_runtime_reconcile_total',
      () =>
        new Counter({
          name: 'controller_runtime_reconcile_total',
          help: 'Total number of reconciliations per controller',
          labelNames: ['controller', 'result'],
          registers: [registry],
        }),
    ),
    reconcileErrors: registered(
      registry,
      'controller_runtime_reconcile_errors_total',
      () =>
        new Counter({
          name: 'controller_runtime_reconcile_errors_total',
          help: 'Total number of reconciliation errors per controller',
          labelNames: ['controller'],
          registers: [registry],
        }),
    ),
    reconcileTime: registered(
      registry,
      'controller_runtime_reconcile_time_seconds',
      () =>
        new Histogram({
          name: 'controller_runtime_reconcile_time_seconds',
          help: 'Length of time per reconciliation per controller',
          labelNames: ['controller'],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
          registers: [registry],
        }),
    ),
    queueDepth: registered(
      registry,
      'workqueue_depth',
      () =>
        new Gauge({
          name: 'workqueue_depth',
          help: 'Current depth of workqueue',
          labelNames: ['name'],
          registers: [registry],
        }),
    ),
  };
}
