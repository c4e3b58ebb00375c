/**
 * Command line of the etcd backup program (its logic and the backup volume's layout: backup.ts). It
 * takes one snapshot of a managed etcd into the backup volume and exits 0 after one JSON log line with
 * the file, its size, revision, member and duration; or it logs why not and exits non-zero, leaving no
 * partial file. The operator's CronJob (<name>-etcd-backup, desired-backup.ts) runs it in the
 * operator's own image: `node dist/etcd-backup/main.js --endpoints=... --dir=/backup ...`.
 *
 * Flags:
 *   --endpoints=URL[,URL...]   etcd client URLs (https://host:port), tried in order until one answers
 *   --cacert=FILE              CA bundle the members' certificates are checked against
 *   --cert=FILE, --key=FILE    the client certificate and its key
 *   --dir=DIR                  the backup volume
 *   --prefix=NAME              snapshot file name prefix (the AggregatedAPI's name)
 *   --keep=N                   snapshots kept, the new one included [24]
 *   --timeout-seconds=N        bound on the whole run [300]
 *   --termination-log=FILE     also write the outcome there: the result as one JSON object, or the
 *                              failure's message (a container's terminationMessagePath, which the
 *                              kubelet puts into the pod's status for the operator to read)
 *   --log-level=LEVEL          [LOG_LEVEL, else info]
 *
 * Exit status: 0 a snapshot was taken; 1 it failed (no member gave a snapshot, the volume failed, the
 * timeout passed, SIGTERM); 2 the flags are wrong.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../shared/logger';
import { BackupError, checkOptions, takeBackup, type BackupResult } from './backup';

export const USAGE =
  'usage: main.js --endpoints=https://HOST:PORT[,...] --cacert=FILE --cert=FILE --key=FILE --dir=DIR ' +
  '--prefix=NAME [--keep=N] [--timeout-seconds=N] [--termination-log=FILE] [--log-level=LEVEL]';

/** The kubelet keeps at most 4096 bytes of a termination message. */
const TERMINATION_MESSAGE_LIMIT = 4096;

class UsageError extends Error {}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`--${flag} must be a positive integer, not ${JSON.stringify(text)}`);
  }
  return value;
}

/** The flags as takeBackup's options; throws on anything main.js would refuse (exit status 2). */
export function parseFlags(argv: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        endpoints: { type: 'string' },
        cacert: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        dir: { type: 'string' },
        prefix: { type: 'string' },
        keep: { type: 'string', default: '24' },
        'timeout-seconds': { type: 'string', default: '300' },
        'termination-log': { type: 'string' },
        'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const required = ['endpoints', 'cacert', 'cert', 'key', 'dir', 'prefix'] as const;
  const missing = required.filter((flag) => !values[flag]);
  if (missing.length) throw new UsageError(`missing ${missing.map((flag) => `--${flag}`).join(', ')}`);
  const options = {
    endpoints: values
      .endpoints!.split(',')
      .map((endpoint) => endpoint.trim())
      .filter(Boolean),
    tls: { caFile: values.cacert!, certFile: values.cert!, keyFile: values.key! },
    dir: values.dir!,
    prefix: values.prefix!,
    keep: positiveInteger('keep', values.keep!),
    timeoutMs: positiveInteger('timeout-seconds', values['timeout-seconds']!) * 1000,
    terminationLog: values['termination-log'],
    logLevel: values['log-level']!,
  };
  try {
    checkOptions(options);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return options;
}

async function writeTerminationLog(file: string | undefined, text: string, logger: Logger): Promise<void> {
  if (!file) return;
  await writeFile(file, text.slice(0, TERMINATION_MESSAGE_LIMIT)).catch((err: Error) =>
    logger.warn({ file, err: err.message }, 'could not write the termination log'),
  );
}

/**
 * Runs the program with these arguments and returns its exit status. `logger` replaces the JSON logger
 * on stdout (tests); `signal` ends the run early (main wires SIGTERM and SIGINT to it).
 */
export async function run(
  argv: string[],
  deps: { logger?: Logger; signal?: AbortSignal; now?: () => Date } = {},
): Promise<number> {
  let args: ReturnType<typeof parseFlags>;
  try {
    args = parseFlags(argv);
  } catch (err) {
    const logger = deps.logger ?? createLogger({ name: 'etcd-backup' });
    logger.error({ err: (err as Error).message }, `etcd-backup: ${(err as Error).message}; ${USAGE}`);
    return 2;
  }
  const logger = deps.logger ?? createLogger({ name: 'etcd-backup', level: args.logLevel });
  let result: BackupResult;
  try {
    result = await takeBackup({ ...args, logger, signal: deps.signal, now: deps.now });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    logger.error(
      {
        err: text,
        dir: args.dir,
        endpoints: args.endpoints,
        kind: err instanceof BackupError ? err.name : 'Error',
      },
      `etcd backup failed: ${text}`,
    );
    await writeTerminationLog(args.terminationLog, `etcd backup failed: ${text}`, logger);
    return 1;
  }
  const summary = {
    file: result.file,
    bytes: result.bytes,
    revision: result.revision,
    endpoint: result.endpoint,
    member: result.member,
    durationMs: result.durationMs,
  };
  logger.info({ ...summary, dir: args.dir, pruned: result.pruned }, 'etcd snapshot taken');
  await writeTerminationLog(args.terminationLog, JSON.stringify(summary), logger);
  return 0;
}

if (require.main === module) {
  const controller = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => controller.abort(new BackupError(`stopped by ${signal}`)));
  }
  void run(process.argv.slice(2), { signal: controller.signal }).then((status) => {
    process.exitCode = status;
    // Nothing should keep the process up now; if something does, it must not hold the Job.
    setTimeout(() => process.exit(), 5000).unref();
  });
}
