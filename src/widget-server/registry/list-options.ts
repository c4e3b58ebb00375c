/**
 * List and watch options as kube-apiserver validates them (metav1.ListOptions plus the
 * internalversion validation rules), and the continue token, which carries the snapshot revision and
 * the key to resume after, base64-encoded JSON like kube-apiserver's own.
 */
import { badRequest, expired, invalid, type FieldError } from '../../shared/status-errors';
import {
  parseFieldSelector,
  parseLabelSelector,
  WIDGET_SELECTABLE_FIELDS,
  type FieldSelector,
  type LabelSelector,
} from '../api/selectors';

export type ResourceVersionMatch = 'Exact' | 'NotOlderThan';

export interface ListQuery {
  labelSelector?: LabelSelector;
  fieldSelector?: FieldSelector;
  labelSelectorText?: string;
  fieldSelectorText?: string;
  /** Undefined means "" (a consistent, latest read). */
  resourceVersion?: string;
  resourceVersionMatch?: ResourceVersionMatch;
  limit?: number;
  continue?: string;
  watch: boolean;
  allowWatchBookmarks: boolean;
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
}

/** Upper bound on one page; larger `limit` values are clamped, not rejected, like kube-apiserver's cap. */
export const MAX_LIST_LIMIT = 10000;

function one(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return String(v);
}

function parseBool(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw badRequest(`invalid value for ${name}: strconv.ParseBool: parsing "${raw}": invalid syntax`);
}

function parseInteger(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw)) {
    throw badRequest(`invalid value for ${name}: strconv.ParseInt: parsing "${raw}": invalid syntax`);
  }
  return Number(raw);
}

export function parseResourceVersion(rv: string): number {
  if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
  return Number(rv);
}

export function parseListQuery(query: Record<string, unknown>, watchPath = false): ListQuery {
  const labelSelectorText = one(query, 'labelSelector');
  const fieldSelectorText = one(query, 'fieldSelector');
  const resourceVersion = one(query, 'resourceVersion') || undefined;
  const matchRaw = one(query, 'resourceVersionMatch') || undefined;
  const limit = parseInteger('limit', one(query, 'limit'));
  const cont = one(query, 'continue') || undefined;
  const watch = watchPath || parseBool('watch', one(query, 'watch')) === true;
  const allowWatchBookmarks = parseBool('allowWatchBookmarks', one(query, 'allowWatchBookmarks')) === true;
  const sendInitialEvents = parseBool('sendInitialEvents', one(query, 'sendInitialEvents'));
  const timeoutSeconds = parseInteger('timeoutSeconds', one(query, 'timeoutSeconds'));

  const errors: FieldError[] = [];
  let resourceVersionMatch: ResourceVersionMatch | undefined;
  if (matchRaw !== undefined) {
    if (matchRaw !== 'Exact' && matchRaw !== 'NotOlderThan') {
      errors.push({
        type: 'FieldValueNotSupported',
        field: 'resourceVersionMatch',
        value: matchRaw,
        detail: 'supported values: "Exact", "NotOlderThan", ""',
      });
    } else {
      resourceVersionMatch = matchRaw;
    }
  }
  if (resourceVersion !== undefined) parseResourceVersion(resourceVersion);
  if (resourceVersionMatch && watch && sendInitialEvents === undefined) {
    errors.push({
      type: 'FieldValueForbidden',
      field: 'resourceVersionMatch',
      detail: 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
    });
  }
  if (resourceVersionMatch && !watch) {
    if (resourceVersion === undefined) {
      errors.push({
        type: 'FieldValueForbidden',
        field: 'resourceVersionMatch',
        detail: 'resourceVersionMatch is forbidden unless resourceVersion is provided',
      });
    }
    if (cont) {
      errors.push({
        type: 'FieldValueForbidden',
        field: 'resourceVersionMatch',
        detail: 'resourceVersionMatch is forbidden when continue is provided',
      });
    }
    if (resourceVersionMatch === 'Exact' && resourceVersion === '0') {
      errors.push({
        type: 'FieldValueForbidden',
        field: 'resourceVersionMatch',
        detail: 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
      });
    }
  }
  if (sendInitialEvents !== undefined) {
    if (!watch) {
      errors.push({
        type: 'FieldValueForbidden',
        field: 'sendInitialEvents',
        detail: 'sendInitialEvents is forbidden for list',
      });
    } else if (resourceVersionMatch !== 'NotOlderThan') {
      errors.push({
        type: 'FieldValueForbidden',
        field: 'resourceVersionMatch',
        detail: 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
      });
    }
  }
  if (limit !== undefined && limit < 0) {
    errors.push({ type: 'FieldValueInvalid', field: 'limit', value: limit, detail: 'must be non-negative' });
  }
  if (timeoutSeconds !== undefined && timeoutSeconds < 0) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'timeoutSeconds',
      value: timeoutSeconds,
      detail: 'must be non-negative',
    });
  }
  if (errors.length) throw invalid('meta.k8s.io', 'ListOptions', '', errors);
  if (cont && resourceVersion !== undefined && resourceVersion !== '0' && !watch) {
    throw badRequest('specifying resource version is not allowed when using continue');
  }

  return {
    labelSelector: labelSelectorText ? parseLabelSelector(labelSelectorText) : undefined,
    fieldSelector: fieldSelectorText
      ? parseFieldSelector(fieldSelectorText, WIDGET_SELECTABLE_FIELDS)
      : undefined,
    labelSelectorText,
    fieldSelectorText,
    resourceVersion,
    resourceVersionMatch,
    limit: limit ? Math.min(limit, MAX_LIST_LIMIT) : undefined,
    continue: cont,
    watch,
    allowWatchBookmarks,
    sendInitialEvents,
    timeoutSeconds,
  };
}

interface ContinueToken {
  v: 'meta.k8s.io/v1';
  rv: number;
  start: string;
}

export function encodeContinue(revision: number, startAfterKey: string): string {
  const token: ContinueToken = { v: 'meta.k8s.io/v1', rv: revision, start: startAfterKey };
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

export function decodeContinue(token: string): { revision: number; startAfter: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<ContinueToken>;
    if (parsed.v !== 'meta.k8s.io/v1' || typeof parsed.rv !== 'number' || typeof parsed.start !== 'string') {
      throw new Error('unrecognized token');
    }
    return { revision: parsed.rv, startAfter: parsed.start };
  } catch {
    throw badRequest(
      'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    );
  }
}

export function continueExpired(freshContinue?: string) {
  return expired(
    'The provided continue parameter is too old to display a consistent list result. You can start a new list ' +
      'without the continue parameter, or use the continue token in this response to retrieve the remainder of ' +
      'the results. Continuing with the provided token results in an inconsistent list - objects that were ' +
      'created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
    freshContinue,
  );
}
