/**
 * Request deadlines as k8s.io/apiserver applies them (pkg/endpoints/filters/request_deadline.go and
 * pkg/server/filters/timeout.go): every request that is not long-running gets a deadline of
 * --request-timeout, shortened by a `?timeout=` the client sends; when it passes before the handler has
 * answered, the client gets 504 Timeout and the handler's later output is dropped. Go duration syntax
 * (`60s`, `1m30s`, `500ms`) is parsed here for the flags and the query parameter alike.
 */
import type { Request, Response } from 'express';
import { ApiError, badRequest } from '../../shared/status-errors';

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration (time.ParseDuration) into milliseconds; throws with Go's message otherwise. */
export function parseDuration(text: string): number {
  const quoted = JSON.stringify(text);
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new Error(`time: invalid duration ${quoted}`);
  let total = 0;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]*)/;
  while (s !== '') {
    const m = part.exec(s)!;
    const [whole, int, frac, unit] = m;
    if ((int ?? '') === '' && (frac ?? '') === '') throw new Error(`time: invalid duration ${quoted}`);
    if (unit === '') throw new Error(`time: missing unit in duration ${quoted}`);
    const factor = UNITS[unit];
    if (factor === undefined)
      throw new Error(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    total += Number(`${int || '0'}.${frac || '0'}`) * factor;
    s = s.slice(whole.length);
  }
  return sign * total;
}

/** kube-apiserver's answer when a request outlives its deadline (apierrors.NewTimeoutError). */
export function requestTimeoutError(): ApiError {
  return new ApiError(
    504,
    'Timeout',
    'Timeout: request did not complete within requested timeout - context deadline exceeded',
    {},
  );
}

/**
 * The deadline for one request: --request-timeout, or the client's `?timeout=` when it is positive and
 * shorter (0 or a larger value means the server's). A malformed value is a 400 with kube's message.
 */
export function requestTimeoutMs(timeoutParam: string | undefined, maxMs: number): number {
  if (timeoutParam === undefined || timeoutParam === '') return maxMs;
  let requested: number;
  try {
    requested = parseDuration(timeoutParam);
  } catch (e) {
    throw badRequest(`invalid timeout specified in the request URL - ${(e as Error).message}`);
  }
  return requested > 0 && requested < maxMs ? requested : maxMs;
}

/**
 * Arms the deadline for a request: when it passes and nothing has been answered yet, `answer` writes the
 * Status (with `Connection: close` if the body is still arriving, so a slow sender loses the connection).
 * A response already under way, or written but not yet taken by a client that reads slowly, is cut, as
 * kube-apiserver's timeout filter aborts it: no request holds its in-flight slot past the deadline.
 * Returns the disarm.
 */
export function armRequestDeadline(
  req: Request,
  res: Response,
  ms: number,
  answer: (res: Response) => void,
): () => void {
  const timer = setTimeout(() => {
    if (res.writableFinished) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (!req.complete) res.setHeader('Connection', 'close');
    answer(res);
  }, ms);
  const disarm = () => clearTimeout(timer);
  res.once('finish', disarm);
  res.once('close', disarm);
  return disarm;
}
