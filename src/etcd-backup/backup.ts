/**
 * The etcd backup program's logic (main.ts is its command line; a CronJob of the operator runs it in the
 * operator's own image, desired-backup.ts says how): one snapshot of a managed etcd's database, taken
 * with the Maintenance.Snapshot RPC from the first member that answers, written into the backup volume,
 * checked, made durable and named; then the snapshots beyond the number to keep are removed and `latest`
 * names the new one. It owns the backup volume's layout:
 *
 *   <prefix>-<YYYYMMDDTHHMMSSZ>-rev<revision>.db   a snapshot: the bbolt database followed by its sha256,
 *                                                  byte for byte as etcd streams it (`etcdutl snapshot
 *                                                  restore` checks that digest; no --skip-hash-check)
 *   latest                                         the newest snapshot's file name, and a newline
 *   .<snapshot file name>.partial                  a snapshot being written; removed when a run fails
 *   .latest.<snapshot file name>.tmp               `latest` being replaced
 *
 * The time is UTC, when the snapshot began. The revision is the member's (Maintenance.Status) just
 * before the snapshot: etcd 3.4 to 3.6 send no response header in the snapshot stream (maintenance.go
 * builds each SnapshotResponse with only the blob and the remaining bytes), and the snapshot, taken
 * after that call on the same member, holds every write up to that revision (and maybe a few after).
 *
 * Everything is bounded by one overall timeout. A member that fails (unreachable, an error in the
 * stream, a snapshot that does not check out) is given up for the next; a failure of the backup volume
 * itself ends the run at once, since another member would fail the same way.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Etcd3, type ISnapshotResponse } from 'etcd3';
import type { Logger } from '../shared/logger';

export const LATEST_FILE = 'latest';
/** What a prefix may be: the file names it makes are valid as spec.storage.etcd.managed.restore.snapshot. */
export const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
/** The digest etcd appends to the database in the stream. */
const SHA256_BYTES = 32;
/** etcdutl takes the last 32 bytes for a digest only when the size is a multiple of 512 plus 32. */
const SECTOR = 512;
/** bbolt's magic number, in the meta page at the start of the file (after its 16-byte page header). */
const BOLT_MAGIC = 0xed0cdaed;
const BOLT_MAGIC_OFFSET = 16;
const DEFAULT_ENDPOINT_TIMEOUT_MS = 10_000;

export interface BackupTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface BackupOptions {
  /** Client URLs, tried in this order until one gives a snapshot. */
  endpoints: string[];
  tls: BackupTls;
  /** The backup volume. */
  dir: string;
  prefix: string;
  /** Snapshots kept, the new one included. */
  keep: number;
  /** Bound on the whole run. */
  timeoutMs: number;
  /** Bound on reaching one member (its Status call) before the next is tried; default 10 s. */
  endpointTimeoutMs?: number;
  /** Ends the run (e.g. on SIGTERM); what it wrote so far is removed. */
  signal?: AbortSignal;
  /** The clock that names the snapshot (tests). */
  now?: () => Date;
  /** Warnings: a member given up, stale files removed. */
  logger?: Logger;
}

export interface BackupResult {
  /** The snapshot's file name in dir. */
  file: string;
  path: string;
  /** Its size: the database and the 32-byte digest. */
  bytes: number;
  revision: number;
  endpoint: string;
  /** etcd's id of the member that sent it, in hexadecimal. */
  member: string;
  durationMs: number;
  /** Older snapshots removed to keep `keep`. */
  pruned: string[];
}

export class BackupError extends Error {
  override name = 'BackupError';
}

