/**
 * The generic store: kube-apiserver's generic-registry semantics (k8s.io/apiserver
 * pkg/registry/generic/registry/store.go) over the revisioned Storage, for any namespaced kind given
 * its strategy (strategy.ts) and a codec per version (types.ts). It owns object metadata (uid,
 * generateName, creationTimestamp, resourceVersion from the store revision), optimistic concurrency,
 * dry runs, storage in the storage version, the status subresource through the kind's status
 * strategy, graceful deletion with finalizers and GC propagation policies, list paging and selectors,
 * and watch (watch.ts). Subresources other than status are adapters over guaranteedUpdate. It speaks
 * hub objects and ApiErrors; HTTP framing and output forms belong to http/.
 */
import { jsonEqual } from '../../../shared/json-equal';
import {
  ApiError,
  conflict,
  expired,
  invalid,
  badRequest,
  notFound,
  alreadyExists,
  tooLargeResourceVersion,
  type FieldError,
  type GroupResource,
} from '../../../shared/status-errors';
import type { DeleteOptions } from '../../api/types';
import { exactFieldValue, matchesFields, matchesLabels } from '../../api/selectors';
import {
  CompactedError,
  FutureRevisionError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  type JsonObject,
  type Storage,
  type WatchHandle,
} from '../../storage/storage';
import {
  continueExpired,
  decodeContinue,
  encodeContinue,
  parseResourceVersion,
  type ListQuery,
} from '../list-options';
import { applyPatchDocument, checkPatchedSize, parsePatchBody, type PatchType } from '../patch';
import { rfc3339Seconds } from '../../../shared/time';
import type { MigrationTarget } from '../storage-migration';
import { AdmissionChain, type AdmissionAttributes, type Operation } from '../../admission/admission';
import type { KindNames, KindStrategy } from './strategy';
import type {
  DeleteResult,
  KindCodec,
  ObjectList,
  StoredObject,
  WatchSink,
  WriteOptions,
  WriteResult,
} from './types';
import { Watches } from './watch';
import { copySharingManagedFields, StoredForm } from './stored-form';
import { FieldTracker } from './field-tracker';
import { decodeManagedFields, recordApply } from '../../apply/field-manager';
import { merge, removeItems } from '../../apply/merge';
import {
  carryOverForUpdate,
  failedPrecondition,
  finalizersAddedWhileDeleting,
  gcFinalizers,
  resetForCreate,
} from './object-meta';

export interface StoreOptions<T extends StoredObject> {
  group: string;
  names: KindNames;
  strategy: KindStrategy<T>;
  /** A codec for every version the kind has; storage may hold any of them. */
  codecs: ReadonlyMap<string, KindCodec<T>>;
  /** The versions served (default: all of `codecs`), preferred first. */
  versions?: readonly string[];
  /** The version of requests that do not say (default: the first served). */
  defaultVersion?: string;
  /** The hub's version: stored objects in it need no conversion. */
  hubVersion: string;
  /** The version objects are written in. */
  storageVersion: string;
  now?: () => Date;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK (kube-apiserver: about once a minute). */
  bookmarkIntervalMs?: number;
  /** Admission plugins run on every write, after decoding and before storage (none by default). */
  admission?: AdmissionChain;
  /** False only to measure what managedFields cost (bench/managed-fields.ts). */
  trackManagedFields?: boolean;
}

/** How a subresource write shows itself to admission (the scale subresource admits a Scale). */
export interface AdmissionView {
  subresource: string;
  kind?: { group: string; version: string; kind: string };
  view?: (o: StoredObject) => unknown;
  /** A mutated view (JSON of the view's kind) decoded back into the view's type. */
  fromView?: (o: Record<string, unknown>) => unknown;
}

