/**
 * Max-in-flight limits, as k8s.io/apiserver's WithMaxInFlightLimit (pkg/server/filters/maxinflight.go):
 * requests that are not long-running hold a slot in the read-only or the mutating pool until their
 * response is done; when the pool is full the request is refused at once with 429 and `Retry-After: 1`,
 * and counted in apiserver_dropped_requests_total. Watches and the health endpoints never take a slot.
 *
 * One addition for a single-threaded server: a list without a small `limit` serializes every object in
 * one block of CPU time, so such "heavy" lists also need a slot in a much smaller pool. The building
 * never overlaps in one thread, and the requests of a burst are read off their sockets only after the
 * block; so the slot is held until the response has been sent AND for as long again as the list took
 * to build. Heavy lists thus get at most about half of the event loop, and everything else the rest,
 * however many arrive (kube-apiserver's priority and fairness does this job by charging a list several
 * seats). A slot held past --request-timeout is cut by the request deadline.
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

export class InflightLimiter {
  private readonly inUse = { readOnly: 0, mutating: 0, heavyLists: 0 };

  constructor(
    private readonly limits: InflightLimits,
    private readonly onDropped: (kind: RequestKind) => void = () => undefined,
  ) {}

  /**
   * Takes the slots a request needs, or throws 429. `built()` marks the response as produced (it times
   * a heavy list's work); `release()` frees the slots once it has been sent. Both idempotent.
   */
  acquire(kind: RequestKind, heavyList: boolean): { built(): void; release(): void } {
    const full = (pool: keyof InflightLimits) =>
      this.limits[pool] > 0 && this.inUse[pool] >= this.limits[pool];
    if (full(kind) || (heavyList && full('heavyLists'))) {
      this.onDropped(kind);
      throw tooManyRequests();
    }
    this.inUse[kind]++;
    if (heavyList) this.inUse.heavyLists++;
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
        if (!heavyList) return;
        const cooldown = buildMs === undefined ? 0 : started + 2 * buildMs - Date.now();
        if (cooldown <= 0) this.inUse.heavyLists--;
        else setTimeout(() => this.inUse.heavyLists--, cooldown).unref();
      },
    };
  }

  get current(): Readonly<Record<keyof InflightLimits, number>> {
    return { ...this.inUse };
  }
}