/** A failure of the backup volume: trying another member would not help. */
class VolumeError extends BackupError {
  override name = 'VolumeError';
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** 2026-12-07T14:52:48.123Z -> 20261207T145248Z */
export function snapshotTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

export function snapshotFileName(prefix: string, date: Date, revision: number): string {
  return `${prefix}-${snapshotTimestamp(date)}-rev${revision}.db`;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The time and revision of a snapshot file name of this prefix; undefined for any other name. */
export function parseSnapshotFileName(
  prefix: string,
  name: string,
): { timestamp: string; revision: number } | undefined {
  const match = new RegExp(`^${escapeRegExp(prefix)}-(\\d{8}T\\d{6}Z)-rev(\\d+)\\.db$`).exec(name);
  return match ? { timestamp: match[1], revision: Number(match[2]) } : undefined;
}

/** Newest first: by time, then by revision. */
function newestFirst(prefix: string) {
  return (a: string, b: string) => {
    const x = parseSnapshotFileName(prefix, a)!;
    const y = parseSnapshotFileName(prefix, b)!;
    if (x.timestamp !== y.timestamp) return x.timestamp < y.timestamp ? 1 : -1;
    return y.revision - x.revision;
  };
}

/** Runs a file system step; its failure is the volume's, and ends the run. */
async function onVolume<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw new VolumeError(`${what}: ${message(err)}`);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/**
 * Checks a snapshot file as `etcdutl snapshot restore` will: a bbolt database of `dbBytes` (as the
 * stream announced), a multiple of 512 bytes, followed by the sha256 of exactly those bytes.
 */
export async function verifySnapshotFile(file: string, dbBytes?: number): Promise<void> {
  const { size } = await stat(file);
  if (size <= SHA256_BYTES) throw new BackupError(`snapshot is empty (${size} bytes)`);
  const db = size - SHA256_BYTES;
  if (dbBytes !== undefined && db !== dbBytes) {
    throw new BackupError(`snapshot stream ended after ${db} of ${dbBytes} bytes`);
  }
  if (db % SECTOR !== 0) {
    throw new BackupError(
      `snapshot database is ${db} bytes, not a multiple of ${SECTOR}: no digest etcdutl finds`,
    );
  }
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(BOLT_MAGIC_OFFSET + 4);
    await handle.read(head, 0, head.length, 0);
    if (head.readUInt32LE(BOLT_MAGIC_OFFSET) !== BOLT_MAGIC) {
      throw new BackupError('snapshot is not a bbolt database (no magic number in its first page)');
    }
    const trailer = Buffer.alloc(SHA256_BYTES);
    await handle.read(trailer, 0, SHA256_BYTES, db);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file, { start: 0, end: db - 1 })) hash.update(chunk as Buffer);
    const digest = hash.digest();
    if (!digest.equals(trailer)) {
      throw new BackupError(
        `snapshot digest mismatch: the database hashes to ${digest.toString('hex')}, etcd sent ${trailer.toString('hex')}`,
      );
    }
  } finally {
    await handle.close();
  }
}

/** Rejects with the signal's reason once it aborts. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

interface Taken {
  file: string;
  bytes: number;
  revision: number;
  member: string;
}

/** One member's snapshot into dir, checked, fsynced and renamed to its name; nothing left on failure. */
async function snapshotFrom(
  endpoint: string,
  credentials: { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer },
  opts: BackupOptions,
  deadline: number,
  signal: AbortSignal,
): Promise<Taken> {
  const endpointTimeout = opts.endpointTimeoutMs ?? DEFAULT_ENDPOINT_TIMEOUT_MS;
  const client = new Etcd3({ hosts: [endpoint], credentials, dialTimeout: endpointTimeout });
  const stop = aborted(signal);
  stop.catch(() => undefined);
  let partial: string | undefined;
  let handle: FileHandle | undefined;
  let cancel: (() => void) | undefined;
  try {
    const status = await Promise.race([
      client.maintenance.status({ deadline: Math.min(deadline, Date.now() + endpointTimeout) }),
      stop,
    ]);
    const revision = Number(status.header.revision);
    const member = BigInt(status.header.member_id).toString(16);
    const file = snapshotFileName(opts.prefix, (opts.now ?? (() => new Date()))(), revision);
    // The stream's deadline is the run's: gRPC cancels it there.
    const stream = (await Promise.race([
      client.maintenance.snapshot({ deadline }),
      stop,
    ])) as unknown as AsyncIterable<ISnapshotResponse> & { cancel(): void };
    cancel = () => stream.cancel();
    signal.addEventListener('abort', cancel, { once: true });
    partial = path.join(opts.dir, `.${file}.partial`);
    const partialPath = partial;
    handle = await onVolume(`creating ${partialPath}`, () => open(partialPath, 'wx', 0o640));
    let dbBytes: number | undefined;
    let received = 0;
    for await (const response of stream) {
      // The first response says how much follows it; the digest comes after all of it.
      dbBytes ??= response.blob.length + Number(response.remaining_bytes);
      const out = handle;
      await onVolume(`writing ${partialPath}`, () => writeAll(out, response.blob));
      received += response.blob.length;
    }
    if (signal.aborted) throw signal.reason;
    const written = handle;
    await onVolume(`syncing ${partialPath}`, () => written.sync());
    await handle.close();
    handle = undefined;
    if (received === 0) throw new BackupError('the snapshot stream ended without data');
    await verifySnapshotFile(partial, dbBytes);
    const final = path.join(opts.dir, file);
    await onVolume(`renaming ${partialPath} to ${final}`, () => rename(partialPath, final));
    partial = undefined;
    await onVolume(`syncing ${opts.dir}`, () => fsyncDir(opts.dir));
    return { file, bytes: received, revision, member };
  } catch (err) {
    // An abort ends the stream with a cancellation error: report why it was aborted instead.
    throw signal.aborted ? signal.reason : err;
  } finally {
    if (cancel) signal.removeEventListener('abort', cancel);
    await handle?.close().catch(() => undefined);
    if (partial) await unlink(partial).catch(() => undefined);
    client.close();
  }
}

