/**
 * Widget v1 (also served as v1beta1, which has the same fields): the schema every derived piece of the
 * Widget API is made from, and the hub (internal) type that storage and the registry work on.
 */
import { condition, scaleSchema, topLevelSchemas } from '../meta/v1';
import {
  array,
  field,
  int32,
  map,
  object,
  string,
  type Infer,
  type NamedType,
  type ObjectNode,
} from '../../schema/schema';

export const WIDGET_COLORS = [
  'blue',
  'green',
  'red',
  'yellow',
  'purple',
  'orange',
  'black',
  'white',
] as const;
export const DEFAULT_COLOR = 'blue';
export const WIDGET_PHASES = ['Pending', 'Running', 'Failed'] as const;
export const MIN_REPLICAS = 0;
export const MAX_REPLICAS = 100;
/** One replica by default: a Widget with no replicas field still asks for something to run. */
export const DEFAULT_REPLICAS = 1;

const api = (name: string, description: string, kind?: string): NamedType => ({
  pkg: 'api',
  name,
  description,
  kind,
});

export const IMAGE_DOC =
  'Image is the container image the Widget runs, as a valid image reference (registry/path:tag or @sha256 digest).';

export const replicasField = (name: string) =>
  int32(
    `${name} is the desired number of instances, ${MIN_REPLICAS} to ${MAX_REPLICAS}. Defaults to ${DEFAULT_REPLICAS}. Scalable through the scale subresource.`,
    { minimum: MIN_REPLICAS, maximum: MAX_REPLICAS, default: DEFAULT_REPLICAS },
  );

/** The resources a Widget's instances may name: what the kubelet and an HPA account for. */
export const WIDGET_RESOURCE_NAMES = ['cpu', 'memory', 'ephemeral-storage'] as const;

const quantities = (description: string) =>
  map(
    string('A quantity, e.g. 250m (CPU) or 128Mi (memory).'),
    `${description} Keys: ${WIDGET_RESOURCE_NAMES.join(', ')}.`,
  );

/** Each instance's resources, as a container's: an HPA's CPU utilisation is relative to the request. */
export const widgetResources = object(
  {
    requests: quantities(
      'Requests are what each instance is guaranteed; a HorizontalPodAutoscaler measures CPU utilisation against the CPU request.',
    ),
    limits: quantities('Limits are the most each instance may use; a request may not exceed its limit.'),
  },
  {
    named: api(
      'WidgetResources',
      'WidgetResources are the compute resources of each instance of a Widget (core/v1 ResourceRequirements: requests and limits).',
    ),
  },
);

export const resourcesField = field(
  widgetResources,
  'Resources of each instance: requests and limits of cpu, memory and ephemeral-storage.',
);

export const widgetSpec = object(
  {
    image: string(IMAGE_DOC),
    replicas: replicasField('Replicas'),
    resources: resourcesField,
    color: string(`Color of the Widget. One of ${WIDGET_COLORS.join(', ')}. Defaults to ${DEFAULT_COLOR}.`, {
      enum: WIDGET_COLORS,
      default: DEFAULT_COLOR,
    }),
  },
  { required: ['image'], named: api('WidgetSpec', 'WidgetSpec is the desired state of a Widget.') },
);

export const widgetStatus = object(
  {
    phase: string(
      `Phase summarizes the Widget's lifecycle: ${WIDGET_PHASES.join(', ')}. Pending when created.`,
      {
        enum: WIDGET_PHASES,
      },
    ),
    availableReplicas: int32('AvailableReplicas is the number of instances ready to serve.', { minimum: 0 }),
    lastUpdated: string('LastUpdated is when the status last changed.', { format: 'date-time' }),
    conditions: array(condition, 'Conditions are the latest observations of the Widget, one per type.', {
      listType: 'map',
      listMapKeys: ['type'],
      patchStrategy: 'merge',
      patchMergeKey: 'type',
    }),
  },
  { named: api('WidgetStatus', 'WidgetStatus is the observed state of a Widget.') },
);

/** The top-level kind and its list, around a version's spec and status. */
export function kindSchemas<S extends ObjectNode>(spec: S) {
  return topLevelSchemas({
    kind: 'Widget',
    listKind: 'WidgetList',
    description: 'Widget is a namespaced, scalable unit of work served by the Widget extension API server.',
    spec,
    status: widgetStatus,
  });
}

export const v1 = kindSchemas(widgetSpec);

/** The scale subresource's Scale, with the Widget's replica bounds. */
export const SCALE_SCHEMA = scaleSchema({ minimum: MIN_REPLICAS, maximum: MAX_REPLICAS });

export type WidgetSpec = Infer<typeof widgetSpec>;
export type WidgetStatus = Infer<typeof widgetStatus>;
export type WidgetColor = (typeof WIDGET_COLORS)[number];
export type WidgetPhase = (typeof WIDGET_PHASES)[number];
