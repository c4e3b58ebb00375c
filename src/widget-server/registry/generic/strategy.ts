/**
 * A kind's rules for the generic store, as k8s.io/apiserver's rest.RESTCreateStrategy,
 * RESTUpdateStrategy and the status strategies have them: what a create or update may set, defaults,
 * validation, and the fields a field selector can match. The store owns everything every kind shares
 * (metadata, concurrency, dry run, deletion, lists, watch); a kind's folder under apis/ implements this.
 */
import type { FieldError } from '../../../shared/status-errors';
import type { StoredObject } from './types';

export interface KindNames {
  kind: string;
  listKind: string;
  /** The plural resource name: the URL segment and the storage key's first part. */
  resource: string;
  namespaced: boolean;
}

export interface KindStrategy<T extends StoredObject> {
  /** Defaults of the hub type, applied to every object written (after the request version's own). */
  defaults(obj: T): void;
  /** A new object: clear what clients may not set (status) and set the kind's initial state. */
  prepareForCreate(obj: T, now: string): void;
  validate(obj: T): FieldError[];
  /**
   * A write to the main resource: carry over what it may not change (status) from `current`, and bump
   * metadata.generation when the spec changed. System metadata is the store's.
   */
  prepareForUpdate(next: T, current: T): void;
  validateUpdate(next: T, current: T): FieldError[];
  /** The status subresource: `current` with `incoming`'s status only; absent: the kind has none. */
  status?: {
    prepareForUpdate(incoming: T, current: T, now: string): T;
    validateUpdate(next: T, current: T): FieldError[];
  };
  /** The values of the fields a field selector may name (metadata.name, metadata.namespace, ...). */
  fields(obj: T): Record<string, string>;
  readonly selectableFields: readonly string[];
}