/** Bounded retries of a read-modify-write when another writer wins the race (GuaranteedUpdate). */
const MAX_UPDATE_ATTEMPTS = 8;
export class Store<T extends StoredObject> {
  readonly group: string;
  readonly groupResource: GroupResource;
  readonly versions: readonly string[];
  readonly defaultVersion: string;
  readonly storageVersion: string;
  protected readonly strategy: KindStrategy<T>;
  readonly names: KindNames;
  protected readonly now: () => Date;
  private readonly codecs: ReadonlyMap<string, KindCodec<T>>;
  /** Keys and the stored form (stored-form.ts). */
  protected readonly form: StoredForm<T>;
  private readonly hubApiVersion: string;
  private readonly admission: AdmissionChain;
  private readonly watches: Watches;
  /** metadata.managedFields on every write (field-tracker.ts). */
  protected readonly tracker: FieldTracker<T>;

  constructor(
    protected readonly storage: Storage,
    options: StoreOptions<T>,
  ) {
    this.group = options.group;
    this.strategy = options.strategy;
    this.names = options.names;
    this.groupResource = { group: options.group, resource: options.names.resource };
    this.codecs = options.codecs;
    this.versions = options.versions ?? [...options.codecs.keys()];
    this.defaultVersion = options.defaultVersion ?? this.versions[0];
    this.hubApiVersion = `${options.group}/${options.hubVersion}`;
    this.storageVersion = options.storageVersion;
    this.form = new StoredForm(
      options.group,
      options.names,
      options.codecs,
      options.hubVersion,
      options.storageVersion,
    );
    this.now = options.now ?? (() => new Date());
    this.admission = options.admission ?? new AdmissionChain();
    this.watches = new Watches(options.bookmarkIntervalMs ?? 60_000);
    this.tracker = new FieldTracker(options.codecs, (v) => this.codec(v), options.trackManagedFields ?? true);
  }

  /** The apiVersion of the objects the store hands out (the hub's); answers are encoded per request. */
  get apiVersion(): string {
    return this.hubApiVersion;
  }

  /** The codec of a served version; the default version's when none is given. */
  codec(version: string = this.defaultVersion): KindCodec<T> {
    const codec = this.versions.includes(version) ? this.codecs.get(version) : undefined;
    if (!codec) throw new Error(`version ${version} of ${this.groupResource.resource} is not served`);
    return codec;
  }

  /** What storage version migration (storage-migration.ts) rewrites, and how. */
  migrationTarget(): MigrationTarget {
    return {
      resource: this.names.resource,
      storage: this.storage,
      prefix: this.form.prefixFor(),
      storageApiVersion: this.form.storageApiVersion,
      reencode: (kv) => this.form.toStored(this.form.fromKeyValue(kv)),
    };
  }

  protected invalid(name: string, errors: FieldError[]): ApiError {
    return invalid(this.group, this.names.kind, name, errors);
  }

  // ---- reads ----

  async get(namespace: string, name: string): Promise<T> {
    const kv = await this.storage.get(this.form.keyFor(namespace, name));
    if (!kv) throw notFound(this.groupResource, name);
    return this.form.fromKeyValue(kv);
  }

  private matches(o: T, q: ListQuery): boolean {
    if (q.labelSelector && !matchesLabels(q.labelSelector, o.metadata.labels)) return false;
    if (q.fieldSelector && !matchesFields(q.fieldSelector, this.strategy.fields(o))) return false;
    return true;
  }

  /** Resolves the revision a list reads at, per kube-apiserver's resourceVersion/resourceVersionMatch rules. */
  private async listRevision(q: ListQuery, prefix: string): Promise<number> {
    if (q.continue) return decodeContinue(q.continue, prefix).revision;
    if (q.resourceVersion === undefined || q.resourceVersion === '0') return 0;
    const requested = parseResourceVersion(q.resourceVersion);
    const exact = q.resourceVersionMatch === 'Exact' || (q.resourceVersionMatch === undefined && !!q.limit);
    const current = await this.storage.currentRevision();
    if (requested > current) throw tooLargeResourceVersion(requested, current);
    return exact ? requested : 0;
  }