/** Writes `latest` (the new snapshot's name) by rename, so a reader sees the old name or the new. */
async function writeLatest(dir: string, file: string): Promise<void> {
  const tmp = path.join(dir, `.${LATEST_FILE}.${file}.tmp`);
  try {
    const handle = await open(tmp, 'w', 0o644);
    try {
      await writeAll(handle, Buffer.from(`${file}\n`));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path.join(dir, LATEST_FILE));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Removes this prefix's snapshots beyond `keep`, newest kept, never `current`; returns the names removed. */
async function prune(dir: string, prefix: string, keep: number, current: string): Promise<string[]> {
  const older = (await readdir(dir))
    .filter((name) => name !== current && parseSnapshotFileName(prefix, name))
    .sort(newestFirst(prefix));
  const doomed = older.slice(Math.max(keep - 1, 0));
  for (const name of doomed) {
    // Another run (an on-demand Job beside the scheduled one) may have removed it first.
    await unlink(path.join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  return doomed;
}

/**
 * Removes what a killed run left (SIGKILL leaves no chance to clean up): this prefix's partial
 * snapshots and `latest` replacements older than the timeout, which no run still within it can own.
 */
async function removeStale(opts: BackupOptions): Promise<void> {
  const partial = new RegExp(`^\\.${escapeRegExp(opts.prefix)}-\\d{8}T\\d{6}Z-rev\\d+\\.db\\.partial$`);
  const latest = new RegExp(`^\\.${LATEST_FILE}\\.${escapeRegExp(opts.prefix)}-.*\\.tmp$`);
  for (const name of await readdir(opts.dir)) {
    if (!partial.test(name) && !latest.test(name)) continue;
    const file = path.join(opts.dir, name);
    const info = await stat(file).catch(() => undefined);
    if (!info || Date.now() - info.mtimeMs <= opts.timeoutMs) continue;
    await unlink(file).catch(() => undefined);
    opts.logger?.warn({ file: name }, 'removed a partial file an earlier run left');
  }
}

/** Throws a BackupError for options no run can succeed with. */
export function checkOptions(opts: Omit<BackupOptions, 'tls'>): void {
  if (!opts.endpoints.length) throw new BackupError('no endpoints');
  for (const endpoint of opts.endpoints) {
    if (!/^https:\/\/[^/]+\/?$/.test(endpoint)) {
      throw new BackupError(`endpoint ${JSON.stringify(endpoint)} is not an https://host:port URL`);
    }
  }
  if (!PREFIX_PATTERN.test(opts.prefix)) {
    throw new BackupError(
      `prefix ${JSON.stringify(opts.prefix)} must be 1-200 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  if (!Number.isInteger(opts.keep) || opts.keep < 1) throw new BackupError('keep must be a positive integer');
  if (!(opts.timeoutMs > 0)) throw new BackupError('the timeout must be positive');
}

/** Takes one snapshot (see the header); rejects with a BackupError, or the signal's reason, on failure. */
export async function takeBackup(opts: BackupOptions): Promise<BackupResult> {
  checkOptions(opts);
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new BackupError(`timed out after ${opts.timeoutMs / 1000} s`)),
    opts.timeoutMs,
  );
  const forward = () => controller.abort(opts.signal!.reason);
  if (opts.signal?.aborted) forward();
  opts.signal?.addEventListener('abort', forward, { once: true });
  const signal = controller.signal;
  try {
    const info = await onVolume(`backup directory ${opts.dir}`, () => stat(opts.dir));
    if (!info.isDirectory()) throw new VolumeError(`backup directory ${opts.dir} is not a directory`);
    const read = (what: string, file: string) =>
      readFile(file).catch((err) => {
        throw new BackupError(`reading the ${what} ${file}: ${message(err)}`);
      });
    const credentials = {
      rootCertificate: await read('CA bundle', opts.tls.caFile),
      certChain: await read('client certificate', opts.tls.certFile),
      privateKey: await read('client key', opts.tls.keyFile),
    };
    await onVolume(`cleaning ${opts.dir}`, () => removeStale(opts));
    const failures: string[] = [];
    for (const endpoint of opts.endpoints) {
      if (signal.aborted) throw signal.reason;
      let taken: Taken;
      try {
        taken = await snapshotFrom(endpoint, credentials, opts, deadline, signal);
      } catch (err) {
        if (signal.aborted || err instanceof VolumeError) throw err;
        failures.push(`${endpoint}: ${message(err)}`);
        opts.logger?.warn({ endpoint, err: message(err) }, 'no snapshot from this member; trying the next');
        continue;
      }
      await onVolume(`writing ${path.join(opts.dir, LATEST_FILE)}`, () => writeLatest(opts.dir, taken.file));
      const pruned = await onVolume(`removing snapshots beyond ${opts.keep}`, () =>
        prune(opts.dir, opts.prefix, opts.keep, taken.file),
      );
      await onVolume(`syncing ${opts.dir}`, () => fsyncDir(opts.dir));
      return {
        file: taken.file,
        path: path.join(opts.dir, taken.file),
        bytes: taken.bytes,
        revision: taken.revision,
        endpoint,
        member: taken.member,
        durationMs: Date.now() - started,
        pruned,
      };
    }
    throw new BackupError(`no member gave a snapshot: ${failures.join('; ')}`);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', forward);
  }
}
