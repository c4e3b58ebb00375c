/**
 * The Widget registry: kube-apiserver's generic-registry semantics (k8s.io/apiserver
 * pkg/registry/generic/registry/store.go) over the revisioned Storage. It owns object metadata
 * (uid, generateName, creationTimestamp, generation, resourceVersion from the store revision),
 * optimistic concurrency, dry runs, the status and scale subresources, graceful deletion with
 * finalizers and GC propagation policies, list paging and selectors, and watch (resume, 410, bookmarks,
 * watch-list). It speaks objects and ApiErrors; HTTP framing and output forms belong to http/.
 */
import { randomUUID, randomInt } from 'node:crypto';
import { jsonEqual } from '../../shared/json-equal';
import {
  ApiError,
  conflict,
  expired,
  invalid,
  badRequest,
  notFound,
  alreadyExists,
  tooLargeResourceVersion,
  internalError,
  type FieldError,
  type GroupResource,
  type Status,
} from '../../shared/status-errors';
import {
  KIND,
  LIST_KIND,
  RESOURCE,
  type ApiIdentity,
  type DeleteOptions,
  type Scale,
  type Widget,
  type WidgetList,
  type WatchEvent,
} from '../api/types';
import { decodeScale } from '../api/decode';
import { HUB_VERSION, WidgetCodec } from '../api/codec';
import { DEFAULT_STORAGE_VERSION, WIDGET_VERSION_NAMES } from '../apis/widgets';
import { applyWidgetDefaults } from '../api/defaults';
import {
  validateScale,
  validateWidgetCreate,
  validateWidgetStatus,
  validateWidgetUpdate,
} from '../api/validation';
import { exactFieldValue, matchesFields, matchesLabels, widgetFields } from '../api/selectors';
import { applyScaleToWidget, widgetToScale } from '../api/scale';
import {
  CompactedError,
  FutureRevisionError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  type JsonObject,
  type KeyValue,
  type Storage,
  type StorageWatchEvent,
  type WatchHandle,
} from '../storage/storage';
import {
  continueExpired,
  decodeContinue,
  encodeContinue,
  parseResourceVersion,
  type ListQuery,
} from './list-options';
import { applyPatchDocument, checkPatchedSize, parsePatchBody, type PatchType } from './patch';
import { rfc3339Seconds } from '../../shared/time';
import type { MigrationTarget } from './storage-migration';
import { AdmissionChain, type AdmissionAttributes, type Operation } from '../admission/admission';
import type { UserInfo } from '../auth/authentication';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  /** The version the request was made in (its body's, and its answer's); absent: the registry's default. */
  version?: string;
  dryRun: boolean;
  fieldValidation: FieldValidation;
  fieldManager?: string;
  /** The requesting user, handed to admission plugins (admission.Attributes.GetUserInfo). */
  user?: UserInfo;
}

export interface WriteResult<T> {
  object: T;
  warnings: string[];
}

export interface DeleteResult {
  object: Widget;
  /** True when the object is gone; false when it waits for finalizers (graceful deletion). */
  deleted: boolean;
}

/** Receives watch events in order; `end` closes the stream (timeouts, errors, shutdown). */
export interface WatchSink {
  send(event: WatchEvent<Widget | Status | BookmarkObject>): void;
  end(): void;
}

export interface BookmarkObject {
  kind: string;
  apiVersion: string;
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
}

export interface RegistryOptions {
  /** The group, and the version requests are in when they do not say (the preferred one). */
  identity: ApiIdentity;
  /** The versions served (default: all the kind has); each has a codec. */
  versions?: readonly string[];
  /** The version objects are written in (default v1); objects of any served version are read. */
  storageVersion?: string;
  now?: () => Date;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK (kube-apiserver: about once a minute). */
  bookmarkIntervalMs?: number;
  /** Admission plugins run on every write, after decoding and before storage (none by default). */
  admission?: AdmissionChain;
}

