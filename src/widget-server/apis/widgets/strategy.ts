/**
 * The Widget's rules for the generic store (registry/generic/strategy.ts): a new Widget starts
 * Pending with its status set by the server, writes to the main resource never change status and
 * bump metadata.generation when the spec changes, the status subresource changes status only, and
 * status.phase is selectable by field selectors.
 */
import { jsonEqual } from '../../../shared/json-equal';
import { applyWidgetDefaults } from '../../api/defaults';
import type { Widget } from '../../api/types';
import { validateWidgetCreate, validateWidgetStatus, validateWidgetUpdate } from '../../api/validation';
import type { KindStrategy } from '../../registry/generic/strategy';
import { WIDGET_SELECTABLE_FIELDS, widgetFields } from '../../api/selectors';

export const widgetStrategy: KindStrategy<Widget> = {
  defaults: applyWidgetDefaults,
  prepareForCreate(w, now) {
    // Writes to the main resource never set status; a new Widget starts Pending.
    w.status = { phase: 'Pending', availableReplicas: 0, lastUpdated: now };
  },
  validate: validateWidgetCreate,
  prepareForUpdate(next, current) {
    next.status = current.status;
    if (!jsonEqual(next.spec, current.spec)) {
      next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    }
  },
  validateUpdate: validateWidgetUpdate,
  status: {
    prepareForUpdate(incoming, current, now) {
      // Status writes change status only (apiextensions' status strategy): everything else stays.
      const next = structuredClone(current);
      next.status = incoming.status;
      if (next.status && !jsonEqual(next.status, current.status)) {
        const clientSetTime = next.status.lastUpdated !== current.status?.lastUpdated;
        if (!clientSetTime) next.status.lastUpdated = now;
      }
      return next;
    },
    validateUpdate: (next) => validateWidgetStatus(next),
  },
  fields: widgetFields,
  selectableFields: WIDGET_SELECTABLE_FIELDS,
};
