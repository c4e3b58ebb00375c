/**
 * Structured JSON logging (pino) for both entrypoints: one factory so every process logs the same shape,
 * with the level taken from LOG_LEVEL unless given.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name,
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
