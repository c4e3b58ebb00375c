/**
 * List and watch options as kube-apiserver validates them (metav1.ListOptions plus the
 * internalversion validation rules), and the continue token, which carries the snapshot revision and
 * the key to resume after, base64-encoded JSON like kube-apiserver's own.
 */
import { posix } from 'node:path';
import { badRequest, expired, invalid, type FieldError } from '../../shared/status-errors';
import type { RequestQuery } from '../http/query';
import {
  parseFieldSelector,
  parseLabelSelector,
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

function parseInteger(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw)) {
    throw badRequest(`invalid value for ${name}: strconv.ParseInt: parsing "${raw}": invalid syntax`);
  }
  const value = Number(raw);
  // Beyond 2^53 a number is no longer exact; kube-apiserver's int64 refuses beyond 2^63 anyway.
  if (!Number.isSafeInteger(value)) {
    throw badRequest(`invalid value for ${name}: strconv.ParseInt: parsing "${raw}": value out of range`);
  }
  return value;
}

export function parseResourceVersion(rv: string): number {
  if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
  return Number(rv);
}

/** Decodes metav1.ListOptions from the query as kube-apiserver's parameter codec does, then validates them. */
/** The fields every namespaced kind can be selected by (kube's DefaultNamespaceScopedAttr). */
export const DEFAULT_SELECTABLE_FIELDS = ['metadata.name', 'metadata.namespace'] as const;

export function parseListQuery(
  query: RequestQuery,
  watchPath = false,
  selectableFields: readonly string[] = DEFAULT_SELECTABLE_FIELDS,
): ListQuery {
  const labelSelectorText = query.get('labelSelector');
  const fieldSelectorText = query.get('fieldSelector');
  const resourceVersion = query.get('resourceVersion') || undefined;
  const matchRaw = query.get('resourceVersionMatch') || undefined;
  const limit = parseInteger('limit', query.get('limit'));
  const cont = query.get('continue') || undefined;
  const watch = watchPath || query.bool('watch') === true;
  const allowWatchBookmarks = query.bool('allowWatchBookmarks') === true;
  const sendInitialEvents = query.bool('sendInitialEvents');
  const timeoutSeconds = parseInteger('timeoutSeconds', query.get('timeoutSeconds'));

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
    fieldSelector: fieldSelectorText ? parseFieldSelector(fieldSelectorText, selectableFields) : undefined,
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
  /** The last key returned, relative to the listed prefix (so a token can never leave the prefix). */
  start: string;
}

/** Encodes where the next page starts: after `lastKey`, which must lie under the listed `prefix`. */
export function encodeContinue(revision: number, lastKey: string, prefix: string): string {
  if (!lastKey.startsWith(prefix) || lastKey === prefix) {
    throw new Error(
      `continue key ${JSON.stringify(lastKey)} is not under the prefix ${JSON.stringify(prefix)}`,
    );
  }
  const token: ContinueToken = { v: 'meta.k8s.io/v1', rv: revision, start: lastKey.slice(prefix.length) };
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

/** Go's path.Clean for the rooted paths continue keys are checked as. */
function cleanRooted(p: string): string {
  const normalized = posix.normalize(p);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

const INVALID_CONTINUE = 'invalid continue token: continue key is not valid';

/**
 * Decodes a continue token for a list of `prefix` (storage.DecodeContinue): the key it carries is
 * relative to the prefix and must be a clean path, so prefix + key can never name anything outside
 * the collection the request was authorized for, whatever the client wrote into the token.
 */
export function decodeContinue(token: string, prefix: string): { revision: number; startAfter: string } {
  let parsed: Partial<ContinueToken>;
  try {
    if (!/^[A-Za-z0-9_-]*$/.test(token)) throw new Error('illegal base64 data');
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<ContinueToken>;
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
  } catch (e) {
    throw badRequest(`${INVALID_CONTINUE}: ${(e as Error).message}`);
  }
  if (parsed.v !== 'meta.k8s.io/v1') {
    throw badRequest(
      `${INVALID_CONTINUE}: server does not recognize this encoded version ${String(parsed.v ?? '')}`,
    );
  }
  if (typeof parsed.rv !== 'number' || !Number.isSafeInteger(parsed.rv) || parsed.rv <= 0) {
    throw badRequest(`${INVALID_CONTINUE}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)`);
  }
  if (typeof parsed.start !== 'string' || parsed.start.length === 0) {
    throw badRequest(`${INVALID_CONTINUE}: encoded start key empty (version meta.k8s.io/v1)`);
  }
  const rooted = parsed.start.startsWith('/') ? parsed.start : `/${parsed.start}`;
  if (cleanRooted(rooted) !== rooted || rooted === '/') {
    throw badRequest(`${INVALID_CONTINUE}: ${parsed.start}`);
  }
  return { revision: parsed.rv, startAfter: prefix + rooted.slice(1) };
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
