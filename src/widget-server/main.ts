/**
 * Entrypoint of the Widget extension API server: parse flags, start serving, print how to reach it when
 * running standalone, and shut down gracefully on SIGTERM/SIGINT.
 */
import { createLogger } from '../shared/logger';
import { parseConfig } from './config';
import { startWidgetServer } from './widget-server';

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`widget-server: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger({ name: 'widget-server', level: config.logLevel });
  const server = await startWidgetServer(config, logger);
  logger.info(
    {
      url: server.url,
      storage: server.storage.kind,
      group: config.group,
      versions: config.versions,
      storageVersion: config.storageVersion,
    },
    'widget server ready',
  );
  if (server.standalone) {
    const kc = server.standalone.kubeconfigPath;
    process.stderr.write(
      `\nWidget server (${server.storage.kind} storage) is serving ${config.group} ${config.versions.join(', ')} at ${server.url}\n` +
        `kubeconfig: ${kc}\n\n  export KUBECONFIG=${kc}\n  kubectl get widgets\n\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server
      .stop()
      .then(() => process.exit(0))
      .catch((err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`widget-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
