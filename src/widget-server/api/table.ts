/**
 * Server-side printing: the meta.k8s.io Table for Widgets (Name, Replicas, Available, Color, Phase, Age)
 * and the PartialObjectMetadata forms used by the metadata client (garbage collector, namespace
 * controller).
 */
import type { ListMeta, Widget } from './types';

const COLUMNS = [
  {
    name: 'Name',
    type: 'string',
    format: 'name',
    description: 'Name must be unique within a namespace.',
    priority: 0,
  },
  { name: 'Replicas', type: 'integer', format: '', description: 'Desired number of instances.', priority: 0 },
  { name: 'Available', type: 'integer', format: '', description: 'Instances ready to serve.', priority: 0 },
  {
    name: 'Color',
    type: 'string',
    format: '',
    description: 'Color of the Widget (shown with -o wide).',
    priority: 1,
  },
  {
    name: 'Phase',
    type: 'string',
    format: '',
    description: 'Lifecycle phase: Pending, Running or Failed.',
    priority: 0,
  },
  { name: 'Age', type: 'date', format: '', description: 'Time since the Widget was created.', priority: 0 },
];

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

export function partialObjectMetadata(w: Widget): object {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: w.metadata };
}

export function partialObjectMetadataList(items: Widget[], listMeta: ListMeta): object {
  return {
    kind: 'PartialObjectMetadataList',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    items: items.map(partialObjectMetadata),
  };
}

/**
 * The printer columns of a version: v1alpha1 says Size for what later versions call Replicas, and has
 * no Color.
 */
function columnsOf(version: string): typeof COLUMNS {
  if (version !== 'v1alpha1') return COLUMNS;
  return COLUMNS.filter((c) => c.name !== 'Color').map((c) =>
    c.name === 'Replicas' ? { ...c, name: 'Size' } : c,
  );
}

export function widgetTable(
  items: Widget[],
  opts: {
    includeObject: 'None' | 'Metadata' | 'Object';
    listMeta: ListMeta;
    noHeaders?: boolean;
    now?: Date;
    /** The version the table is for (its columns), and the row objects encoded in it. */
    version?: string;
    encode?: (w: Widget) => unknown;
  },
): object {
  const now = (opts.now ?? new Date()).getTime();
  const alpha = opts.version === 'v1alpha1';
  const rows = items.map((w) => {
    const created = w.metadata.creationTimestamp ? Date.parse(w.metadata.creationTimestamp) : NaN;
    const row: Record<string, unknown> = {
      cells: [
        w.metadata.name,
        w.spec.replicas ?? 0,
        w.status?.availableReplicas ?? 0,
        ...(alpha ? [] : [w.spec.color ?? '']),
        w.status?.phase ?? '',
        // translateTimestampSince: a missing timestamp prints as <unknown>.
        Number.isNaN(created) ? '<unknown>' : humanDuration(now - created),
      ],
    };
    if (opts.includeObject === 'Object') row.object = opts.encode ? opts.encode(w) : w;
    else if (opts.includeObject === 'Metadata') row.object = partialObjectMetadata(w);
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: opts.listMeta,
    columnDefinitions: opts.noHeaders ? [] : columnsOf(opts.version ?? 'v1'),
    rows,
  };
}
