/**
 * The Widget kind: its names, the versions it is served in (each a schema, conversion to and from the
 * hub type that the registry and storage work on, and printer columns), the storage version, its
 * strategy and its scale subresource. apis/index.ts lists it among the kinds the server serves.
 */
import type { Widget } from '../../api/types';
import { CATEGORIES, KIND, LIST_KIND, RESOURCE, SHORT_NAMES, SINGULAR } from '../../api/types';
import { applyScaleToWidget, widgetToScale } from '../../api/scale';
import { kindVersion, type KindDefinition, type KindVersion } from '../kind';
import { WIDGET_COLUMNS, WIDGET_COLUMNS_V1ALPHA1 } from './columns';
import { widgetStrategy } from './strategy';
import { SCALE_SCHEMA, v1 } from './v1';

export { SCALE_SCHEMA };
import { fromV1alpha1, toV1alpha1, v1alpha1 } from './v1alpha1';

export type WidgetVersion = KindVersion<Widget>;

const identity = {
  fromHub: (w: Widget) => w as unknown as Record<string, unknown>,
  toHub: (o: Record<string, unknown>) => o as unknown as Widget,
};

/** In kube's priority order: discovery lists them so, and the first is the preferred version. */
export const WIDGET_VERSIONS: readonly WidgetVersion[] = [
  { version: 'v1', schema: v1, ...identity, columns: WIDGET_COLUMNS },
  // v1beta1 has v1's fields: the same schema, its own name in type errors and definitions.
  { version: 'v1beta1', schema: v1, ...identity, columns: WIDGET_COLUMNS },
  {
    version: 'v1alpha1',
    schema: v1alpha1,
    fromHub: toV1alpha1,
    toHub: fromV1alpha1,
    columns: WIDGET_COLUMNS_V1ALPHA1,
  },
];

/** The version objects are written in, unless --storage-version says otherwise. */
export const DEFAULT_STORAGE_VERSION = 'v1';

export const WIDGET_VERSION_NAMES = WIDGET_VERSIONS.map((v) => v.version);

export const widgetKind: KindDefinition<Widget> = {
  names: {
    kind: KIND,
    listKind: LIST_KIND,
    resource: RESOURCE,
    namespaced: true,
    singular: SINGULAR,
    shortNames: SHORT_NAMES,
    categories: CATEGORIES,
  },
  versions: WIDGET_VERSIONS,
  hubVersion: 'v1',
  defaultStorageVersion: DEFAULT_STORAGE_VERSION,
  strategy: widgetStrategy,
  scale: { toScale: widgetToScale, applyScale: applyScaleToWidget, schema: SCALE_SCHEMA },
};

export function widgetSchemas(version: string): WidgetVersion['schema'] {
  return kindVersion(widgetKind, version).schema;
}
