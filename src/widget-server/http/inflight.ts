/**
 * Max-in-flight limits, as k8s.io/apiserver's WithMaxInFlightLimit (pkg/server/filters/maxinflight.go):
 * requests that are not long-running hold a slot in the read-only or the mutating pool until their
 * response is done; when the pool is full the request is refused at once with 429 and `Retry-After: 1`,
 * and counted in apiserver_dropped_requests_total. Watches and the health endpoints never take a slot.
 *
 * One addition for a single-threaded server: a list without a small `limit` serializes every object in
 * one block of CPU time (a YAML list of 10000 widgets: 2-5 s), and a burst of them, all read off their
 * sockets while the first one blocks, would run back to back ahead of everything else. So such "heavy"
 * lists also take one of --max-list-requests-inflight slots, waiting for it in a FIFO queue of at most
 * --max-list-requests-queued (429 beyond, and the request deadline's 504 while waiting), as
 * kube-apiserver's priority and fairness queues requests and charges a list several seats. A slot is
 * held until the response has been sent and then for as long again as the list took to build, so heavy
 * lists get at most about half of the event loop and every other request the rest.
 */
import { ApiError } from '../../shared/status-errors';

export type RequestKind = 'readOnly' | 'mutating';

export interface InflightLimits {
  /** --max-requests-inflight; 0 disables the limit. */
  readOnly: number;
  /** --max-mutating-requests-inflight; 0 disables the limit. */
  mutating: number;
  /** --max-list-requests-inflight: lists that may return more than HEAVY_LIST_LIMIT objects; 0 disables. */
  heavyLists: number;
  /** --max-list-requests-queued: heavy lists waiting for a slot. */
  heavyListsQueued: number;
}

/** Lists with a `limit` up to this (client-go's reflector page size is 500) are ordinary reads. */
export const HEAVY_LIST_LIMIT = 500;

/** kube-apiserver's answer (it sends the message as plain text; we send it in a Status). */
export function tooManyRequests(): ApiError {
  return new ApiError(429, 'TooManyRequests', 'Too many requests, please try again later.', {
    retryAfterSeconds: 1,
  });
}

/** Whether a list request may return an unbounded number of objects. */
export function isHeavyList(verb: string, limitParam: string | undefined): boolean {
  if (verb !== 'list') return false;
  const limit = Number(limitParam);
  return !(limitParam && Number.isInteger(limit) && limit > 0 && limit <= HEAVY_LIST_LIMIT);
}

export interface InflightSlot {
  /** The response has been produced: times a heavy list's work. */
  built(): void;
  /** The response has been sent (or abandoned): frees the slots. Idempotent. */
  release(): void;
}

export class InflightLimiter {
  private readonly inUse = { readOnly: 0, mutating: 0 };
  private heavyRunning = 0;
  private readonly heavyQueue: Array<() => void> = [];

  constructor(
    private readonly limits: InflightLimits,
    private readonly onDropped: (kind: RequestKind) => void = () => undefined,
  ) {}

  /** Takes the slots a request needs, waiting in the queue for a heavy-list slot, or throws 429. */
  async acquire(kind: RequestKind, heavyList: boolean): Promise<InflightSlot> {
    const limit = this.limits[kind];
    if (limit > 0 && this.inUse[kind] >= limit) return this.drop(kind);
    const heavy = heavyList && this.limits.heavyLists > 0;
    if (heavy && (this.heavyRunning >= this.limits.heavyLists || this.heavyQueue.length > 0)) {
      if (this.heavyQueue.length >= this.limits.heavyListsQueued) return this.drop(kind);
      this.inUse[kind]++;
      // The slot is taken for us by whoever wakes us (see nextHeavy).
      await new Promise<void>((resolve) => this.heavyQueue.push(resolve));
    } else {
      this.inUse[kind]++;
      if (heavy) this.heavyRunning++;
    }
    const started = Date.now();
    let buildMs: number | undefined;
    let released = false;
    return {
      built: () => {
        buildMs ??= Date.now() - started;
      },
      release: () => {
        if (released) return;
        released = true;
        this.inUse[kind]--;
        if (!heavy) return;
        const cooldown = buildMs === undefined ? 0 : started + 2 * buildMs - Date.now();
        if (cooldown <= 0) this.nextHeavy();
        else setTimeout(() => this.nextHeavy(), cooldown).unref();
      },
    };
  }

  private nextHeavy(): void {
    const next = this.heavyQueue.shift();
    if (next) next();
    else this.heavyRunning--;
  }

  private drop(kind: RequestKind): never {
    this.onDropped(kind);
    throw tooManyRequests();
  }
}
