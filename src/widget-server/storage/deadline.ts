/**
 * Deadlines for storage calls, Go-context style: the HTTP layer runs each request inside
 * `withDeadline`, and a store bounds every call by the deadline of the request it serves (or by its own
 * default outside any request: compaction, a watch's initial read). A call that runs out of time fails
 * with StorageTimeoutError, which the API answers as kube-apiserver does when its request context
 * expires: 504 Timeout. Carried in AsyncLocalStorage so the registry need not thread it through.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const context = new AsyncLocalStorage<{ deadline: number }>();

/** Runs `fn` (and everything it awaits) with an absolute deadline in epoch milliseconds. */
export function withDeadline<T>(deadline: number, fn: () => T): T {
  return context.run({ deadline }, fn);
}

/** The current request's deadline, if any. */
export function currentDeadline(): number | undefined {
  return context.getStore()?.deadline;
}

/** The deadline for one storage call: the request's, capped by `defaultMs` from now. */
export function callDeadline(defaultMs: number): number {
  const own = Date.now() + defaultMs;
  const request = currentDeadline();
  return request !== undefined && request < own ? request : own;
}

/** A storage call did not complete before its deadline (etcd hung, unreachable, or overloaded). */
export class StorageTimeoutError extends Error {
  constructor(readonly operation: string) {
    super(`storage ${operation} did not complete within its deadline`);
    this.name = 'StorageTimeoutError';
  }
}

/**
 * Sets the deadline for the rest of the current asynchronous execution (an HTTP request's handler
 * chain), where wrapping the chain in `withDeadline` is impractical.
 */
export function enterDeadline(deadline: number): void {
  context.enterWith({ deadline });
}
