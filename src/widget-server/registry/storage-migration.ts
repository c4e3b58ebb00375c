/**
 * Storage version migration: rewrites every stored object that is not in the storage version, so that
 * after an upgrade changes the storage version (or a downgrade of it is undone) no object is left in a
 * version a later release may stop reading. It runs in every server replica at start-up, in the
 * background: reads never wait for it, because objects in any known version are converted on read.
 *
 * Each rewrite is a compare-and-swap on the object's modRevision, so replicas migrating at once, and
 * clients writing meanwhile, are safe: a lost race means the object was just written, and every write
 * is in the storage version. A migration cut short (a restart) resumes by scanning again: what is
 * already in the storage version is skipped. Why the server and not the operator:
 * docs/decisions/0003-storage-version-migration.md.
 */
import type { Logger } from 'pino';
import {
  KeyNotFoundError,
  RevisionConflictError,
  type JsonObject,
  type KeyValue,
  type Storage,
} from '../storage/storage';

export interface MigrationTarget {
  /** The resource (plural name), for logs and metrics. */
  resource: string;
  storage: Storage;
  /** The key prefix of every object of the resource. */
  prefix: string;
  /** The apiVersion objects are written with (group/storageVersion). */
  storageApiVersion: string;
  /** The stored value re-encoded in the storage version (through the hub type). */
  reencode(kv: KeyValue): JsonObject;
}

export interface MigrationProgress {
  scanned: number;
  rewritten: number;
  /** Objects found per stored apiVersion, before rewriting. */
  found: Record<string, number>;
  /** Objects per stored apiVersion once this run's rewrites are done: what storage holds. */
  present: Record<string, number>;
  done: boolean;
}

export interface MigrationOptions {
  pageSize?: number;
  /** Stops after this many rewrites (tests interrupt a migration with it). */
  maxRewrites?: number;
  signal?: AbortSignal;
  logger?: Logger;
  onProgress?: (progress: MigrationProgress) => void;
}

const MAX_ATTEMPTS = 5;

export async function migrateStorageVersion(
  target: MigrationTarget,
  options: MigrationOptions = {},
): Promise<MigrationProgress> {
  const pageSize = options.pageSize ?? 100;
  const progress: MigrationProgress = { scanned: 0, rewritten: 0, found: {}, present: {}, done: false };
  const count = (into: Record<string, number>, version: string, n = 1) =>
    (into[version] = (into[version] ?? 0) + n);
  let startAfter: string | undefined;
  for (;;) {
    if (options.signal?.aborted) return progress;
    const page = await target.storage.list(target.prefix, { limit: pageSize, startAfter });
    for (const kv of page.items) {
      progress.scanned++;
      const version = String(kv.value.apiVersion ?? '');
      count(progress.found, version);
      if (version !== target.storageApiVersion) {
        if (options.maxRewrites !== undefined && progress.rewritten >= options.maxRewrites) return progress;
        if (await rewrite(target, kv)) {
          progress.rewritten++;
          count(progress.present, target.storageApiVersion);
          continue;
        }
      }
      count(progress.present, version);
    }
    if (page.items.length) startAfter = page.items[page.items.length - 1].key;
    options.onProgress?.(progress);
    options.logger?.info(
      { scanned: progress.scanned, rewritten: progress.rewritten, found: progress.found },
      'storage version migration progress',
    );
    if (!page.more) break;
  }
  progress.done = true;
  return progress;
}

/** Rewrites one object in the storage version; false when someone else already did (or deleted it). */
async function rewrite(target: MigrationTarget, first: KeyValue): Promise<boolean> {
  let kv: KeyValue | undefined = first;
  for (let attempt = 0; attempt < MAX_ATTEMPTS && kv; attempt++) {
    if (kv.value.apiVersion === target.storageApiVersion) return false;
    try {
      await target.storage.update(kv.key, target.reencode(kv), kv.modRevision);
      return true;
    } catch (e) {
      if (e instanceof KeyNotFoundError) return false;
      if (!(e instanceof RevisionConflictError)) throw e;
      kv = await target.storage.get(kv.key);
    }
  }
  return false;
}

export interface MigrationMetrics {
  /** Objects of a resource per stored apiVersion after the latest complete run. */
  present(resource: string, byApiVersion: Record<string, number>): void;
  rewritten(resource: string, count: number): void;
}

/** Runs the migration at start-up and again every `intervalMs` (0: only at start-up), until stopped. */
export class StorageMigrationRunner {
  private readonly abort = new AbortController();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  /** The latest run's result, for tests and logs. */
  last?: MigrationProgress;

  constructor(
    private readonly target: MigrationTarget,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly metrics?: MigrationMetrics,
  ) {}

  start(): void {
    this.running = this.runOnce();
    if (this.intervalMs > 0) {
      this.timer = setInterval(() => {
        this.running ??= this.runOnce();
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  /** Resolves when the run in progress (if any) has ended. */
  async settled(): Promise<void> {
    await this.running;
  }

  private async runOnce(): Promise<void> {
    const started = Date.now();
    try {
      let reported = 0;
      const progress = await migrateStorageVersion(this.target, {
        signal: this.abort.signal,
        logger: this.logger.child({ resource: this.target.resource }),
        onProgress: (p) => {
          this.metrics?.rewritten(this.target.resource, p.rewritten - reported);
          reported = p.rewritten;
        },
      });
      this.last = progress;
      if (progress.done) {
        this.metrics?.present(this.target.resource, progress.present);
        this.logger.info(
          {
            ...progress,
            resource: this.target.resource,
            storageApiVersion: this.target.storageApiVersion,
            durationMs: Date.now() - started,
          },
          progress.rewritten
            ? `storage version migration rewrote ${progress.rewritten} objects to ${this.target.storageApiVersion}`
            : 'storage version migration: every object is in the storage version',
        );
      }
    } catch (err) {
      // The next run (or the next start) takes it up again; reads convert meanwhile.
      this.logger.warn({ err }, 'storage version migration failed; it will be retried');
    } finally {
      this.running = undefined;
    }
  }

  stop(): void {
    this.abort.abort();
    if (this.timer) clearInterval(this.timer);
  }
}
