/**
 * Hot reload of the serving certificate and key. Watches the files' directory (kubelet updates a mounted
 * Secret by swapping the `..data` symlink, which changes neither watched file's inode event reliably) and
 * also polls, then installs a new pair only when it parses and the key matches the certificate; a
 * half-written or mismatched pair is rejected and the current one keeps serving.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { certMatchesKey } from '../../shared/cert-inspect';

export interface ServingPair {
  cert: string;
  key: string;
}

export class TlsReloader {
  private watchers: FSWatcher[] = [];
  private poll?: NodeJS.Timeout;
  private current?: ServingPair;
  private checking = false;
  private pending = false;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private readonly install: (pair: ServingPair) => void,
    private readonly logger: Logger,
    private readonly pollIntervalMs = 10_000,
  ) {}

  /** Reads and validates the initial pair; throws when it is unusable (the server cannot start). */
  async load(): Promise<ServingPair> {
    const result = await this.read();
    if ('problem' in result) throw new Error(result.problem);
    this.current = result;
    return result;
  }

  start(): void {
    const dirs = new Set([path.dirname(this.certFile), path.dirname(this.keyFile)]);
    // Only events that can change the pair: either file, or the `..data` link kubelet swaps to update a
    // Secret volume. A directory may hold other files (the bench writes logs next to the pair), and a
    // read of both files per event was up to 2% of a busy server's CPU. Without a name, check.
    const relevant = new Set([path.basename(this.certFile), path.basename(this.keyFile), '..data']);
    for (const dir of dirs) {
      try {
        const w = watch(dir, (_event, name) => {
          if (name === null || relevant.has(String(name))) void this.check();
        });
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch (err) {
        this.logger.warn({ err, dir }, 'cannot watch certificate directory; relying on polling');
      }
    }
    this.poll = setInterval(() => void this.check(), this.pollIntervalMs);
    this.poll.unref();
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.poll) clearInterval(this.poll);
  }

  private async read(): Promise<ServingPair | { problem: string }> {
    let cert: string, key: string;
    try {
      [cert, key] = await Promise.all([readFile(this.certFile, 'utf8'), readFile(this.keyFile, 'utf8')]);
    } catch (err) {
      return { problem: `cannot read the serving certificate or key: ${(err as Error).message}` };
    }
    // The poll and a rewrite of the same content come here too: only a changed pair is parsed again.
    if (cert === this.current?.cert && key === this.current?.key) return this.current;
    return certMatchesKey(cert, key)
      ? { cert, key }
      : { problem: `${this.certFile} and ${this.keyFile} are not a matching certificate and key` };
  }

  /** Re-reads the pair; concurrent triggers collapse into one more check. */
  async check(): Promise<void> {
    if (this.checking) {
      this.pending = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.pending = false;
        const pair = await this.read();
        if ('problem' in pair) {
          this.logger.warn(
            { certFile: this.certFile, problem: pair.problem },
            'keeping the current serving pair',
          );
          continue;
        }
        if (pair.cert === this.current?.cert && pair.key === this.current?.key) continue;
        try {
          this.install(pair);
          this.current = pair;
          this.logger.info({ certFile: this.certFile }, 'serving certificate reloaded');
        } catch (err) {
          this.logger.warn({ err }, 'new serving certificate rejected by TLS; keeping the current pair');
        }
      } while (this.pending);
    } finally {
      this.checking = false;
    }
  }
}