  async list(namespace: string | undefined, q: ListQuery): Promise<ObjectList<T>> {
    const prefix = this.form.prefixFor(namespace);
    let revision = await this.listRevision(q, prefix);
    let startAfter = q.continue ? decodeContinue(q.continue, prefix).startAfter : undefined;
    const limit = q.limit ?? 0;
    const filtering = !!(q.labelSelector || q.fieldSelector);
    const items: T[] = [];
    let more = false;
    let remaining: number | undefined;
    let lastKey: string | undefined;
    // With selectors, keep reading pages until `limit` matches are found, like the generic store does.
    for (;;) {
      const want = limit ? limit - items.length : 0;
      let page;
      try {
        page = await this.storage.list(prefix, { revision, limit: want, startAfter });
      } catch (e) {
        if (e instanceof CompactedError) {
          if (q.continue) {
            const latest = await this.storage.currentRevision();
            throw continueExpired(startAfter ? encodeContinue(latest, startAfter, prefix) : undefined);
          }
          throw expired(`The resourceVersion for the provided list is too old.`);
        }
        if (e instanceof FutureRevisionError) throw tooLargeResourceVersion(e.requested, e.current);
        throw e;
      }
      revision = page.revision;
      for (const kv of page.items) {
        const o = this.form.fromKeyValue(kv);
        lastKey = kv.key;
        if (this.matches(o, q)) items.push(o);
      }
      more = page.more;
      remaining = page.remaining;
      if (page.items.length) startAfter = page.items[page.items.length - 1].key;
      if (!limit || !more || items.length >= limit) break;
    }
    const list: ObjectList<T> = {
      apiVersion: this.apiVersion,
      kind: this.names.listKind,
      metadata: { resourceVersion: String(revision) },
      items,
    };
    if (limit && more && lastKey) {
      list.metadata.continue = encodeContinue(revision, lastKey, prefix);
      if (!filtering && remaining !== undefined) list.metadata.remainingItemCount = remaining;
    }
    return list;
  }

  // ---- watch ----

  /** Starts a watch (watch.ts); `name` narrows it to one object (a watch on an item URL). */
  async watch(
    namespace: string | undefined,
    q: ListQuery,
    sink: WatchSink<T>,
    name?: string,
  ): Promise<WatchHandle> {
    if (name !== undefined) {
      const fromSelector = q.fieldSelector ? exactFieldValue(q.fieldSelector, 'metadata.name') : undefined;
      if (q.fieldSelector && fromSelector !== undefined && fromSelector !== name) {
        throw badRequest("fieldSelector metadata.name doesn't match requested name");
      }
    }
    return this.watches.start({
      storage: this.storage,
      prefix: this.form.prefixFor(namespace),
      query: q,
      sink,
      matches: (o) => (name === undefined || o.metadata.name === name) && this.matches(o, q),
      list: (listQuery) => this.list(namespace, listQuery),
      fromStored: (value, revision) => this.form.fromStored(value, revision),
      bookmarkType: { kind: this.names.kind, apiVersion: this.apiVersion },
    });
  }

  /** Ends every open watch cleanly, and any set up later (graceful shutdown); returns how many were open. */
  stopAllWatches(): number {
    return this.watches.stopAll();
  }

  get watchCount(): number {
    return this.watches.count;
  }

  // ---- writes ----

