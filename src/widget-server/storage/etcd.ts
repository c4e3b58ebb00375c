/**
 * The etcd store over the `etcd3` client: keys under a configurable prefix, JSON values, compare-and-swap
 * transactions on mod_revision, ranged reads at a revision with limits (continue tokens), compaction, and
 * watches from a revision with previous values. etcd's errors for compacted and future revisions are
 * mapped to the storage contract's errors, which the registry turns into 410 and 504.
 *
 * It also owns failover between the members of an etcd cluster (all given as endpoints): which member a
 * call goes to, which failed calls are tried again (reads always; a write only where that cannot apply
 * it twice or misreport it, see `classify`, `create` and `guarded`), and a watch that resumes on another member
 * from the last revision it delivered.
 */
import { readFileSync } from 'node:fs';
import {
  circuitBreaker,
  type IBackoff,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  isBrokenCircuitError,
  noop,
} from 'cockatiel';
import { Etcd3, isRecoverableError, type IKeyValue, type IOptions, type Watcher } from 'etcd3';
import { callDeadline, StorageTimeoutError, withDeadline } from './deadline';
import {
  CompactedError,
  FutureRevisionError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  type JsonObject,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Storage,
  type WatchCallbacks,
  type WatchHandle,
  ValueTooLargeError,
} from './storage';

