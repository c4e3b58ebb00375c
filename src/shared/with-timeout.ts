/**
 * Bounds a promise by a client-side timeout, for calls whose client has none of its own (client-node's
 * generated APIs): the caller gets "<what> timed out after N ms" and stops waiting. The call itself is
 * not cancelled; use an AbortSignal where the client takes one.
 */
export function withTimeout<T>(p: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
