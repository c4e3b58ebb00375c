/**
 * The scale subresource's view of a Widget (autoscaling/v1 Scale). status.selector names the pods an
 * HPA should measure; Widgets label their workload `app.kubernetes.io/instance=<name>`.
 */
import type { Scale, Widget } from './types';

export const SCALE_SELECTOR_LABEL = 'app.kubernetes.io/instance';

export function widgetToScale(w: Widget): Scale {
  const m = w.metadata;
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: w.spec.replicas ?? 0 },
    // Observed replicas are the available ones: what the workload actually runs.
    status: { replicas: w.status?.availableReplicas ?? 0, selector: `${SCALE_SELECTOR_LABEL}=${m.name}` },
  };
}

export function applyScaleToWidget(w: Widget, s: Scale): Widget {
  w.spec.replicas = s.spec.replicas ?? 0;
  return w;
}