export interface EtcdStorageOptions {
  endpoints: string[];
  /** Key prefix, e.g. /registry/custom.example.com; keys are stored as `<prefix>/<key>`. */
  prefix: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Bound on one call outside any request (compaction, a watch's initial read); default 60 s. */
  requestTimeoutMs?: number;
}

type KV = Etcd3['kv'];
type CallOptions = NonNullable<Parameters<KV['range']>[1]>;

/** The range end that covers every key starting with `prefix` (etcd's prefix convention). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function mapError(err: unknown, revision = 0): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (/required revision has been compacted/.test(message)) return new CompactedError(revision);
  if (/required revision is a future revision/.test(message))
    return new FutureRevisionError(revision, revision - 1);
  return err;
}

const MAX_INT32 = 2 ** 31 - 1;

/**
 * A write whose outcome cannot be known: it failed after it may have reached etcd (the member died or
 * the connection broke with it in flight, or etcd gave up waiting for its proposal to commit), and
 * nothing read afterwards tells whether it applied. Answered 500, as kube-apiserver answers etcd's own
 * "request timed out"; the client reads the object to learn what happened.
 */
export class WriteOutcomeUnknownError extends Error {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super(
      `the write of ${key} may or may not have been applied: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'WriteOutcomeUnknownError';
  }
}

/**
 * What a failed etcd call says about the request it carried:
 * - `unsent`: it certainly did not apply, so any call may be tried again, on another member. No member
 *   was called (every member's circuit is open), no connection was made or the call never started on it
 *   (grpc-js's "No connection established", "Name resolution failed" (a StatefulSet member whose pod
 *   has no address yet), "Channel closed before call started", HTTP/2's refused
 *   stream), or etcd refused it before proposing it to raft: "no leader" (our hasleader metadata, checked
 *   before the handler), "leader changed" (a linearizable read's ReadIndex, never a write), "too many
 *   requests" (checked before proposing), "raft proposal dropped" (raft refused it), "not capable".
 * - `unknown`: it may have applied: the connection broke after the request was sent ("Connection
 *   dropped", a reset), etcd timed out waiting for its proposal to commit ("request timed out", "...
 *   possibly due to previous leader failure", a proposal the new leader may still commit), the member
 *   stopped, or the deadline passed. A read can be tried again; a write only as `guarded` explains.
 * - `final`: etcd answered with an error a retry would repeat (compacted, too large, permission...).
 */
type Failure = 'unsent' | 'unknown' | 'final';

const UNSENT =
  /No connection established|Name resolution failed|Channel closed before call started|Stream refused by server|etcdserver: (no leader|leader changed|too many requests|not capable)|raft proposal dropped/;

function classify(err: unknown): Failure {
  if (isBrokenCircuitError(err)) return 'unsent';
  if (!(err instanceof Error)) return 'final';
  if (UNSENT.test(err.message)) return 'unsent';
  return isRecoverableError(err) ? 'unknown' : 'final';
}

/** A member that failed a call this way is avoided for a while; "leader changed" is a healthy member's answer. */
function isMemberFailure(err: Error): boolean {
  return isRecoverableError(err) && !/etcdserver: leader changed/.test(err.message);
}

/** /readyz's bound on the etcd check. */
const PING_TIMEOUT_MS = 2000;
/** How long a member that failed a call is skipped before one call probes it again. */
const MEMBER_RETRY_AFTER_MS = 1000;
/**
 * One attempt's bound. A member whose pod was replaced leaves its connection trying an address that is
 * gone (its new pod has another IP): a call sent there waits, neither failing nor answering. Bounded, it
 * fails as `unknown`, the member's circuit opens, and the retry goes to another member, so such a member
 * costs a request this much instead of the request's whole deadline (seen on the bed: 10-20 s gaps when
 * an etcd pod was deleted). Generous beside etcd's own latencies (a list of 10k widgets takes about 1 s).
 */
const ATTEMPT_TIMEOUT_MS = 4_000;
/** Waits between retries of one call: the first at once (another member), then growing to this. */
const MAX_RETRY_WAIT_MS = 500;

/**
 * Metadata that makes a member without a raft leader refuse the call at once ("etcdserver: no leader",
 * before the handler, so it certainly did not apply) instead of queueing it until it times out, and end a
 * watch stream once it has had no leader for three election timeouts, so that a watch on a member cut off
 * from the others moves to one that has a leader instead of going silently stale. etcd's Go client sets it
 * for kube-apiserver's watches (clientv3.WithRequireLeader). grpc-js applies this to every call of every
 * client etcd3 creates (etcd3 passes its grpcOptions to the client constructors).
 */
function requireLeader<P extends { metadata: { clone(): P['metadata']; set(k: string, v: string): void } }>(
  props: P,
): P {
  const metadata = props.metadata.clone();
  metadata.set('hasleader', 'true');
  return { ...props, metadata };
}

/** etcd's --max-request-bytes default (1.5 MiB): the largest request it takes. */
export const ETCD_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** Room for a transaction's compare and the put's framing around key and value. */
const REQUEST_OVERHEAD_BYTES = 1024;

export class EtcdStorage implements Storage {
  readonly kind = 'etcd';
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly requestTimeoutMs: number;

  /**
   * The KV calls this store makes, each bounded by the deadline of the request it serves (deadline.ts):
   * gRPC cancels the call when it passes, so calls to a hung etcd end instead of piling up, and retries
   * reuse the same absolute deadline instead of starting over. Reads and compaction (idempotent) are
   * retried on any transient failure; a transaction only when it certainly was not applied (`unsent`),
   * unless its caller knows better (`guarded`).
   */
  private readonly kv = {
    range: (req: Parameters<KV['range']>[0]) =>
      this.retrying(
        'range',
        (o) => this.client.kv.range(req, o),
        (f) => f !== 'final',
      ),
    txn: (
      req: Parameters<KV['txn']>[0],
      retry: (f: Failure, err: unknown) => boolean = (f) => f === 'unsent',
    ) => this.retrying('txn', (o) => this.client.kv.txn(req, o), retry),
    compact: (req: Parameters<KV['compact']>[0]) =>
      this.retrying(
        'compact',
        (o) => this.client.kv.compact(req, o),
        (f) => f !== 'final',
      ),
  };

  constructor(options: EtcdStorageOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    const clientOptions: IOptions = {
      hosts: options.endpoints,
      // etcd3 1.1.2 documents a dialTimeout but never reads it; a member that does not answer is
      // bounded by the call's deadline and detected by keepalive below.
      grpcOptions: {
        // gRPC's default receive limit is 4 MiB: a full list of 10k widgets (4.8 MB) failed with
        // RESOURCE_EXHAUSTED. etcd's Go client, which kube-apiserver uses, receives up to MaxInt32.
        'grpc.max_receive_message_length': MAX_INT32,
        // A member that vanished without closing its connections (host down, network cut) is found by
        // its unanswered pings: within 15 s, where TCP alone takes minutes. Pings go only while calls
        // (the watch stream) are open, at least 5 s apart, as etcd's --grpc-keepalive-min-time wants.
        // kube-apiserver's etcd client uses 30 s and 10 s.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        // gRPC backs off reconnecting to a member that is down, by default up to 120 s: a member that
        // returns would be ignored for minutes.
        'grpc.initial_reconnect_backoff_ms': 250,
        'grpc.max_reconnect_backoff_ms': 2_000,
        // A member's name resolves anew once its connection fails: a StatefulSet member comes back
        // under the same name at another address. gRPC's default waits 30 s between resolutions.
        'grpc.dns_min_time_between_resolutions_ms': 1_000,
        // Not a channel option: a client option, which etcd3 passes along (requireLeader).
        ...({ callInvocationTransformer: requireLeader } as object),
      },
      faultHandling: {
        // etcd3 by default retries every call, writes included, on any transient error (up to 3 times,
        // at once): a transaction that applied on a member that then died was sent again and answered 409,
        // for a write that had succeeded. Retries are this store's, by what each call may safely repeat.
        global: noop,
        // Each member behind a circuit breaker: a member that failed a call (refused, dropped, timed out,
        // no leader) is skipped for MEMBER_RETRY_AFTER_MS, so calls go to the others at once; then one
        // call probes it. With every member's circuit open a call fails at once (`unsent`) and is
        // retried here until its deadline.
        host: () =>
          circuitBreaker(handleWhen(isMemberFailure), {
            halfOpenAfter: MEMBER_RETRY_AFTER_MS,
            breaker: new ConsecutiveBreaker(1),
          }),
        // The watch stream reconnects (to any member) after this backoff; etcd3's default grows to 30 s,
        // which after an outage left watches waiting that long once etcd was back.
        // etcd3 declares an IBackoff but calls next() on it for the first one, as on its own default:
        // the factory is what it takes.
        watchBackoff: new ExponentialBackoff({
          initialDelay: 100,
          maxDelay: 2_000,
        }) as unknown as IBackoff<unknown>,
      },
    };
    if (options.tls?.caFile) {
      clientOptions.credentials = {
        rootCertificate: readFileSync(options.tls.caFile),
        certChain: options.tls.certFile ? readFileSync(options.tls.certFile) : undefined,
        privateKey: options.tls.keyFile ? readFileSync(options.tls.keyFile) : undefined,
      };
    }
    this.client = new Etcd3(clientOptions);
    this.prefix = options.prefix.replace(/\/+$/, '') + '/';
  }

  /**
   * Runs `call` until it succeeds, fails in a way `retry` does not accept, or the deadline passes, which
   * is a StorageTimeoutError (504) whatever the last failure was, as kube-apiserver answers when its
   * request context expires. A retry goes to another member where one is up: etcd3 picks members at
   * random and skips those whose circuit is open.
   */
  private async retrying<T>(
    operation: string,
    call: (options: CallOptions) => Promise<T>,
    retry: (failure: Failure, err: unknown) => boolean,
  ): Promise<T> {
    const deadline = callDeadline(this.requestTimeoutMs);
    for (let attempt = 0; ; attempt++) {
      try {
        return await call({ deadline: Math.min(deadline, Date.now() + ATTEMPT_TIMEOUT_MS) });
      } catch (err) {
        const failure = classify(err);
        if (failure !== 'final' && Date.now() >= deadline) throw new StorageTimeoutError(operation);
        if (!retry(failure, err)) throw err;
        const wait =
          attempt === 0 ? 0 : Math.min(MAX_RETRY_WAIT_MS, 25 * 2 ** attempt) * (0.5 + Math.random());
        if (Date.now() + wait >= deadline) throw new StorageTimeoutError(operation);
        if (wait) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** A value as etcd stores it, refused here when etcd would refuse the request. */
  private encode(key: string, value: JsonObject): Buffer {
    const bytes = Buffer.from(JSON.stringify(value));
    const limit = ETCD_MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES - Buffer.byteLength(this.prefix + key);
    if (bytes.length > limit) throw new ValueTooLargeError(key, bytes.length, limit);
    return bytes;
  }

  private full(key: string): Buffer {
    return Buffer.from(this.prefix + key);
  }

  private relative(kv: IKeyValue): string {
    return kv.key.toString('utf8').slice(this.prefix.length);
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.relative(kv),
      value: JSON.parse(kv.value.toString('utf8')) as JsonObject,
      modRevision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
    };
  }

  async create(key: string, value: JsonObject): Promise<number> {
    const k = this.full(key);
    const bytes = this.encode(key, value);
    try {
      const res = await this.kv.txn({
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: bytes } }],
        failure: [],
      });
      if (!res.succeeded) throw new KeyExistsError(key);
      return Number(res.header.revision);
    } catch (err) {
      if (classify(err) !== 'unknown') throw err;
      return this.resolveCreate(key, k, bytes, err);
    }
  }

  /**
   * A create whose answer was lost (`unknown`). Sending it again is not safe: its compare (the key does
   * not exist) holds again once the object it created is deleted, so a retry after someone deleted it
   * (the garbage collector, a namespace being emptied, a client that saw it appear) would bring a deleted
   * object back, same uid. It is decided by a read instead, once the cluster answers one: the key holding
   * the very bytes written here when it was created means it applied (the registry gives every object it
   * creates a new uid, so no other create writes the same bytes); another value means another create won
   * (409, as if the key had existed); no key means etcd may still apply it or never will, which nothing
   * can tell: WriteOutcomeUnknownError.
   */
  private async resolveCreate(key: string, k: Buffer, bytes: Buffer, cause: unknown): Promise<number> {
    const now = (await this.kv.range({ key: k })).kvs[0];
    if (!now) throw new WriteOutcomeUnknownError(key, cause);
    const createRevision = Number(now.create_revision);
    let created: IKeyValue | undefined = now;
    if (Number(now.mod_revision) !== createRevision) {
      try {
        created = (await this.kv.range({ key: k, revision: createRevision })).kvs[0];
      } catch (err) {
        if (err instanceof StorageTimeoutError) throw err;
        // Compacted since: what it held when created is gone.
        throw new WriteOutcomeUnknownError(key, cause);
      }
    }
    if (created?.value.equals(bytes)) return createRevision;
    throw new KeyExistsError(key);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.kv.range({ key: this.full(key) });
    return res.kvs.length ? this.toKeyValue(res.kvs[0]) : undefined;
  }

  /**
   * A transaction guarded by mod_revision (update, delete); on failure reads the key to say why.
   *
   * With an expected revision it is sent again even when an attempt may have applied (`unknown`), as
   * etcd's Go client would not: the compare "mod_revision == expected" can hold only until the key is
   * next written, since every write gives the key a new, higher revision and revisions never repeat (a
   * deleted and recreated key too). So of all the attempts, and any other writer's, at most one applies:
   * the first write after `expected`. If an attempt answers "applied", no earlier one did (its compare
   * would now fail) and none can later. If an attempt answers "compare failed" after one whose outcome
   * was unknown, the first write to the key after `expected` says which (firstChangeAfter): the same
   * operation with these bytes is ours, reported as applied at its revision; anything else means none of
   * ours applied, a true conflict (the registry re-reads and retries the update, which would repeat a
   * patch if ours had applied: it must not be told "conflict" then). (Another writer storing the very
   * same bytes on the same expected revision is taken as ours: the object is what both asked for.)
   *
   * Without an expected revision ("the key exists") the compare holds again after a write of any other
   * writer, so a repeat could apply twice: only `unsent` failures are retried, `unknown` ones reported.
   */
  private async guarded(key: string, expected: number | undefined, op: 'put' | 'delete', value?: JsonObject) {
    const k = this.full(key);
    const bytes = op === 'put' ? this.encode(key, value ?? {}) : undefined;
    const success = bytes
      ? [{ request_put: { key: k, value: bytes } }]
      : [{ request_delete_range: { key: k } }];
    const compare =
      expected === undefined
        ? [{ key: k, target: 'Create' as const, result: 'Greater' as const, create_revision: 0 }]
        : [{ key: k, target: 'Mod' as const, result: 'Equal' as const, mod_revision: expected }];
    let uncertain: unknown;
    let res;
    try {
      res = await this.kv.txn(
        { compare, success, failure: [{ request_range: { key: k } }] },
        (failure, err) => {
          if (failure === 'unknown' && expected !== undefined) uncertain = err;
          return failure === 'unsent' || (failure === 'unknown' && expected !== undefined);
        },
      );
    } catch (err) {
      if (classify(err) === 'unknown') throw new WriteOutcomeUnknownError(key, err);
      throw err;
    }
    if (res.succeeded) return Number(res.header.revision);
    if (uncertain !== undefined && expected !== undefined) {
      let first;
      try {
        first = await this.firstChangeAfter(k, expected);
      } catch (err) {
        if (err instanceof StorageTimeoutError) throw err;
        // The history after `expected` was compacted before it could be read.
        throw new WriteOutcomeUnknownError(key, uncertain);
      }
      const ours = bytes ? first.type === 'put' && first.value.equals(bytes) : first.type === 'delete';
      if (ours) return first.revision;
    }
    const found = res.responses[0]?.response_range?.kvs ?? [];
    if (!found.length) throw new KeyNotFoundError(key);
    throw new RevisionConflictError(key, expected ?? 0, Number(found[0].mod_revision));
  }

  /**
   * The first write to key `k` after `revision` (there is one: the caller's compare on it failed), read
   * from etcd's history with a watch from the next revision, within the current deadline. Rejects with
   * etcd's error when that history is compacted.
   */
  private firstChangeAfter(
    k: Buffer,
    revision: number,
  ): Promise<{ type: 'put' | 'delete'; value: Buffer; revision: number }> {
    const deadline = callDeadline(this.requestTimeoutMs);
    return new Promise((resolve, reject) => {
      let watcher: Watcher | undefined;
      let done = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (watcher) void watcher.cancel().catch(() => undefined);
        settle();
      };
      const timer = setTimeout(
        () => finish(() => reject(new StorageTimeoutError('txn'))),
        Math.max(0, deadline - Date.now()),
      );
      this.client
        .watch()
        .key(k)
        .startRevision(String(revision + 1))
        .create()
        .then(
          (w) => {
            if (done) {
              void w.cancel().catch(() => undefined);
              return;
            }
            watcher = w;
            // Nothing delivered yet: a reconnection must start from the same revision again.
            w.on('disconnected', () => (w.request.start_revision = String(revision + 1)));
            w.on('data', (res) => {
              const e = res.events[0];
              if (!e) return;
              const type = String(e.type);
              finish(() =>
                resolve({
                  type: type === 'Put' || type === '0' ? 'put' : 'delete',
                  value: e.kv.value,
                  revision: Number(e.kv.mod_revision) || Number(res.header.revision),
                }),
              );
            });
            w.on('error', (err) => {
              // etcd canceled it (compacted) and dropped it already: cancelling again would throw.
              watcher = undefined;
              finish(() => reject(err));
            });
          },
          (err) => finish(() => reject(err)),
        );
    });
  }

  update(key: string, value: JsonObject, expectedModRevision: number): Promise<number> {
    return this.guarded(key, expectedModRevision, 'put', value);
  }

  delete(key: string, expectedModRevision?: number): Promise<number> {
    return this.guarded(key, expectedModRevision, 'delete');
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    const full = this.full(prefix);
    // The range must never start before the prefix: it would read other collections (continue tokens
    // are checked by the registry; this is the store's own guard).
    if (options.startAfter !== undefined && !options.startAfter.startsWith(prefix)) {
      throw new Error(`list of ${prefix} cannot start after ${options.startAfter}: outside the prefix`);
    }
    const start =
      options.startAfter !== undefined
        ? Buffer.concat([this.full(options.startAfter), Buffer.from([0])])
        : full;
    try {
      const res = await this.kv.range({
        key: start,
        range_end: prefixEnd(full),
        revision: options.revision && options.revision > 0 ? options.revision : 0,
        limit: options.limit && options.limit > 0 ? options.limit : 0,
      });
      const items = res.kvs.map((kv) => this.toKeyValue(kv));
      const count = Number(res.count);
      // The header carries the store's current revision; a read at a past revision is a snapshot of that one.
      const revision =
        options.revision && options.revision > 0 ? options.revision : Number(res.header.revision);
      return { items, revision, more: res.more, remaining: Math.max(0, count - items.length) };
    } catch (err) {
      throw mapError(err, options.revision ?? 0);
    }
  }

  /**
   * One etcd watch from `afterRevision`, which etcd3 moves to another member when its stream breaks
   * (member killed, stream ended for lack of a leader) and resumes there, after its backoff. It resumes
   * from the revision after the last event delivered here: etcd3's own resume point is the header
   * revision of the last response, and the "created" answer on a reconnection carries the current
   * revision before the events since the old resume point have arrived, so a second break right then
   * would skip them (a gap); a batch cut short by etcd's per-response revision limit has the same
   * problem. Events at or below the last delivered revision are dropped, so none is delivered twice. A
   * resume point etcd has compacted ends the watch with CompactedError (410 for clients, who relist).
   * Progress notifications are passed on but do not move the resume point: etcd 3.4 can send one for a
   * revision whose events a catching-up watch has not yet received.
   */
  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle {
    const full = this.full(prefix).toString('utf8');
    let stopped = false;
    let delivered = afterRevision;
    const builder = this.client
      .watch()
      .prefix(full)
      .withPreviousKV()
      .startRevision(String(afterRevision + 1));
    const pending = builder.create();
    let cancel: (() => void) | undefined;
    pending.then(
      (watcher) => {
        if (stopped) {
          void watcher.cancel();
          return;
        }
        cancel = () => void watcher.cancel();
        watcher.on('disconnected', () => (watcher.request.start_revision = String(delivered + 1)));
        watcher.on('data', (res) => {
          if (stopped) return;
          // One revision's events (a transaction of several keys) all come in one response.
          const before = delivered;
          for (const e of res.events) {
            const type = String(e.type);
            const modRevision = Number(e.kv.mod_revision) || Number(res.header.revision);
            if (modRevision <= before) continue;
            delivered = modRevision;
            if (type === 'Put' || type === '0') {
              const kv = this.toKeyValue(e.kv);
              const isCreate = e.kv.create_revision === e.kv.mod_revision;
              callbacks.onEvent({
                type: 'put',
                key: kv.key,
                value: kv.value,
                prevValue: !isCreate && e.prev_kv ? this.toKeyValue(e.prev_kv).value : undefined,
                modRevision,
                isCreate,
                bytes: e.kv.value.length + (!isCreate && e.prev_kv ? e.prev_kv.value.length : 0),
              });
            } else if (e.prev_kv) {
              callbacks.onEvent({
                type: 'delete',
                key: this.relative(e.kv),
                value: this.toKeyValue(e.prev_kv).value,
                modRevision,
                isCreate: false,
                bytes: e.prev_kv.value.length,
              });
            }
          }
          if (!res.events.length && callbacks.onProgress) callbacks.onProgress(Number(res.header.revision));
        });
        watcher.on('error', (err) => {
          if (stopped) return;
          stopped = true;
          // etcd3 emits 'error' only for a watch etcd canceled, after dropping it from its stream:
          // cancelling it again sends a cancel_request whose answer etcd3 cannot match and throws on
          // ("Failed to find watcher"), out of the shared stream that every other watch is on.
          cancel = undefined;
          // etcd 3.4 cancels a watch on a compacted revision without a reason; a read at the revision
          // it started (or resumed) from tells whether that is what happened.
          this.list(prefix, { revision: delivered + 1, limit: 1 }).then(
            () => callbacks.onError(mapError(err, delivered) as Error),
            (readErr) =>
              callbacks.onError(
                (readErr instanceof CompactedError ? readErr : mapError(err, delivered)) as Error,
              ),
          );
        });
      },
      (err) => {
        if (!stopped) callbacks.onError(mapError(err, afterRevision) as Error);
      },
    );
    return {
      stop: () => {
        stopped = true;
        cancel?.();
      },
    };
  }

  async compact(revision: number): Promise<void> {
    try {
      await this.kv.compact({ revision, physical: false });
    } catch (err) {
      throw mapError(err, revision);
    }
  }

  async currentRevision(): Promise<number> {
    const res = await this.kv.range({
      key: this.full(''),
      range_end: prefixEnd(this.full('')),
      count_only: true,
    });
    return Number(res.header.revision);
  }

  /**
   * /readyz's check: a linearizable read answered within 2 s (kube-apiserver's --etcd-healthcheck-timeout
   * default), by any member; it fails while no member with a leader answers. Under a deadline of its own,
   * so its retries end with the probe instead of running on to the request's.
   */
  async ping(): Promise<void> {
    await withDeadline(Date.now() + PING_TIMEOUT_MS, () => this.currentRevision());
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
