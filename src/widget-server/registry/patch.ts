/**
 * Applies the PATCH media types the Widget server accepts to a JSON object: RFC 6902 JSON patch
 * (api/json-patch.ts), RFC 7386 JSON merge patch, and Kubernetes strategic merge patch (api/), with
 * kube-apiserver's bounds: nesting depth of the patch body, at most maxJSONPatchOperations operations
 * (413), the accumulated size of `copy` operations (422, checked while applying), and the size of the
 * patched object (413). Server-side apply (application/apply-patch+yaml) is not a patch document: the
 * store merges it (apply/), and asPatchType only names it.
 */
import { ApiError, badRequest, unsupportedMediaType } from '../../shared/status-errors';
import { setOwn } from '../api/decode';
import { exceedsDepth, parseJsonBounded } from '../api/json-bounded';
import { applyJsonPatch, JsonPatchApplyError } from '../api/json-patch';
import { inputLimits } from '../api/limits';
import { strategicMergePatch } from '../api/strategic-merge-patch';
import type { JsonObject } from '../storage/storage';

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

export const SUPPORTED_PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH] as const;
export type PatchType = (typeof SUPPORTED_PATCH_TYPES)[number];
/** Every PATCH media type the server takes, server-side apply included. */
export const ACCEPTED_PATCH_TYPES = [...SUPPORTED_PATCH_TYPES, APPLY_PATCH] as const;

export function isApplyPatch(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0].trim().toLowerCase() === APPLY_PATCH;
}

export function asPatchType(contentType: string | undefined): PatchType {
  const base = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if ((SUPPORTED_PATCH_TYPES as readonly string[]).includes(base)) return base as PatchType;
  throw unsupportedMediaType([...ACCEPTED_PATCH_TYPES]);
}

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * RFC 7386. Hand-written because it is a dozen lines and the npm packages for it are unmaintained;
 * kube-apiserver's own implementation (evanphx/json-patch MergePatch) has the same semantics. Reads
 * and writes own properties only, so a `__proto__` key is data, never the prototype.
 */
export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else {
      const current = Object.prototype.hasOwnProperty.call(result, key) ? result[key] : undefined;
      setOwn(result, key, jsonMergePatch(current, value));
    }
  }
  return result;
}

/** k8s.io/apimachinery errors.NewRequestEntityTooLargeError. */
function entityTooLarge(detail: string): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: ${detail}`);
}

/**
 * Parses a patch body; malformed JSON or nesting deeper than the limit is the client's error (400),
 * as in kube-apiserver, and so is a JSON patch longer than maxJSONPatchOperations (413).
 */
export function parsePatchBody(raw: string, type: PatchType): unknown {
  let parsed: unknown;
  try {
    parsed = parseJsonBounded(raw, { maxDepth: inputLimits().maxNestingDepth }).value;
  } catch (e) {
    throw badRequest(`error decoding patch: ${(e as Error).message}`);
  }
  if (type === JSON_PATCH) {
    if (!Array.isArray(parsed)) {
      throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
    }
    const bad = parsed.find((op) => !isPlainObject(op));
    if (bad !== undefined) {
      const what = Array.isArray(bad) ? 'array' : bad === null ? 'null' : typeof bad;
      throw badRequest(`json: cannot unmarshal ${what} into Go value of type jsonpatch.Operation`);
    }
    const max = inputLimits().maxJsonPatchOperations;
    if (parsed.length > max) {
      throw entityTooLarge(`The allowed maximum operations in a JSON patch is ${max}, got ${parsed.length}`);
    }
  } else if (!isPlainObject(parsed)) {
    throw badRequest('json: cannot unmarshal non-object patch into Go value of type map[string]interface {}');
  }
  return parsed;
}

/**
 * Applies a parsed patch to a copy of `original`. A JSON patch operation that does not apply is 422
 * with kube-apiserver's generic message and the library's error as the cause
 * (errors.NewGenericServerResponse(422, ...)), never the document.
 */
export function applyPatchDocument(original: JsonObject, type: PatchType, patch: unknown): JsonObject {
  const limits = inputLimits();
  let result: unknown;
  if (type === JSON_PATCH) {
    try {
      result = applyJsonPatch(structuredClone(original), patch as Record<string, unknown>[], {
        accumulatedCopySizeLimit: limits.jsonPatchMaxCopyBytes,
      });
    } catch (e) {
      if (e instanceof JsonPatchApplyError) throw patchRejected(e.message);
      throw e;
    }
  } else if (type === MERGE_PATCH) {
    result = jsonMergePatch(original, patch);
  } else {
    result = strategicMergePatch(structuredClone(original), patch as JsonObject);
  }
  // Operations can nest values inside each other (an `add` of a deep value under a deep path, a
  // `copy` into itself); nothing recursive may see the result before this check.
  if (exceedsDepth(result, limits.maxNestingDepth)) {
    throw patchRejected(`the patched object nests deeper than ${limits.maxNestingDepth} levels`);
  }
  if (!isPlainObject(result)) throw patchRejected('patch did not produce an object');
  return result;
}

/** The stored-object limit after a patch: the JSON size of what would be stored. */
export function checkPatchedSize(obj: unknown): void {
  const limit = inputLimits().maxObjectBytes;
  const size = Buffer.byteLength(JSON.stringify(obj));
  if (size > limit) throw entityTooLarge(`limit is ${limit}`);
}

function patchRejected(cause: string): ApiError {
  return new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ reason: 'UnexpectedServerResponse', message: cause }],
  });
}
