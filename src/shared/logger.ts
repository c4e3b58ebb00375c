/**
 * Structured JSON logging (pino) for both entrypoints: one factory so every process logs the same shape,
 * with the level taken from LOG_LEVEL unless given.
 *
 * Lines go to stdout asynchronously, in chunks of at least 4 KiB and at least once a second: written
 * synchronously, one line per request cost about 7% of the Widget server's CPU under load (profile in
 * bench/README.md). pino flushes what is buffered when the process exits, also on an uncaught
 * exception; only a SIGKILL (an OOM kill) can lose the last second of lines.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

const FLUSH_INTERVAL_MS = 1000;

export function createLogger(
  opts: { level?: string; name?: string; /** stdout unless given (a file, for tests) */ dest?: string } = {},
): Logger {
  const destination = pino.destination({ dest: opts.dest ?? 1, sync: false, minLength: 4096 });
  // A quiet process must not hold its last lines back until the next burst.
  setInterval(() => destination.flush(), FLUSH_INTERVAL_MS).unref();
  return pino(
    {
      name: opts.name,
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