  private checkNamespace(o: T, namespace: string) {
    if (o.metadata.namespace && o.metadata.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    o.metadata.namespace = namespace;
  }

  /** What admission plugins see of a write to an object or one of its subresources. */
  private admissionAttributes(
    operation: Operation,
    namespace: string,
    name: string,
    opts: WriteOptions,
    objects: { object?: unknown; oldObject?: unknown },
    sub?: AdmissionView,
    /** Where plugins' warnings go (the response's); dropped when absent. */
    warnings?: string[],
  ): AdmissionAttributes {
    const version = opts.version ?? this.defaultVersion;
    // The kind's own objects convert to any of its versions; a subresource's view (Scale) has one.
    const convertible = !sub?.kind;
    const codec = (v: string) => this.codec(v);
    return {
      warnings,
      versions: convertible ? this.versions : undefined,
      // Methods, not arrows: they read `object` as it is when called, after any mutation, also on a copy.
      versioned(v: string) {
        if (!convertible) return { object: this.object, oldObject: this.oldObject };
        return {
          object: this.object && (codec(v).encode(this.object as T) as Record<string, unknown>),
          oldObject: this.oldObject && (codec(v).encode(this.oldObject as T) as Record<string, unknown>),
        };
      },
      fromVersioned: (v: string, o: Record<string, unknown>) =>
        convertible
          ? (codec(v).decode(o, { fieldValidation: 'Ignore' }).object as Record<string, unknown>)
          : ((sub?.fromView?.(o) ?? o) as Record<string, unknown>),
      operation,
      kind: sub?.kind ?? { group: this.group, version, kind: this.names.kind },
      resource: { group: this.group, version, resource: this.names.resource },
      subresource: sub?.subresource ?? '',
      namespace,
      name,
      object: objects.object as Record<string, unknown> | undefined,
      oldObject: objects.oldObject as Record<string, unknown> | undefined,
      dryRun: opts.dryRun,
      userInfo: opts.user,
    };
  }

  async create(namespace: string, body: unknown, opts: WriteOptions): Promise<WriteResult<T>> {
    const { object, warnings } = this.codec(opts.version).decode(body, {
      fieldValidation: opts.fieldValidation,
    });
    const requested = object.metadata.managedFields;
    // The creator owns what it sent (with its defaults), as kube-apiserver's create handler records it.
    return this.createObject(namespace, object, opts, warnings, (o, now) =>
      this.tracker.trackUpdate(o, undefined, requested, opts, '', now),
    );
  }

  /** A create of a decoded hub object; `track` sets its managedFields once it is defaulted. */
  private async createObject(
    namespace: string,
    decoded: T,
    opts: WriteOptions,
    warnings: string[],
    track: (o: T, now: string) => void,
  ): Promise<WriteResult<T>> {
    let object = decoded;
    this.checkNamespace(object, namespace);
    const now = rfc3339Seconds(this.now());
    // Mutating admission sees the decoded, defaulted object before the create strategy runs, so its
    // refusals come before validation's (a create into a missing namespace is 404 whatever the body),
    // as in kube-apiserver's create handler; dry runs are admitted too.
    this.strategy.defaults(object);
    track(object, now);
    const attributes = this.admissionAttributes(
      'CREATE',
      namespace,
      object.metadata.name ?? '',
      opts,
      { object },
      undefined,
      warnings,
    );
    await this.admission.admit(attributes);
    // Mutating webhooks replace the object; what they did to managedFields stands only if it is valid.
    if (attributes.object !== object) object = this.admitted(attributes.object as T, object, namespace);
    const meta = object.metadata;
    resetForCreate(meta, now);
    this.strategy.prepareForCreate(object, now);
    this.strategy.defaults(object);
    const errors = this.strategy.validate(object);
    if (errors.length) throw this.invalid(meta.name ?? meta.generateName ?? '', errors);
    // Validating admission sees the object as it will be stored (name generated), before the write.
    await this.admission.validate({ ...attributes, name: meta.name ?? '' });

    if (opts.dryRun) {
      const exists = await this.storage.get(this.form.keyFor(namespace, meta.name!));
      if (exists) throw alreadyExists(this.groupResource, meta.name!);
      const preview = this.form.fromStored(this.form.toStored(object), 0);
      delete preview.metadata.resourceVersion;
      return { object: preview, warnings };
    }
    try {
      const stored = this.form.toStored(object);
      const revision = await this.storage.create(this.form.keyFor(namespace, meta.name!), stored);
      return { object: this.form.fromStored(stored, revision), warnings };
    } catch (e) {
      if (e instanceof KeyExistsError) throw alreadyExists(this.groupResource, meta.name!);
      throw e;
    }
  }

  /**
   * The object mutating admission left in place of `before`: in the request's namespace, and with the
   * managedFields it had unless the new ones still decode (fieldmanager's
   * NewManagedFieldsValidatorAdmissionController: changes by webhooks are not attributed to anyone).
   */
  private admitted(after: T, before: T, namespace: string): T {
    this.checkNamespace(after, namespace);
    const managed = after.metadata.managedFields;
    if (managed !== before.metadata.managedFields) {
      try {
        decodeManagedFields(managed);
      } catch {
        after.metadata.managedFields = before.metadata.managedFields;
      }
    }
    return after;
  }

  /**
   * The read-modify-write loop every update, patch, subresource write and graceful delete goes through
   * (GuaranteedUpdate): `mutate` gets the current object and returns the desired one; storage
   * conflicts re-run it on fresh state, as etcd3's GuaranteedUpdate does. A request that names a
   * resourceVersion (a PUT's, or one a patch sets) is checked by `mutate` against each attempt's state,
   * so it gets 409 once another write has landed; a patch that names none is applied to the fresh
   * object and succeeds. Admission (UPDATE) runs on each attempt's result, before the no-op check and
   * the write.
   */
  protected async guaranteedUpdate(
    namespace: string,
    name: string,
    opts: WriteOptions,
    sub: AdmissionView | undefined,
    mutate: (current: T) => {
      next: T;
      warnings?: string[];
      /**
       * The object to store when mutating admission replaced the view of `next` (the strategy's update
       * preparation and validation again, as kube-apiserver runs them after mutating admission).
       */
      readmit: (admitted: unknown) => T;
    },
  ): Promise<WriteResult<T> & { deleted: boolean }> {
    const key = this.form.keyFor(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.storage.get(key);
      if (!kv) throw notFound(this.groupResource, name);
      const current = this.form.fromKeyValue(kv);
      const mutated = mutate(current);
      const { warnings: mutateWarnings = [] } = mutated;
      let next = mutated.next;
      // This attempt's, with what admission adds (a retry starts again from mutate's).
      const warnings = [...mutateWarnings];
      // As GuaranteedUpdate's tryUpdate in kube-apiserver: dry runs and no-op writes are admitted too.
      const view = sub?.view ?? ((o: StoredObject) => o);
      const viewed = view(next);
      const attributes = this.admissionAttributes(
        'UPDATE',
        namespace,
        name,
        opts,
        { object: viewed, oldObject: view(current) },
        sub,
        warnings,
      );
      await this.admission.admit(attributes);
      if (attributes.object !== viewed) {
        next = mutated.readmit(attributes.object);
        attributes.object = view(next) as Record<string, unknown>;
      }
      await this.admission.validate(attributes);
      const stored = this.form.toStored(next);
      if (jsonEqual(stored, kv.value)) return { object: current, warnings, deleted: false };
      // Removing the last finalizer of an object being deleted completes the deletion.
      const finishDeletion = !!next.metadata.deletionTimestamp && !(next.metadata.finalizers ?? []).length;
      if (opts.dryRun)
        return { object: this.form.fromStored(stored, kv.modRevision), warnings, deleted: finishDeletion };
      try {
        if (finishDeletion) {
          const revision = await this.storage.delete(key, kv.modRevision);
          return { object: this.form.fromStored(stored, revision), warnings, deleted: true };
        }
        const revision = await this.storage.update(key, stored, kv.modRevision);
        return { object: this.form.fromStored(stored, revision), warnings, deleted: false };
      } catch (e) {
        if (e instanceof KeyNotFoundError) throw notFound(this.groupResource, name);
        if (e instanceof RevisionConflictError) {
          if (attempt + 1 >= MAX_UPDATE_ATTEMPTS) throw conflict(this.groupResource, name);
          continue;
        }
        throw e;
      }
    }
  }

  /** A write that names a resourceVersion other than the current object's is a 409 Conflict. */
  protected checkResourceVersion(requested: string | undefined, current: T, name: string): void {
    if (requested && requested !== current.metadata.resourceVersion) throw conflict(this.groupResource, name);
  }

  /** A patched or mutated object keeps the name and namespace of the request. */
  private checkIdentity(object: T, namespace: string, name: string): void {
    for (const [field, value, expected] of [
      ['metadata.name', object.metadata.name, name],
      ['metadata.namespace', object.metadata.namespace ?? namespace, namespace],
    ] as const) {
      if (value !== expected) {
        throw this.invalid(name, [{ type: 'FieldValueInvalid', field, value, detail: 'field is immutable' }]);
      }
    }
    object.metadata.namespace = namespace;
  }

  /**
   * guaranteedUpdate's readmit for the main resource and status: the object mutating admission left is
   * prepared and validated again against the current one, keeping the managedFields `next` was given
   * (or the admitted ones, when they are valid).
   */
  protected readmitUpdate(
    next: T,
    current: T,
    subresource: 'status' | undefined,
    opts: WriteOptions,
  ): (admitted: unknown) => T {
    return (admitted) => {
      const object = admitted as T;
      const name = current.metadata.name!;
      this.checkIdentity(object, current.metadata.namespace ?? '', name);
      const managed = this.admitted(object, next, current.metadata.namespace ?? '').metadata.managedFields;
      const prepared = this.prepareUpdate(object, current, subresource, opts, (o) => {
        o.metadata.managedFields = managed;
      });
      checkPatchedSize(prepared);
      return prepared;
    };
  }

  /** Applies the main-resource or status update strategy to a decoded object against the current one. */
  private prepareUpdate(
    incoming: T,
    current: T,
    subresource: 'status' | undefined,
    opts: WriteOptions,
    /** Sets managedFields instead of tracking an Update (an apply has its own). */
    track?: (next: T) => void,
  ): T {
    const now = rfc3339Seconds(this.now());
    if (subresource === 'status') {
      const status = this.strategy.status!;
      const next = status.prepareForUpdate(incoming, current, now);
      const errors = status.validateUpdate(next, current);
      if (errors.length) throw this.invalid(current.metadata.name!, errors);
      if (track) track(next);
      else this.tracker.trackUpdate(next, current, undefined, opts, 'status', now);
      return next;
    }
    const next = incoming;
    const requested = next.metadata.managedFields;
    // System-owned metadata is carried over; what else is (status) is the strategy's.
    carryOverForUpdate(next.metadata, current.metadata);
    this.strategy.defaults(next);
    this.strategy.prepareForUpdate(next, current);
    const errors = [
      ...this.strategy.validateUpdate(next, current),
      ...finalizersAddedWhileDeleting(next.metadata, current.metadata),
    ];
    if (errors.length) throw this.invalid(current.metadata.name!, errors);
    if (track) track(next);
    else this.tracker.trackUpdate(next, current, requested, opts, '', now);
    return next;
  }

  private checkSubresource(subresource: 'status' | undefined): void {
    if (subresource === 'status' && !this.strategy.status) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
  }

  /** PUT: a full replacement, requiring metadata.resourceVersion (no unconditional updates, no create-on-update). */
  async update(
    namespace: string,
    name: string,
    body: unknown,
    opts: WriteOptions,
    subresource?: 'status',
  ): Promise<WriteResult<T>> {
    this.checkSubresource(subresource);
    const { object, warnings } = this.codec(opts.version).decode(body, {
      fieldValidation: opts.fieldValidation,
    });
    if (object.metadata.name !== undefined && object.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    object.metadata.name = name;
    this.checkNamespace(object, namespace);
    const requestedRv = object.metadata.resourceVersion;
    if (!requestedRv) {
      throw this.invalid(name, [
        {
          type: 'FieldValueInvalid',
          field: 'metadata.resourceVersion',
          value: 0,
          detail: 'must be specified for an update',
        },
      ]);
    }
    const sub = subresource ? { subresource } : undefined;
    const result = await this.guaranteedUpdate(namespace, name, opts, sub, (current) => {
      this.checkResourceVersion(requestedRv, current, name);
      const next = this.prepareUpdate(copySharingManagedFields(object), current, subresource, opts);
      return {
        next,
        readmit: this.readmitUpdate(next, current, subresource, opts),
      };
    });
    return { object: result.object, warnings: warnings.concat(result.warnings) };
  }

  async patch(
    namespace: string,
    name: string,
    type: PatchType,
    rawPatch: string,
    opts: WriteOptions,
    subresource?: 'status',
  ): Promise<WriteResult<T>> {
    this.checkSubresource(subresource);
    const patch = parsePatchBody(rawPatch, type);
    const codec = this.codec(opts.version);
    const sub = subresource ? { subresource } : undefined;
    const result = await this.guaranteedUpdate(namespace, name, opts, sub, (current) => {
      // A patch applies to the object as the client sees it: in the version of the request.
      const patched = applyPatchDocument(codec.encode(current) as unknown as JsonObject, type, patch);
      const { object, warnings } = codec.decode(patched, { fieldValidation: opts.fieldValidation });
      this.checkIdentity(object, namespace, name);
      this.checkResourceVersion(object.metadata.resourceVersion, current, name);
      const next = this.prepareUpdate(object, current, subresource, opts);
      // A patch may grow the object past what any request body could create.
      checkPatchedSize(next);
      return {
        next,
        warnings,
        readmit: this.readmitUpdate(next, current, subresource, opts),
      };
    });
    return { object: result.object, warnings: result.warnings };
  }

  // ---- server-side apply ----

  /**
   * PATCH with application/apply-patch+yaml: merges the configuration into the object (creating it when
   * missing, not on a subresource) as `opts.fieldManager`, which then owns exactly the fields it sent
   * (apply/field-manager.ts). A configuration's status is ignored on the main resource, and only its
   * status counts on the status subresource, as kube-apiserver's reset fields have it.
   */
  async apply(
    namespace: string,
    name: string,
    /** The configuration as parsed from the request body (YAML or JSON). */
    body: unknown,
    opts: WriteOptions & { force: boolean },
    subresource?: 'status',
  ): Promise<WriteResult<T> & { created: boolean }> {
    this.checkSubresource(subresource);
    if (!opts.fieldManager) {
      throw invalid('meta.k8s.io', 'PatchOptions', '', [
        { type: 'FieldValueRequired', field: 'fieldManager', detail: 'is required for apply patch' },
      ]);
    }
    const codec = this.codec(opts.version);
    const { object: config, warnings } = codec.decodeApplyConfiguration(body, {
      fieldValidation: opts.fieldValidation,
    });
    const meta = (config.metadata ?? {}) as Record<string, unknown>;
    if (meta.managedFields !== undefined) throw badRequest('metadata.managedFields must be nil');
    if (meta.name !== undefined && meta.name !== name) {
      throw badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    config.metadata = { ...meta, name, namespace };
    if (subresource === 'status') {
      for (const key of Object.keys(config))
        if (!['apiVersion', 'kind', 'metadata', 'status'].includes(key)) delete config[key];
      config.metadata = { name, namespace };
    } else {
      delete config.status;
    }
    const ops = {
      merge,
      remove: removeItems,
      toHub: (o: Record<string, unknown>) => codec.toHub(o),
    };
    const existing = await this.storage.get(this.form.keyFor(namespace, name));
    if (!existing) {
      if (subresource) throw notFound(this.groupResource, name);
      const now = rfc3339Seconds(this.now());
      const result = recordApply(
        this.tracker.view,
        new Map(),
        this.tracker.who(opts, '', now),
        undefined,
        config,
        opts.force,
        ops,
      );
      const created = await this.createObject(namespace, result.hub as T, opts, warnings, (o) =>
        this.tracker.setManagedFields(o, result.managed),
      );
      return { ...created, created: true };
    }
    const sub = subresource ? { subresource } : undefined;
    const result = await this.guaranteedUpdate(namespace, name, opts, sub, (current) => {
      const now = rfc3339Seconds(this.now());
      const applied = recordApply(
        this.tracker.view,
        decodeManagedFields(current.metadata.managedFields, true),
        this.tracker.who(opts, subresource ?? '', now),
        current,
        config,
        opts.force,
        ops,
      );
      const next = this.prepareUpdate(applied.hub as T, current, subresource, opts, (o) =>
        this.tracker.setManagedFields(o, applied.managed),
      );
      checkPatchedSize(next);
      return { next, readmit: this.readmitUpdate(next, current, subresource, opts) };
    });
    return { object: result.object, warnings: warnings.concat(result.warnings), created: false };
  }

  // ---- delete ----

  async delete(
    namespace: string,
    name: string,
    options: DeleteOptions,
    opts: WriteOptions,
  ): Promise<DeleteResult<T>> {
    const key = this.form.keyFor(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.storage.get(key);
      if (!kv) throw notFound(this.groupResource, name);
      const current = this.form.fromKeyValue(kv);
      const failed = failedPrecondition(current.metadata, options);
      if (failed) throw conflict(this.groupResource, name, failed);
      // Delete admission sees the object being deleted as oldObject, after the preconditions, as
      // kube-apiserver's deleteValidation; collection deletes admit each item here too.
      const warnings: string[] = [];
      await this.admission.run(
        this.admissionAttributes(
          'DELETE',
          namespace,
          name,
          opts,
          { oldObject: current },
          undefined,
          warnings,
        ),
      );
      const finalizers = gcFinalizers(current.metadata.finalizers ?? [], options);
      try {
        if (finalizers.length === 0) {
          if (opts.dryRun) return { object: current, deleted: true, warnings };
          const revision = await this.storage.delete(key, kv.modRevision);
          return { object: this.form.fromStored(kv.value, revision), deleted: true, warnings };
        }
        // Graceful deletion: mark and wait for finalizers to be removed.
        const next = structuredClone(current);
        next.metadata.finalizers = finalizers;
        if (!next.metadata.deletionTimestamp) {
          next.metadata.deletionTimestamp = rfc3339Seconds(this.now());
          next.metadata.deletionGracePeriodSeconds = 0;
        }
        const stored = this.form.toStored(next);
        if (jsonEqual(stored, kv.value)) return { object: current, deleted: false, warnings };
        if (opts.dryRun) return { object: next, deleted: false, warnings };
        const revision = await this.storage.update(key, stored, kv.modRevision);
        return { object: this.form.fromStored(stored, revision), deleted: false, warnings };
      } catch (e) {
        if (e instanceof KeyNotFoundError) throw notFound(this.groupResource, name);
        if (e instanceof RevisionConflictError && attempt + 1 < MAX_UPDATE_ATTEMPTS) continue;
        if (e instanceof RevisionConflictError) throw conflict(this.groupResource, name);
        throw e;
      }
    }
  }

  async deleteCollection(
    namespace: string | undefined,
    q: ListQuery,
    options: DeleteOptions,
    opts: WriteOptions,
  ): Promise<{ list: ObjectList<T>; warnings: string[] }> {
    const list = await this.list(namespace, { ...q, limit: undefined, continue: undefined });
    const deleted: T[] = [];
    const warnings: string[] = [];
    for (const o of list.items) {
      try {
        const result = await this.delete(o.metadata.namespace!, o.metadata.name!, options, opts);
        deleted.push(result.object);
        warnings.push(...result.warnings);
      } catch (e) {
        // Gone in the meantime: someone else finished the job.
        if (e instanceof ApiError && e.code === 404) continue;
        throw e;
      }
    }
    return { list: { ...list, items: deleted }, warnings };
  }
}
