/**
 * Request bodies: read with an explicit byte limit (413 beyond it, before parsing anything), decoded by
 * Content-Type (JSON or YAML for objects; the patch media types for PATCH), with kube-apiserver's 400
 * and 415 Status errors for malformed or unsupported input.
 */
import type { Request } from 'express';
import { parseDocument } from 'yaml';
import { badRequest, requestEntityTooLarge, unsupportedMediaType } from '../../shared/status-errors';

/** kube-apiserver's default --max-request-body-bytes is 3 MiB; our objects are far smaller. */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

export const OBJECT_MEDIA_TYPES = ['application/json', 'application/yaml'];

export async function readBody(req: Request, limitBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    throw requestEntityTooLarge(limitBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      req.resume();
      throw requestEntityTooLarge(limitBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function baseContentType(req: Request): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
}

/** Decodes an object body by Content-Type; an empty body is `undefined` (valid only for DELETE). */
export function decodeObjectBody(raw: string, contentType: string): unknown {
  if (raw.trim() === '') return undefined;
  if (contentType === 'application/json' || contentType === '') {
    try {
      return JSON.parse(raw);
    } catch (e) {
      throw badRequest(`the body of the request could not be decoded as JSON: ${(e as Error).message}`);
    }
  }
  if (
    contentType === 'application/yaml' ||
    contentType === 'application/x-yaml' ||
    contentType === 'text/yaml'
  ) {
    const doc = parseDocument(raw, { uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length) {
      throw badRequest(`the body of the request could not be decoded as YAML: ${doc.errors[0].message}`);
    }
    return doc.toJS();
  }
  throw unsupportedMediaType(OBJECT_MEDIA_TYPES);
}
