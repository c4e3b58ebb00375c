/**
 * Writing responses: objects in the negotiated form (JSON, YAML, Table, PartialObjectMetadata[List]),
 * Status failures, and `Warning: 299 - "..."` headers, the way kube-apiserver's responsewriters do.
 */
import type { KindCodec, ObjectList } from '../registry/generic/types';
import type { Response } from 'express';
import { stringify } from 'yaml';
import { toStatus, type Status } from '../../shared/status-errors';
import { partialObjectMetadata, partialObjectMetadataList, widgetTable } from '../api/table';
import type { Widget } from '../api/types';
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
    res.status(code).type('application/yaml').send(stringify(doc));
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

/** Renders one (hub) Widget in the negotiated form, in the request's version. */
export function renderWidget(
  w: Widget,
  form: OutputForm,
  includeObject: IncludeObject,
  codec: KindCodec<Widget>,
): unknown {
  if (form.transform === 'Table') {
    return withTableVersion(
      widgetTable([w], {
        includeObject,
        listMeta: { resourceVersion: w.metadata.resourceVersion },
        version: codec.version,
        encode: (o) => codec.encode(o),
      }),
      form,
    );
  }
  if (form.transform === 'PartialObjectMetadata') return partialObjectMetadata(w);
  return codec.encode(w);
}

export function renderWidgetList(
  list: ObjectList<Widget>,
  form: OutputForm,
  includeObject: IncludeObject,
  codec: KindCodec<Widget>,
): unknown {
  if (form.transform === 'Table') {
    return withTableVersion(
      widgetTable(list.items, {
        includeObject,
        listMeta: list.metadata,
        version: codec.version,
        encode: (o) => codec.encode(o),
      }),
      form,
    );
  }
  if (form.transform === 'PartialObjectMetadataList')
    return partialObjectMetadataList(list.items, list.metadata);
  return { ...list, apiVersion: codec.apiVersion, items: list.items.map((w) => codec.encode(w)) };
}

function withTableVersion(table: unknown, form: OutputForm): unknown {
  if (form.transformVersion === 'v1beta1') return { ...(table as object), apiVersion: 'meta.k8s.io/v1beta1' };
  return table;
}
