/**
 * Defaulting for Widgets: applied on every write before validation, like a CRD's structural defaults.
 */
import { DEFAULT_COLOR, type Widget } from './types';

/** One replica by default: a Widget with no replicas field still asks for something to run. */
export const DEFAULT_REPLICAS = 1;

export function applyWidgetDefaults(w: Widget): void {
  w.spec ??= {} as Widget['spec'];
  w.spec.color ??= DEFAULT_COLOR;
  w.spec.replicas ??= DEFAULT_REPLICAS;
}
