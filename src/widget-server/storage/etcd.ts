/**
 * The etcd store over the `etcd3` client: keys under a configurable prefix, JSON values, compare-and-swap
 * transactions on mod_revision, ranged reads at a revision with limits (continue tokens), compaction, and
 * watches from a revision with previous values. etcd's errors for compacted and future revisions are
 * mapped to the storage contract's errors, which the registry turns into 410 and 504.
 */
import { readFileSync } from 'node:fs';
import { Etcd3, GRPCDeadlineExceededError, type IKeyValue, type IOptions } from 'etcd3';
import { callDeadline, StorageTimeoutError } from './deadline';
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
  dialTimeoutMs?: number;
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
   * gRPC cancels the call when it passes, so calls to a hung etcd end instead of piling up, and the
   * etcd3 client's retries reuse the same absolute deadline instead of starting over.
   */
  private readonly kv = {
    range: (req: Parameters<KV['range']>[0]) => this.bounded('range', (o) => this.client.kv.range(req, o)),
    txn: (req: Parameters<KV['txn']>[0]) => this.bounded('txn', (o) => this.client.kv.txn(req, o)),
    compact: (req: Parameters<KV['compact']>[0]) =>
      this.bounded('compact', (o) => this.client.kv.compact(req, o)),
  };

  constructor(options: EtcdStorageOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    const clientOptions: IOptions = {
      hosts: options.endpoints,
      dialTimeout: options.dialTimeoutMs ?? 5000,
      // gRPC's default receive limit is 4 MiB: a full list of 10k widgets (4.8 MB) failed with
      // RESOURCE_EXHAUSTED. etcd's Go client, which kube-apiserver uses, receives up to MaxInt32.
      grpcOptions: { 'grpc.max_receive_message_length': MAX_INT32 },
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

  private async bounded<T>(operation: string, call: (options: CallOptions) => Promise<T>): Promise<T> {
    try {
      return await call({ deadline: callDeadline(this.requestTimeoutMs) });
    } catch (err) {
      // After a few deadline failures the client's circuit breaker fails calls at once for a while.
      if (
        err instanceof GRPCDeadlineExceededError ||
        (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError
      ) {
        throw new StorageTimeoutError(operation);
      }
      throw err;
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
    const res = await this.kv.txn({
      compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: k, value: this.encode(key, value) } }],
      failure: [],
    });
    if (!res.succeeded) throw new KeyExistsError(key);
    return Number(res.header.revision);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.kv.range({ key: this.full(key) });
    return res.kvs.length ? this.toKeyValue(res.kvs[0]) : undefined;
  }

  /** A transaction guarded by mod_revision; on failure reads the key to say why. */
  private async guarded(key: string, expected: number | undefined, op: 'put' | 'delete', value?: JsonObject) {
    const k = this.full(key);
    const success =
      op === 'put'
        ? [{ request_put: { key: k, value: this.encode(key, value ?? {}) } }]
        : [{ request_delete_range: { key: k } }];
    const compare =
      expected === undefined
        ? [{ key: k, target: 'Create' as const, result: 'Greater' as const, create_revision: 0 }]
        : [{ key: k, target: 'Mod' as const, result: 'Equal' as const, mod_revision: expected }];
    const res = await this.kv.txn({ compare, success, failure: [{ request_range: { key: k } }] });
    if (res.succeeded) return Number(res.header.revision);
    const found = res.responses[0]?.response_range?.kvs ?? [];
    if (!found.length) throw new KeyNotFoundError(key);
    throw new RevisionConflictError(key, expected ?? 0, Number(found[0].mod_revision));
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

  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle {
    const full = this.full(prefix).toString('utf8');
    let stopped = false;
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
        watcher.on('data', (res) => {
          if (stopped) return;
          for (const e of res.events) {
            const type = String(e.type);
            const modRevision = Number(e.kv.mod_revision);
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
                modRevision: Number(e.kv.mod_revision) || Number(res.header.revision),
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
          // etcd 3.4 cancels a watch on a compacted revision without a reason; a read at the start
          // revision tells whether that is what happened.
          this.list(prefix, { revision: afterRevision + 1, limit: 1 }).then(
            () => callbacks.onError(mapError(err, afterRevision) as Error),
            (readErr) =>
              callbacks.onError(
                (readErr instanceof CompactedError ? readErr : mapError(err, afterRevision)) as Error,
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

  async ping(): Promise<void> {
    await Promise.race([
      this.currentRevision(),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('etcd did not answer within 2s')), 2000).unref(),
      ),
    ]);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
