/**
 * The Deployment a Widget runs as: in the Widget's namespace and of its name, owned by it (the garbage
 * collector removes it with the Widget), its pods labelled `app.kubernetes.io/instance=<widget>` as the
 * scale subresource's selector says (so an HPA finds their metrics), the Widget's image and replicas,
 * its resources, and its color as a label. Applied by the controller with server-side apply, so fields others own
 * (an HPA does not touch it; a user's extra labels) are left alone.
 */
import { SCALE_SELECTOR_LABEL } from '../widget-server/api/scale';
import type { Widget } from '../widget-server/api/types';
import type { KubeObject } from '../shared/kube/rest';

export const NAME_LABEL = 'app.kubernetes.io/name';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'widget-controller';
/** The container every Widget pod runs its image in. */
export const CONTAINER = 'widget';

export function colorLabel(group: string): string {
  return `${group}/color`;
}

/** The labels that select a Widget's pods: its Deployment's selector and the Scale's. */
export function selectorLabels(widget: Widget): Record<string, string> {
  return { [NAME_LABEL]: 'widget', [SCALE_SELECTOR_LABEL]: widget.metadata.name! };
}

export function desiredDeployment(widget: Widget, group: string, apiVersion: string): KubeObject {
  const labels = {
    ...selectorLabels(widget),
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [colorLabel(group)]: widget.spec.color ?? '',
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: widget.metadata.name,
      namespace: widget.metadata.namespace,
      labels,
      ownerReferences: [
        {
          apiVersion,
          kind: 'Widget',
          name: widget.metadata.name!,
          uid: widget.metadata.uid!,
          controller: true,
        },
      ],
    },
    spec: {
      replicas: widget.spec.replicas ?? 1,
      selector: { matchLabels: selectorLabels(widget) },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: CONTAINER,
              image: widget.spec.image,
              // An HPA's CPU utilisation is relative to the request.
              ...(widget.spec.resources ? { resources: widget.spec.resources } : {}),
            },
          ],
        },
      },
    },
  };
}
