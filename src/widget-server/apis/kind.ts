/**
 * What a kind is, for everything generic in the server: its names, its versions (each a schema, the
 * conversion to and from the hub type, and printer columns), the hub and default storage versions, its
 * strategy for the generic store, and its scale subresource if it has one. Discovery, OpenAPI,
 * decoding, tables, routing and storage are all derived from these definitions; the kinds a server
 * serves are listed in apis/index.ts. docs/adding-a-kind.md walks through adding one.
 */
import type { ObjectNode } from '../schema/schema';
import type { KindNames, KindStrategy } from '../registry/generic/strategy';
import type { StoredObject } from '../registry/generic/types';
import type { Scale } from '../api/types';

export interface PrinterColumn<T> {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  /** 0: always shown; 1: shown with -o wide. */
  priority: 0 | 1;
  /** The cell for a hub object; a `date` column gives an RFC 3339 time, shown as an age. */
  cell(o: T): unknown;
}

export interface KindVersion<T> {
  version: string;
  schema: { object: ObjectNode; list: ObjectNode };
  /** The hub object as this version (a new object; the hub is not changed). apiVersion is the caller's. */
  fromHub(o: T): Record<string, unknown>;
  /** A decoded object of this version as the hub type. */
  toHub(o: Record<string, unknown>): T;
  /** The server-side table of this version: Name first, as kubectl expects. */
  columns: readonly PrinterColumn<T>[];
}

/** The scale subresource (autoscaling/v1 Scale) over a kind's replica count. */
export interface ScaleSubresource<T> {
  toScale(o: T): Scale;
  /** `o` with the Scale's spec.replicas applied (a copy may be changed in place and returned). */
  applyScale(o: T, scale: Scale): T;
  /** The autoscaling/v1 Scale schema with this kind's replica bounds. */
  schema: ObjectNode;
}

export interface KindDefinition<T extends StoredObject> {
  names: KindNames & { singular: string; shortNames: readonly string[]; categories: readonly string[] };
  /** Priority order: discovery lists them so, and the first is the preferred version. */
  versions: readonly KindVersion<T>[];
  /** The version whose shape the hub type has (its conversions are the identity). */
  hubVersion: string;
  defaultStorageVersion: string;
  strategy: KindStrategy<T>;
  scale?: ScaleSubresource<T>;
}

export function kindVersion<T extends StoredObject>(
  kind: KindDefinition<T>,
  version: string,
): KindVersion<T> {
  const found = kind.versions.find((v) => v.version === version);
  if (!found) throw new Error(`${kind.names.kind} is not served in version ${version}`);
  return found;
}

/** Erases a kind's object type, for the places that serve every kind alike. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKind = KindDefinition<any>;