const FINALIZER_ORPHAN = 'orphan';
const FINALIZER_FOREGROUND = 'foregroundDeletion';
const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';
/** Bounded retries of a read-modify-write when another writer wins the race (GuaranteedUpdate). */
const MAX_UPDATE_ATTEMPTS = 8;
/** The longest delay a Node timer can hold. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Characters kube-apiserver uses for generateName suffixes (no vowels, no confusable digits). */
const NAME_SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Freezes an object graph: one watch event's object is shared by every watcher that receives it. */
/** The version part of a stored object's apiVersion (group/version). */
function storedVersionOf(apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

export class WidgetRegistry {
  readonly identity: ApiIdentity;
  readonly groupResource: GroupResource;
  private readonly now: () => Date;
  private readonly bookmarkIntervalMs: number;
  /** Each open watch's stop, and what ends it at shutdown (a final bookmark, then stop). */
  private readonly activeWatches = new Map<() => void, () => void>();
  private watchesEnded = false;
  /** Widgets of watch events, per shared event object (watchObject). */
  private readonly convertedEvents = new WeakMap<StorageWatchEvent, { value?: Widget; prevValue?: Widget }>();
  private readonly admission: AdmissionChain;
  /** A codec per served version, and one per version storage may hold (every version the kind has). */
  private readonly codecs = new Map<string, WidgetCodec>();
  readonly versions: readonly string[];
  readonly storageVersion: string;
  private readonly hubApiVersion: string;

  constructor(
    private readonly storage: Storage,
    options: RegistryOptions,
  ) {
    this.identity = options.identity;
    this.groupResource = { group: options.identity.group, resource: RESOURCE };
    this.now = options.now ?? (() => new Date());
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 60_000;
    this.admission = options.admission ?? new AdmissionChain();
    this.versions = options.versions ?? WIDGET_VERSION_NAMES;
    this.storageVersion = options.storageVersion ?? DEFAULT_STORAGE_VERSION;
    for (const v of WIDGET_VERSION_NAMES) this.codecs.set(v, new WidgetCodec(options.identity.group, v));
    this.hubApiVersion = `${options.identity.group}/${HUB_VERSION}`;
  }

  /** The apiVersion of the objects the registry hands out (the hub's); answers are encoded per request. */
  get apiVersion(): string {
    return this.hubApiVersion;
  }

  /** The codec of a served version; the default version's when none is given. */
  codec(version: string = this.identity.version): WidgetCodec {
    const codec = this.versions.includes(version) ? this.codecs.get(version) : undefined;
    if (!codec) throw new Error(`version ${version} of widgets is not served`);
    return codec;
  }

  // ---- keys and object <-> stored value ----

  private prefixFor(namespace?: string): string {
    return namespace ? `${RESOURCE}/${namespace}/` : `${RESOURCE}/`;
  }

  private keyFor(namespace: string, name: string): string {
    return `${RESOURCE}/${namespace}/${name}`;
  }

  /** Stored values carry no resourceVersion; it is the key's modRevision, set on every read. */
  /**
   * A stored object as the hub type. Objects record the version they were written in; one written in
   * another version (an older storage version) is converted on read, until migration rewrites it.
   */
  private fromStored(value: JsonObject, revision: number): Widget {
    const stored = structuredClone(value);
    const storedVersion = storedVersionOf(stored.apiVersion);
    const w =
      storedVersion === HUB_VERSION || storedVersion === undefined
        ? (stored as unknown as Widget)
        : this.storageCodec(storedVersion).toHub(stored);
    w.apiVersion = this.hubApiVersion;
    w.kind = KIND;
    w.metadata = { ...w.metadata, resourceVersion: String(revision) };
    return w;
  }

  /** The hub object as written to storage: in the storage version, which its apiVersion records. */
  private toStored(w: Widget): JsonObject {
    const codec = this.storageCodec(this.storageVersion);
    // A JSON round trip drops undefined fields, so stored values are canonical on every store.
    const copy = JSON.parse(JSON.stringify(codec.encode(w))) as JsonObject & Widget;
    delete copy.metadata.resourceVersion;
    delete copy.metadata.selfLink;
    copy.apiVersion = codec.apiVersion;
    copy.kind = KIND;
    return copy;
  }

  /** What storage version migration (storage-migration.ts) rewrites, and how. */
  migrationTarget(): MigrationTarget {
    return {
      storage: this.storage,
      prefix: this.prefixFor(),
      storageApiVersion: this.storageCodec(this.storageVersion).apiVersion,
      reencode: (kv) => this.toStored(this.fromStored(kv.value, kv.modRevision)),
    };
  }

  private storageCodec(version: string): WidgetCodec {
    const codec = this.codecs.get(version);
    if (!codec)
      throw internalError(`stored object is in version ${version}, which this server does not know`);
    return codec;
  }

  private fromKeyValue(kv: KeyValue): Widget {
    return this.fromStored(kv.value, kv.modRevision);
  }

  private invalid(name: string, errors: FieldError[]): ApiError {
    return invalid(this.identity.group, KIND, name, errors);
  }

  // ---- reads ----

  async get(namespace: string, name: string): Promise<Widget> {
    const kv = await this.storage.get(this.keyFor(namespace, name));
    if (!kv) throw notFound(this.groupResource, name);
    return this.fromKeyValue(kv);
  }

  private matches(w: Widget, q: ListQuery): boolean {
    if (q.labelSelector && !matchesLabels(q.labelSelector, w.metadata.labels)) return false;
    if (q.fieldSelector && !matchesFields(q.fieldSelector, widgetFields(w))) return false;
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

  async list(namespace: string | undefined, q: ListQuery): Promise<WidgetList> {
    const prefix = this.prefixFor(namespace);
    let revision = await this.listRevision(q, prefix);
    let startAfter = q.continue ? decodeContinue(q.continue, prefix).startAfter : undefined;
    const limit = q.limit ?? 0;
    const filtering = !!(q.labelSelector || q.fieldSelector);
    const items: Widget[] = [];
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
        const w = this.fromKeyValue(kv);
        lastKey = kv.key;
        if (this.matches(w, q)) items.push(w);
      }
      more = page.more;
      remaining = page.remaining;
      if (page.items.length) startAfter = page.items[page.items.length - 1].key;
      if (!limit || !more || items.length >= limit) break;
    }
    const list: WidgetList = {
      apiVersion: this.apiVersion,
      kind: LIST_KIND,
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

  /**
   * Starts a watch. Resolves once the watch is established; events then flow to the sink until the
   * timeout, an error, stop(), or shutdown. A too-old resourceVersion is an ERROR event with a 410
   * Expired Status, then the end of the stream, as kube-apiserver does.
   */
  async watch(
    namespace: string | undefined,
    q: ListQuery,
    sink: WatchSink,
    name?: string,
  ): Promise<WatchHandle> {
    if (name !== undefined) {
      const fromSelector = q.fieldSelector ? exactFieldValue(q.fieldSelector, 'metadata.name') : undefined;
      if (q.fieldSelector && fromSelector !== undefined && fromSelector !== name) {
        throw badRequest("fieldSelector metadata.name doesn't match requested name");
      }
    }
    const nameFilter = name;
    const prefix = this.prefixFor(namespace);
    const matches = (w: Widget) =>
      (nameFilter === undefined || w.metadata.name === nameFilter) && this.matches(w, q);

    let closed = false;
    // Created after the initial events are sent, but stop() may run before that.
    const resources: {
      storageWatch?: WatchHandle;
      timeout?: NodeJS.Timeout;
      bookmarkTimer?: NodeJS.Timeout;
    } = {};
    let lastRevision = 0;

    const stop = () => {
      if (closed) return;
      closed = true;
      resources.storageWatch?.stop();
      if (resources.timeout) clearTimeout(resources.timeout);
      if (resources.bookmarkTimer) clearInterval(resources.bookmarkTimer);
      this.activeWatches.delete(stop);
      sink.end();
    };
    const fail = (err: ApiError) => {
      if (closed) return;
      sink.send({ type: 'ERROR', object: err.toStatus() });
      stop();
    };
    const bookmark = (revision: number, annotations?: Record<string, string>) => {
      const metadata: BookmarkObject['metadata'] = { resourceVersion: String(revision) };
      if (annotations) metadata.annotations = annotations;
      sink.send({ type: 'BOOKMARK', object: { kind: KIND, apiVersion: this.apiVersion, metadata } });
    };

    // Decide the starting point: initial state (rv ""/"0" or sendInitialEvents) or resume after rv N.
    let sendInitial: boolean;
    let afterRevision: number;
    const rv = q.resourceVersion;
    if (q.sendInitialEvents !== undefined) {
      sendInitial = q.sendInitialEvents;
    } else {
      sendInitial = rv === undefined || rv === '0';
    }
    const initial: Widget[] = [];
    if (sendInitial) {
      const list = await this.list(namespace, {
        ...q,
        watch: false,
        limit: undefined,
        continue: undefined,
        resourceVersion: rv,
        resourceVersionMatch: rv && rv !== '0' ? 'NotOlderThan' : undefined,
      });
      afterRevision = Number(list.metadata.resourceVersion);
      for (const w of list.items) if (matches(w)) initial.push(w);
    } else if (rv === undefined || rv === '0') {
      afterRevision = await this.storage.currentRevision();
    } else {
      afterRevision = parseResourceVersion(rv);
      const current = await this.storage.currentRevision();
      if (afterRevision > current) throw tooLargeResourceVersion(afterRevision, current);
    }
    lastRevision = afterRevision;

    // At shutdown a watch that takes bookmarks gets one first, so that the client resumes elsewhere
    // from the newest revision this watch had reached, not from its last event.
    const endForShutdown = () => {
      if (!closed && q.allowWatchBookmarks) bookmark(lastRevision);
      stop();
    };
    this.activeWatches.set(stop, endForShutdown);
    for (const w of initial) sink.send({ type: 'ADDED', object: w });
    if (q.sendInitialEvents && q.allowWatchBookmarks) {
      bookmark(afterRevision, { [INITIAL_EVENTS_END]: 'true' });
    }

    resources.storageWatch = this.storage.watch(prefix, afterRevision, {
      onEvent: (e) => {
        if (closed) return;
        lastRevision = e.modRevision;
        const out = this.translateEvent(e, matches);
        if (out) sink.send(out);
      },
      onError: (err) => {
        if (err instanceof CompactedError) {
          fail(
            expired(
              // The watch cache's message when the compacted revision is known; etcd3's otherwise.
              err.compacted !== undefined
                ? `too old resource version: ${afterRevision} (${err.compacted})`
                : 'The resourceVersion for the provided watch is too old.',
            ),
          );
        } else {
          fail(internalError(err.message));
        }
      },
      onProgress: (revision) => {
        if (revision > lastRevision) lastRevision = revision;
      },
    });

    const timeoutMs =
      q.timeoutSeconds !== undefined && q.timeoutSeconds > 0
        ? q.timeoutSeconds * 1000
        : // kube-apiserver picks a random timeout in [minRequestTimeout, 2*minRequestTimeout) to spread relists.
          (1800 + randomInt(1800)) * 1000;
    // Node's timers hold at most 2^31-1 ms (24.8 days) and fire at once beyond it: a larger
    // timeoutSeconds (kube-apiserver takes any) ends the watch after 24.8 days instead.
    resources.timeout = setTimeout(stop, Math.min(timeoutMs, MAX_TIMER_MS));
    resources.timeout.unref?.();
    if (q.allowWatchBookmarks) {
      resources.bookmarkTimer = setInterval(() => !closed && bookmark(lastRevision), this.bookmarkIntervalMs);
      resources.bookmarkTimer.unref?.();
    }
    // A watch still being set up when shutdown ended the others (it was waiting on storage) ends too,
    // once its caller has started the stream; otherwise it would hold its connection to the grace period.
    if (this.watchesEnded) setImmediate(endForShutdown);
    return { stop };
  }

  /**
   * The Widget of a storage event's value, converted once for every watcher that receives the event
   * (the watch cache shares event objects) and frozen, since all of them hold the same object.
   */
  private watchObject(e: StorageWatchEvent, which: 'value' | 'prevValue'): Widget {
    let converted = this.convertedEvents.get(e);
    if (!converted) this.convertedEvents.set(e, (converted = {}));
    let w = converted[which];
    if (!w) w = converted[which] = deepFreeze(this.fromStored(e[which]!, e.modRevision));
    return w;
  }

  /** Maps a storage event to a watch event through the filter: leaving the filter is DELETED, entering ADDED. */
  private translateEvent(
    e: StorageWatchEvent,
    matches: (w: Widget) => boolean,
  ): WatchEvent<Widget> | undefined {
    const current = this.watchObject(e, 'value');
    if (e.type === 'delete') return matches(current) ? { type: 'DELETED', object: current } : undefined;
    const nowMatches = matches(current);
    if (e.isCreate || !e.prevValue) return nowMatches ? { type: 'ADDED', object: current } : undefined;
    const before = this.watchObject(e, 'prevValue');
    const wasMatching = matches(before);
    if (nowMatches && wasMatching) return { type: 'MODIFIED', object: current };
    if (nowMatches) return { type: 'ADDED', object: current };
    if (wasMatching) return { type: 'DELETED', object: current };
    return undefined;
  }

  /** Ends every open watch cleanly, and any set up later (graceful shutdown); returns how many were open. */
  stopAllWatches(): number {
    this.watchesEnded = true;
    const ends = [...this.activeWatches.values()];
    for (const end of ends) end();
    return ends.length;
  }

  get watchCount(): number {
    return this.activeWatches.size;
  }

  // ---- writes ----

  private checkNamespace(w: Widget, namespace: string) {
    if (w.metadata.namespace && w.metadata.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    w.metadata.namespace = namespace;
  }

  /** What admission plugins see of a write to a widget or one of its subresources. */
  private admissionAttributes(
    operation: Operation,
    namespace: string,
    name: string,
    opts: WriteOptions,
    objects: { object?: Widget | Scale; oldObject?: Widget | Scale },
    subresource?: 'status' | 'scale',
  ): AdmissionAttributes {
    const { group } = this.identity;
    const version = opts.version ?? this.identity.version;
    return {
      operation,
      kind:
        subresource === 'scale'
          ? { group: 'autoscaling', version: 'v1', kind: 'Scale' }
          : { group, version, kind: KIND },
      resource: { group, version, resource: RESOURCE },
      subresource: subresource ?? '',
      namespace,
      name,
      object: objects.object as unknown as Record<string, unknown> | undefined,
      oldObject: objects.oldObject as unknown as Record<string, unknown> | undefined,
      dryRun: opts.dryRun,
      userInfo: opts.user,
    };
  }

  private generateName(prefix: string): string {
    let suffix = '';
    for (let i = 0; i < 5; i++) suffix += NAME_SUFFIX_ALPHABET[randomInt(NAME_SUFFIX_ALPHABET.length)];
    return prefix + suffix;
  }

  async create(namespace: string, body: unknown, opts: WriteOptions): Promise<WriteResult<Widget>> {
    const { widget, warnings } = this.codec(opts.version).decode(body, {
      fieldValidation: opts.fieldValidation,
    });
    this.checkNamespace(widget, namespace);
    // Mutating admission sees the decoded, defaulted object before the create strategy runs, so its
    // refusals come before validation's (a create into a missing namespace is 404 whatever the body),
    // as in kube-apiserver's create handler; dry runs are admitted too.
    applyWidgetDefaults(widget);
    const attributes = this.admissionAttributes('CREATE', namespace, widget.metadata.name ?? '', opts, {
      object: widget,
    });
    await this.admission.admit(attributes);
    const meta = widget.metadata;
    if (!meta.name && meta.generateName) meta.name = this.generateName(meta.generateName);
    const now = rfc3339Seconds(this.now());
    meta.uid = randomUUID();
    meta.creationTimestamp = now;
    meta.generation = 1;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete meta.selfLink;
    // Writes to the main resource never set status; a new Widget starts Pending.
    widget.status = { phase: 'Pending', availableReplicas: 0, lastUpdated: now };
    applyWidgetDefaults(widget);
    const errors = validateWidgetCreate(widget);
    if (errors.length) throw this.invalid(meta.name ?? meta.generateName ?? '', errors);
    // Validating admission sees the object as it will be stored (name generated), before the write.
    await this.admission.validate({ ...attributes, name: meta.name ?? '' });

    if (opts.dryRun) {
      const exists = await this.storage.get(this.keyFor(namespace, meta.name!));
      if (exists) throw alreadyExists(this.groupResource, meta.name!);
      const preview = this.fromStored(this.toStored(widget), 0);
      delete preview.metadata.resourceVersion;
      return { object: preview, warnings };
    }
    try {
      const revision = await this.storage.create(this.keyFor(namespace, meta.name!), this.toStored(widget));
      return { object: this.fromStored(this.toStored(widget), revision), warnings };
    } catch (e) {
      if (e instanceof KeyExistsError) throw alreadyExists(this.groupResource, meta.name!);
      throw e;
    }
  }

  /**
   * The read-modify-write loop every update, patch, scale and graceful delete goes through
   * (GuaranteedUpdate): `mutate` gets the current object and returns the desired one; storage
   * conflicts re-run it on fresh state unless the caller pinned a resourceVersion. Admission (UPDATE)
   * runs on each attempt's result, before the no-op check and the write.
   */
  private async guaranteedUpdate(
    namespace: string,
    name: string,
    opts: WriteOptions,
    subresource: 'status' | 'scale' | undefined,
    mutate: (current: Widget) => { next: Widget; warnings?: string[]; pinnedResourceVersion?: boolean },
  ): Promise<WriteResult<Widget> & { deleted: boolean }> {
    const key = this.keyFor(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.storage.get(key);
      if (!kv) throw notFound(this.groupResource, name);
      const current = this.fromKeyValue(kv);
      const { next, warnings = [], pinnedResourceVersion = false } = mutate(current);
      // As GuaranteedUpdate's tryUpdate in kube-apiserver: dry runs and no-op writes are admitted too.
      // The scale subresource is admitted as the Scale clients send; mapping a mutating plugin's change
      // of that Scale back onto the Widget is for when such a plugin exists (issue 13).
      const scale = subresource === 'scale';
      await this.admission.run(
        this.admissionAttributes(
          'UPDATE',
          namespace,
          name,
          opts,
          {
            object: scale ? widgetToScale(next) : next,
            oldObject: scale ? widgetToScale(current) : current,
          },
          subresource,
        ),
      );
      const stored = this.toStored(next);
      if (jsonEqual(stored, kv.value)) {
        return { object: current, warnings, deleted: false };
      }
      // Removing the last finalizer of an object being deleted completes the deletion.
      const finishDeletion = !!next.metadata.deletionTimestamp && !(next.metadata.finalizers ?? []).length;
      if (opts.dryRun)
        return { object: this.fromStored(stored, kv.modRevision), warnings, deleted: finishDeletion };
      try {
        if (finishDeletion) {
          const revision = await this.storage.delete(key, kv.modRevision);
          return { object: this.fromStored(stored, revision), warnings, deleted: true };
        }
        const revision = await this.storage.update(key, stored, kv.modRevision);
        return { object: this.fromStored(stored, revision), warnings, deleted: false };
      } catch (e) {
        if (e instanceof KeyNotFoundError) throw notFound(this.groupResource, name);
        if (e instanceof RevisionConflictError) {
          if (pinnedResourceVersion || attempt + 1 >= MAX_UPDATE_ATTEMPTS)
            throw conflict(this.groupResource, name);
          continue;
        }
        throw e;
      }
    }
  }

  private checkResourceVersion(requested: string | undefined, current: Widget, name: string): boolean {
    if (!requested) return false;
    if (requested !== current.metadata.resourceVersion) throw conflict(this.groupResource, name);
    return true;
  }

  /** Applies the main-resource or status update strategy to a decoded object against the current one. */
  private prepareUpdate(incoming: Widget, current: Widget, subresource: 'status' | undefined): Widget {
    let next: Widget;
    if (subresource === 'status') {
      // Status writes change status only (apiextensions' status strategy): everything else stays.
      next = structuredClone(current);
      next.status = incoming.status;
      if (next.status && !jsonEqual(next.status, current.status)) {
        const clientSetTime = next.status.lastUpdated !== current.status?.lastUpdated;
        if (!clientSetTime) next.status.lastUpdated = rfc3339Seconds(this.now());
      }
      const errors = validateWidgetStatus(next);
      if (errors.length) throw this.invalid(current.metadata.name!, errors);
      return next;
    }
    next = incoming;
    const meta = next.metadata;
    const old = current.metadata;
    // System-owned metadata and status are carried over; main-resource writes ignore status.
    meta.uid = meta.uid ?? old.uid;
    meta.creationTimestamp = meta.creationTimestamp ?? old.creationTimestamp;
    meta.deletionTimestamp = old.deletionTimestamp;
    meta.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
    meta.generation = old.generation;
    delete meta.managedFields;
    delete meta.selfLink;
    if (meta.generateName === undefined && old.generateName !== undefined)
      meta.generateName = old.generateName;
    next.status = current.status;
    applyWidgetDefaults(next);
    if (!jsonEqual(next.spec, current.spec)) meta.generation = (old.generation ?? 1) + 1;
    const errors = validateWidgetUpdate(next, current);
    if (old.deletionTimestamp) {
      const before = new Set(old.finalizers ?? []);
      for (const f of meta.finalizers ?? []) {
        if (!before.has(f)) {
          errors.push({
            type: 'FieldValueForbidden',
            field: 'metadata.finalizers',
            detail: `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify([f])}`,
          });
        }
      }
    }
    if (errors.length) throw this.invalid(current.metadata.name!, errors);
    return next;
  }

  /** PUT: a full replacement, requiring metadata.resourceVersion (no unconditional updates, no create-on-update). */
  async update(
    namespace: string,
    name: string,
    body: unknown,
    opts: WriteOptions,
    subresource?: 'status',
  ): Promise<WriteResult<Widget>> {
    const { widget, warnings } = this.codec(opts.version).decode(body, {
      fieldValidation: opts.fieldValidation,
    });
    if (widget.metadata.name !== undefined && widget.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${widget.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    widget.metadata.name = name;
    this.checkNamespace(widget, namespace);
    const requestedRv = widget.metadata.resourceVersion;
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
    const result = await this.guaranteedUpdate(namespace, name, opts, subresource, (current) => {
      this.checkResourceVersion(requestedRv, current, name);
      return {
        next: this.prepareUpdate(structuredClone(widget), current, subresource),
        pinnedResourceVersion: true,
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
  ): Promise<WriteResult<Widget>> {
    const patch = parsePatchBody(rawPatch, type);
    const codec = this.codec(opts.version);
    const result = await this.guaranteedUpdate(namespace, name, opts, subresource, (current) => {
      // A patch applies to the object as the client sees it: in the version of the request.
      const patched = applyPatchDocument(codec.encode(current) as unknown as JsonObject, type, patch);
      const { widget, warnings } = codec.decode(patched, { fieldValidation: opts.fieldValidation });
      if (widget.metadata.name !== name) {
        throw this.invalid(name, [
          {
            type: 'FieldValueInvalid',
            field: 'metadata.name',
            value: widget.metadata.name,
            detail: 'field is immutable',
          },
        ]);
      }
      if (widget.metadata.namespace !== undefined && widget.metadata.namespace !== namespace) {
        throw this.invalid(name, [
          {
            type: 'FieldValueInvalid',
            field: 'metadata.namespace',
            value: widget.metadata.namespace,
            detail: 'field is immutable',
          },
        ]);
      }
      widget.metadata.namespace = namespace;
      const pinned = this.checkResourceVersion(widget.metadata.resourceVersion, current, name);
      const next = this.prepareUpdate(widget, current, subresource);
      // A patch may grow the object past what any request body could create.
      checkPatchedSize(next);
      return { next, warnings, pinnedResourceVersion: pinned };
    });
    return { object: result.object, warnings: result.warnings };
  }

  // ---- scale subresource ----

  async getScale(namespace: string, name: string): Promise<Scale> {
    return widgetToScale(await this.get(namespace, name));
  }

  private scaleUpdate(
    namespace: string,
    name: string,
    opts: WriteOptions,
    toScale: (current: Scale) => Scale,
  ) {
    return this.guaranteedUpdate(namespace, name, opts, 'scale', (current) => {
      const scale = toScale(widgetToScale(current));
      if (scale.metadata.name !== undefined && scale.metadata.name !== name) {
        throw badRequest(
          `the name of the object (${scale.metadata.name}) does not match the name on the URL (${name})`,
        );
      }
      const errors = validateScale(scale);
      if (errors.length) throw invalid('autoscaling', 'Scale', name, errors);
      const pinned = this.checkResourceVersion(scale.metadata.resourceVersion, current, name);
      const next = applyScaleToWidget(structuredClone(current), scale);
      if (!jsonEqual(next.spec, current.spec)) {
        next.metadata.generation = (current.metadata.generation ?? 1) + 1;
      }
      const specErrors = validateWidgetUpdate(next, current);
      if (specErrors.length) throw this.invalid(name, specErrors);
      return { next, pinnedResourceVersion: pinned };
    });
  }

  async updateScale(
    namespace: string,
    name: string,
    body: unknown,
    opts: WriteOptions,
  ): Promise<WriteResult<Scale>> {
    const { scale, warnings } = decodeScale(body, { fieldValidation: opts.fieldValidation });
    const result = await this.scaleUpdate(namespace, name, opts, () => scale);
    return { object: widgetToScale(result.object), warnings };
  }

  async patchScale(
    namespace: string,
    name: string,
    type: PatchType,
    rawPatch: string,
    opts: WriteOptions,
  ): Promise<WriteResult<Scale>> {
    const patch = parsePatchBody(rawPatch, type);
    let warnings: string[] = [];
    const result = await this.scaleUpdate(namespace, name, opts, (current) => {
      const patched = applyPatchDocument(current as unknown as JsonObject, type, patch);
      const decoded = decodeScale(patched, { fieldValidation: opts.fieldValidation });
      warnings = decoded.warnings;
      return decoded.scale;
    });
    return { object: widgetToScale(result.object), warnings };
  }

  // ---- delete ----

  /** Finalizers the GC needs for a propagation policy (store.go deletionFinalizersForGarbageCollection). */
  private gcFinalizers(existing: string[], options: DeleteOptions): string[] {
    let policy = options.propagationPolicy;
    if (!policy && options.orphanDependents !== undefined)
      policy = options.orphanDependents ? 'Orphan' : 'Background';
    if (!policy) return existing;
    const rest = existing.filter((f) => f !== FINALIZER_ORPHAN && f !== FINALIZER_FOREGROUND);
    if (policy === 'Orphan') return [...rest, FINALIZER_ORPHAN];
    if (policy === 'Foreground') return [...rest, FINALIZER_FOREGROUND];
    return rest;
  }

  private checkPreconditions(current: Widget, options: DeleteOptions, name: string) {
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== current.metadata.uid) {
      throw conflict(
        this.groupResource,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(
        this.groupResource,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
      );
    }
  }

  async delete(
    namespace: string,
    name: string,
    options: DeleteOptions,
    opts: WriteOptions,
  ): Promise<DeleteResult> {
    const key = this.keyFor(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.storage.get(key);
      if (!kv) throw notFound(this.groupResource, name);
      const current = this.fromKeyValue(kv);
      this.checkPreconditions(current, options, name);
      // Delete admission sees the object being deleted as oldObject, after the preconditions, as
      // kube-apiserver's deleteValidation; collection deletes admit each item here too.
      await this.admission.run(
        this.admissionAttributes('DELETE', namespace, name, opts, { oldObject: current }),
      );
      const finalizers = this.gcFinalizers(current.metadata.finalizers ?? [], options);
      try {
        if (finalizers.length === 0) {
          if (opts.dryRun) return { object: current, deleted: true };
          const revision = await this.storage.delete(key, kv.modRevision);
          return { object: this.fromStored(kv.value, revision), deleted: true };
        }
        // Graceful deletion: mark and wait for finalizers to be removed.
        const next = structuredClone(current);
        next.metadata.finalizers = finalizers;
        if (!next.metadata.deletionTimestamp) {
          next.metadata.deletionTimestamp = rfc3339Seconds(this.now());
          next.metadata.deletionGracePeriodSeconds = 0;
        }
        const stored = this.toStored(next);
        if (jsonEqual(stored, kv.value)) return { object: current, deleted: false };
        if (opts.dryRun) return { object: next, deleted: false };
        const revision = await this.storage.update(key, stored, kv.modRevision);
        return { object: this.fromStored(stored, revision), deleted: false };
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
  ): Promise<WidgetList> {
    const list = await this.list(namespace, { ...q, limit: undefined, continue: undefined });
    const deleted: Widget[] = [];
    for (const w of list.items) {
      try {
        const result = await this.delete(w.metadata.namespace!, w.metadata.name!, options, opts);
        deleted.push(result.object);
      } catch (e) {
        // Gone in the meantime: someone else finished the job.
        if (e instanceof ApiError && e.code === 404) continue;
        throw e;
      }
    }
    return { ...list, items: deleted };
  }
}
