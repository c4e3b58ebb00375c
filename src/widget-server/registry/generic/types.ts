/**
 * What the generic store (store.ts) works with, for any kind: stored objects and lists, the per-version
 * codec that converts between a version and the kind's hub type, the options every write carries, and
 * the watch sink. Nothing here names a kind.
 */
import type { Status } from '../../../shared/status-errors';
import type { ListMeta, ObjectMeta, WatchEvent } from '../../api/types';
import type { UserInfo } from '../../auth/authentication';
import type { ObjectNode } from '../../schema/schema';

/** Any object the store keeps: a kind's hub type. */
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

export interface ObjectList<T> {
  apiVersion: string;
  kind: string;
  metadata: ListMeta;
  items: T[];
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

/** One served version of a kind: request bodies in, answers out; the store sees only hub objects. */
export interface KindCodec<T extends StoredObject> {
  readonly version: string;
  readonly apiVersion: string;
  /** This version has the hub's shape: its conversions are the identity. */
  readonly isHub: boolean;
  /** This version's schema (field sets and merges are computed on it). */
  readonly schema: ObjectNode;
  /** A request body of this version as a hub object (decoded, pruned, defaulted, converted). */
  decode(body: unknown, opts: { fieldValidation: FieldValidation }): { object: T; warnings: string[] };
  /** A server-side apply configuration of this version: decoded and pruned, nothing added. */
  decodeApplyConfiguration(
    body: unknown,
    opts: { fieldValidation: FieldValidation },
  ): { object: Record<string, unknown>; warnings: string[] };
  /** An object of this version (read from storage) as a hub object. */
  toHub(o: Record<string, unknown>): T;
  /** A hub object as this version; the hub object is not changed. */
  encode(o: T): T;
}

export interface WriteOptions {
  /** The version the request was made in (its body's, and its answer's); absent: the store's default. */
  version?: string;
  dryRun: boolean;
  fieldValidation: FieldValidation;
  fieldManager?: string;
  /** The request's User-Agent: the manager's name when fieldManager is not given. */
  userAgent?: string;
  /** The requesting user, handed to admission plugins (admission.Attributes.GetUserInfo). */
  user?: UserInfo;
}

export interface WriteResult<T> {
  object: T;
  warnings: string[];
}

export interface DeleteResult<T> {
  object: T;
  /** True when the object is gone; false when it waits for finalizers (graceful deletion). */
  deleted: boolean;
  /** Admission's warnings (`Warning` headers). */
  warnings: string[];
}

export interface BookmarkObject {
  kind: string;
  apiVersion: string;
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
}

/** Receives watch events in order; `end` closes the stream (timeouts, errors, shutdown). */
export interface WatchSink<T> {
  send(event: WatchEvent<T | Status | BookmarkObject>): void;
  end(): void;
}
