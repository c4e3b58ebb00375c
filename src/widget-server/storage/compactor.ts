/**
 * Periodic compaction of etcd history, as kube-apiserver does (--etcd-compaction-interval, 5 minutes):
 * each tick compacts to the revision seen one tick earlier, so watches and continue tokens always have at
 * least one interval of history. Replicas may compact concurrently; compacting an already compacted
 * revision is harmless, so no coordination key is needed.
 */
import type { Logger } from 'pino';
import { CompactedError, type Storage } from './storage';

export class Compactor {
  private timer?: NodeJS.Timeout;
  private previousRevision = 0;

  constructor(
    private readonly storage: Storage,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async tick(): Promise<void> {
    try {
      const current = await this.storage.currentRevision();
      if (this.previousRevision > 0) {
        await this.storage.compact(this.previousRevision);
        this.logger.info({ revision: this.previousRevision }, 'compacted storage history');
      }
      this.previousRevision = current;
    } catch (err) {
      if (err instanceof CompactedError) return;
      this.logger.warn({ err }, 'storage compaction failed');
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
