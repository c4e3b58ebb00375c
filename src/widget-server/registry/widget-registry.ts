/**
 * The Widget kind's registry: the generic kind registry (kind-registry.ts) for apis/widgets, with the
 * group and default version given as an API identity, as the server and tests construct it.
 */
import type { ApiIdentity, Widget } from '../api/types';
import { widgetKind } from '../apis/widgets';
import type { Storage } from '../storage/storage';
import type { AdmissionChain } from '../admission/admission';
import { KindRegistry } from './kind-registry';

export type {
  BookmarkObject,
  DeleteResult,
  FieldValidation,
  WatchSink,
  WriteOptions,
  WriteResult,
} from './generic/types';

export interface RegistryOptions {
  /** The group, and the version requests are in when they do not say (the preferred one). */
  identity: ApiIdentity;
  /** The versions served (default: all the kind has), preferred first; each has a codec. */
  versions?: readonly string[];
  /** The version objects are written in (default v1); objects of any version the kind has are read. */
  storageVersion?: string;
  now?: () => Date;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK (kube-apiserver: about once a minute). */
  bookmarkIntervalMs?: number;
  /** Admission plugins run on every write, after decoding and before storage (none by default). */
  admission?: AdmissionChain;
  /** False only to measure what managedFields cost (bench/managed-fields.ts). */
  trackManagedFields?: boolean;
}

export class WidgetRegistry extends KindRegistry<Widget> {
  readonly identity: ApiIdentity;

  constructor(storage: Storage, options: RegistryOptions) {
    super(storage, widgetKind, {
      group: options.identity.group,
      versions: options.versions,
      defaultVersion: options.identity.version,
      storageVersion: options.storageVersion,
      now: options.now,
      bookmarkIntervalMs: options.bookmarkIntervalMs,
      admission: options.admission,
      trackManagedFields: options.trackManagedFields,
    });
    this.identity = options.identity;
  }
}
