/**
 * The Widget kind: its names, the versions it is served in (each a schema plus conversion to and from
 * the hub type that the registry and storage work on), the storage version, and what every version
 * shares (printer columns over the hub, selectable fields, the Scale bounds). Adding a version is a
 * schema file and an entry in WIDGET_VERSIONS; docs/adding-a-kind.md says the rest.
 */
import type { ObjectNode } from '../../schema/schema';
import type { Widget } from '../../api/types';
import { scaleSchema } from '../meta/v1';
import { MAX_REPLICAS, MIN_REPLICAS, v1 } from './v1';
import { fromV1alpha1, toV1alpha1, v1alpha1 } from './v1alpha1';

export interface WidgetVersion {
  version: string;
  schema: { widget: ObjectNode; list: ObjectNode };
  /** The hub object as this version (a new object; the hub is not changed). apiVersion is the caller's. */
  fromHub(w: Widget): Record<string, unknown>;
  /** A decoded object of this version as the hub type (a new object). */
  toHub(o: Record<string, unknown>): Widget;
}

const identity = {
  fromHub: (w: Widget) => w as unknown as Record<string, unknown>,
  toHub: (o: Record<string, unknown>) => o as unknown as Widget,
};

/** In kube's priority order: discovery lists them so, and the first is the preferred version. */
export const WIDGET_VERSIONS: readonly WidgetVersion[] = [
  { version: 'v1', schema: v1, ...identity },
  // v1beta1 has v1's fields: the same schema, its own name in type errors and definitions.
  { version: 'v1beta1', schema: v1, ...identity },
  { version: 'v1alpha1', schema: v1alpha1, fromHub: toV1alpha1, toHub: fromV1alpha1 },
];

/** The version objects are written in, unless --storage-version says otherwise. */
export const DEFAULT_STORAGE_VERSION = 'v1';

export const WIDGET_VERSION_NAMES = WIDGET_VERSIONS.map((v) => v.version);

export function widgetVersion(version: string): WidgetVersion | undefined {
  return WIDGET_VERSIONS.find((v) => v.version === version);
}

export function widgetSchemas(version: string): WidgetVersion['schema'] {
  const found = widgetVersion(version);
  if (!found) throw new Error(`Widget is not served in version ${version}`);
  return found.schema;
}

export const SCALE_SCHEMA = scaleSchema({ minimum: MIN_REPLICAS, maximum: MAX_REPLICAS });
