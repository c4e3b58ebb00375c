/**
 * Server-side printing: the meta.k8s.io Table of a kind, with the printer columns of the requested
 * version (apis/), and the PartialObjectMetadata forms used by the metadata client (garbage collector, namespace
 * controller).
 */
import type { ListMeta, Widget } from './types';
import { kindVersion, type KindDefinition } from '../apis/kind';
import { widgetKind } from '../apis/widgets';
import type { StoredObject } from '../registry/generic/types';

/** apimachinery's duration.HumanDuration: short, coarse ages like kubectl prints. */
export function humanDuration(ms: number): string {
  // Go's int(d.Seconds()) truncates toward zero: -1.5s is "0s", not "<invalid>".
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(seconds / 3600);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

export function partialObjectMetadata(w: StoredObject): object {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: w.metadata };
}

export function partialObjectMetadataList(items: StoredObject[], listMeta: ListMeta): object {
  return {
    kind: 'PartialObjectMetadataList',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    items: items.map(partialObjectMetadata),
  };
}

export interface TableOptions<T> {
  includeObject: 'None' | 'Metadata' | 'Object';
  listMeta: ListMeta;
  noHeaders?: boolean;
  now?: Date;
  /** The version the table is for (its columns), and the row objects encoded in it. */
  version?: string;
  encode?: (o: T) => unknown;
}

/** The Table of hub objects of a kind, with the printer columns of the requested version. */
export function objectTable<T extends StoredObject>(
  kind: KindDefinition<T>,
  items: T[],
  opts: TableOptions<T>,
): object {
  const now = (opts.now ?? new Date()).getTime();
  const columns = kindVersion(kind, opts.version ?? kind.hubVersion).columns;
  const rows = items.map((o) => {
    const row: Record<string, unknown> = {
      cells: columns.map((c) => {
        const value = c.cell(o);
        if (c.type !== 'date') return value;
        // translateTimestampSince: a missing timestamp prints as <unknown>.
        const at = typeof value === 'string' ? Date.parse(value) : NaN;
        return Number.isNaN(at) ? '<unknown>' : humanDuration(now - at);
      }),
    };
    if (opts.includeObject === 'Object') row.object = opts.encode ? opts.encode(o) : o;
    else if (opts.includeObject === 'Metadata') row.object = partialObjectMetadata(o);
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: opts.listMeta,
    columnDefinitions: opts.noHeaders
      ? []
      : columns.map(({ name, type, format, description, priority }) => ({
          name,
          type,
          format,
          description,
          priority,
        })),
    rows,
  };
}

export function widgetTable(items: Widget[], opts: TableOptions<Widget>): object {
  return objectTable(widgetKind, items, opts);
}
