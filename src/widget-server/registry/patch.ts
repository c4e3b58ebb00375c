/**
 * Applies the PATCH media types the Widget server accepts to a JSON object: RFC 6902 JSON patch
 * (fast-json-patch), RFC 7386 JSON merge patch, and Kubernetes strategic merge patch (api/). Server-side
 * apply is answered with 415 so clients fall back, as kube-apiserver's clients already do for servers
 * without it.
 */
import { applyPatch, JsonPatchError, type Operation, validate } from 'fast-json-patch';
import { badRequest, invalid, unsupportedMediaType } from '../../shared/status-errors';
import { strategicMergePatch } from '../api/strategic-merge-patch';
import type { JsonObject } from '../storage/storage';

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

export const SUPPORTED_PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH] as const;
export type PatchType = (typeof SUPPORTED_PATCH_TYPES)[number];

export function asPatchType(contentType: string | undefined): PatchType {
  const base = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if ((SUPPORTED_PATCH_TYPES as readonly string[]).includes(base)) return base as PatchType;
  throw unsupportedMediaType([...SUPPORTED_PATCH_TYPES]);
}

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * RFC 7386. Hand-written because it is a dozen lines and the npm packages for it are unmaintained;
 * kube-apiserver's own implementation (evanphx/json-patch MergePatch) has the same semantics.
 */
export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = jsonMergePatch(result[key], value);
  }
  return result;
}

/** Parses a patch body; malformed JSON is the client's error (400), as in kube-apiserver. */
export function parsePatchBody(raw: string, type: PatchType): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw badRequest(`error decoding patch: ${(e as Error).message}`);
  }
  if (type === JSON_PATCH) {
    if (!Array.isArray(parsed)) {
      throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
    }
  } else if (!isPlainObject(parsed)) {
    throw badRequest('json: cannot unmarshal non-object patch into Go value of type map[string]interface {}');
  }
  return parsed;
}

/** Applies a parsed patch to a copy of `original`; failures to apply are 422 on the `patch` field. */
export function applyPatchDocument(
  original: JsonObject,
  type: PatchType,
  patch: unknown,
  group: string,
  kind: string,
  name: string,
): JsonObject {
  let result: unknown;
  if (type === JSON_PATCH) {
    const operations = patch as Operation[];
    const problem = validate(operations, original);
    if (problem) throw patchInvalid(group, kind, name, problem.message);
    try {
      result = applyPatch(structuredClone(original), operations, false, true, true).newDocument;
    } catch (e) {
      const message = e instanceof JsonPatchError ? e.message.split('\n')[0] : String(e);
      throw patchInvalid(group, kind, name, message);
    }
  } else if (type === MERGE_PATCH) {
    result = jsonMergePatch(original, patch);
  } else {
    result = strategicMergePatch(structuredClone(original), patch as JsonObject);
  }
  if (!isPlainObject(result)) throw patchInvalid(group, kind, name, 'patch did not produce an object');
  return result;
}

function patchInvalid(group: string, kind: string, name: string, detail: string) {
  return invalid(group, kind, name, [{ type: 'FieldValueInvalid', field: 'patch', detail }]);
}
