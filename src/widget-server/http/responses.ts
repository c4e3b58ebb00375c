/**
 * Writing responses: objects in the negotiated form (JSON, YAML, Table, PartialObjectMetadata[List]),
 * Status failures, and `Warning: 299 - "..."` headers, the way kube-apiserver's responsewriters do.
 */
import type { KindCodec, ObjectList, StoredObject } from '../registry/generic/types';
import type { KindDefinition } from '../apis/kind';
import type { Response } from 'express';
import { yaml } from '../../shared/yaml';
import { toStatus, type Status } from '../../shared/status-errors';
import { objectTable, partialObjectMetadata, partialObjectMetadataList } from '../api/table';
import type { OutputForm } from './negotiation';
import { boundedWarnings, warningHeaderValue } from '../api/warnings';
import type { RequestQuery } from './query';

export { warningHeaderValue };

/**
 * Sets the response's Warning headers once, deduplicated and bounded (api/warnings.ts). Appending one
 * header per warning was quadratic: express's res.append copies and re-validates every earlier value.
 */
export function addWarnings(res: Response, warnings: string[]): void {
  if (!warnings.length) return;
  const existing = res.getHeader('Warning');
  const earlier = existing === undefined ? [] : ([] as string[]).concat(existing as string | string[]);
  const values = boundedWarnings(warnings);
  if (values.length) res.setHeader('Warning', [...earlier, ...values]);
}

export function writeDocument(res: Response, code: number, doc: unknown, form?: OutputForm): void {
  if (form?.mediaType === 'application/yaml') {
    res.status(code).type('application/yaml').send(yaml().stringify(doc));
    return;
  }
  res.status(code).type('application/json').send(JSON.stringify(doc));
}

export function writeStatus(res: Response, err: unknown): Status {
  const status = toStatus(err);
  if (status.code === 429 && status.details?.retryAfterSeconds) {
    res.setHeader('Retry-After', String(status.details.retryAfterSeconds));
  }
  if (!res.headersSent) writeDocument(res, status.code, status);
  return status;
}

type IncludeObject = 'None' | 'Metadata' | 'Object';

export function includeObjectPolicy(query: RequestQuery): IncludeObject {
  const v = query.get('includeObject');
  if (v === 'None' || v === 'Object' || v === 'Metadata') return v;
  return 'Metadata';
}

/** Renders one hub object of `kind` in the negotiated form, in the request's version. */
export function renderObject<T extends StoredObject>(
  kind: KindDefinition<T>,
  o: T,
  form: OutputForm,
  includeObject: IncludeObject,
  codec: KindCodec<T>,
): unknown {
  if (form.transform === 'Table') {
    return withTableVersion(
      objectTable(kind, [o], {
        includeObject,
        listMeta: { resourceVersion: o.metadata.resourceVersion },
        version: codec.version,
        encode: (x) => codec.encode(x),
      }),
      form,
    );
  }
  if (form.transform === 'PartialObjectMetadata') return partialObjectMetadata(o);
  return codec.encode(o);
}

export function renderList<T extends StoredObject>(
  kind: KindDefinition<T>,
  list: ObjectList<T>,
  form: OutputForm,
  includeObject: IncludeObject,
  codec: KindCodec<T>,
): unknown {
  if (form.transform === 'Table') {
    return withTableVersion(
      objectTable(kind, list.items, {
        includeObject,
        listMeta: list.metadata,
        version: codec.version,
        encode: (x) => codec.encode(x),
      }),
      form,
    );
  }
  if (form.transform === 'PartialObjectMetadataList')
    return partialObjectMetadataList(list.items, list.metadata);
  return { ...list, apiVersion: codec.apiVersion, items: list.items.map((o) => codec.encode(o)) };
}

function withTableVersion(table: unknown, form: OutputForm): unknown {
  if (form.transformVersion === 'v1beta1') return { ...(table as object), apiVersion: 'meta.k8s.io/v1beta1' };
  return table;
}
