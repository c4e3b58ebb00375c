/**
 * The HTTP side of one watch: writes newline-delimited events with backpressure and a bounded send
 * queue. Events wait in the queue while the client is not reading (res.write() returned false); once
 * the events queued after the watch was established exceed --max-watch-pending-bytes, the watcher is
 * closed the way kube-apiserver's cacher closes an unresponsive one ("Forcing ... watcher close due to
 * unresponsiveness", apiserver_terminated_watchers_total): the queue is dropped, the stream ends, and
 * the client re-watches from the last resourceVersion it saw (or relists). The initial events of a watch
 * (sendInitialEvents, rv=0) are exempt: they are the same bounded snapshot a list would hold.
 * HTTP/1.0 has no chunked encoding: such a watch is streamed as is and the connection closed at the end.
 */
import type { Request, Response } from 'express';

/** Default --max-watch-pending-bytes: a few objects at the 3 MiB size limit, or thousands of events. */
export const DEFAULT_MAX_WATCH_PENDING_BYTES = 16 * 1024 * 1024;

/** How long a closed watcher's response may take to drain before its connection is cut. */
const TERMINATED_DRAIN_MS = 30_000;

export interface WatchStreamOptions {
  maxPendingBytes: number;
  /** Called once when the watcher is closed for falling behind (metric and log). */
  onTerminated: (pendingBytes: number) => void;
}

interface Pending {
  data: string;
  bytes: number;
  live: boolean;
}

export class WatchStream {
  private readonly queue: Pending[] = [];
  private liveBytes = 0;
  private waiting = false;
  private headWritten = false;
  private live = false;
  private closing = false;
  private done = false;

  constructor(
    private readonly req: Request,
    private readonly res: Response,
    private readonly options: WatchStreamOptions,
  ) {
    res.on('drain', () => this.flush());
  }

  writeHead(): void {
    if (this.headWritten) return;
    this.headWritten = true;
    const res = this.res;
    res.status(200);
    res.setHeader('Content-Type', 'application/json');
    if (
      this.req.httpVersionMajor > 1 ||
      (this.req.httpVersionMajor === 1 && this.req.httpVersionMinor >= 1)
    ) {
      res.setHeader('Transfer-Encoding', 'chunked');
    } else {
      res.setHeader('Connection', 'close');
    }
    res.setHeader('Cache-Control', 'no-cache, private');
    res.flushHeaders();
  }

  /** From now on events count against the limit (the initial ones have been queued). */
  established(): void {
    this.live = true;
  }

  /** Queues one encoded event; returns false once the watcher has been closed for falling behind. */
  send(data: string): boolean {
    if (this.closing) return false;
    this.writeHead();
    if (!this.waiting && this.queue.length === 0) {
      this.waiting = !this.res.write(data);
      return true;
    }
    const bytes = Buffer.byteLength(data);
    this.queue.push({ data, bytes, live: this.live });
    if (this.live) {
      this.liveBytes += bytes;
      if (this.liveBytes > this.options.maxPendingBytes) {
        this.terminate();
        return false;
      }
    }
    return true;
  }

  /** Ends the stream after what is queued has been written (timeout, error, shutdown). */
  end(): void {
    if (this.closing) return;
    this.closing = true;
    this.writeHead();
    if (this.queue.length === 0) this.finish();
  }

  private flush(): void {
    this.waiting = false;
    while (this.queue.length && !this.waiting) {
      const next = this.queue.shift()!;
      if (next.live) this.liveBytes -= next.bytes;
      this.waiting = !this.res.write(next.data);
    }
    if (this.closing && this.queue.length === 0) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.res.end();
  }

  private terminate(): void {
    const pending = this.liveBytes;
    this.queue.length = 0;
    this.liveBytes = 0;
    this.closing = true;
    this.options.onTerminated(pending);
    this.finish();
    // A client that never reads would keep what the socket still buffers; bound that too.
    const cut = setTimeout(() => this.res.destroy(), TERMINATED_DRAIN_MS);
    cut.unref();
    this.res.once('finish', () => clearTimeout(cut));
    this.res.once('close', () => clearTimeout(cut));
  }
}
