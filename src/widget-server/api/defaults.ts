/**
 * Defaulting for Widgets: applied on every write before validation, from the schema's defaults
 * (apis/widgets), like a CRD's structural defaults.
 */
import { applyDefaults } from '../schema/defaults';
import { v1 } from '../apis/widgets/v1';
import type { Widget } from './types';

export { DEFAULT_REPLICAS } from '../apis/widgets/v1';

export function applyWidgetDefaults(w: Widget): void {
  w.spec ??= {} as Widget['spec'];
  applyDefaults(v1.object, w);
}
