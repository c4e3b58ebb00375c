/**
 * A standalone Widget server on the embedded store for bench/managed-fields.ts, with managedFields
 * tracked or not (argv: <local dir> <on|off>). Prints one JSON line, {"kubeconfig": ...}, once serving;
 * stops on SIGTERM.
 */
import pino from 'pino';
import { parseConfig } from '../src/widget-server/config';
import { startWidgetServer } from '../src/widget-server/widget-server';
import { KINDS } from '../src/widget-server/apis';

async function main() {
  const [dir, mode] = process.argv.slice(2);
  if (!dir || (mode !== 'on' && mode !== 'off'))
    throw new Error('usage: managed-fields-server <dir> <on|off>');
  const config = parseConfig(['--secure-port', '0', '--local-dir', dir, '--shutdown-grace-seconds', '1'], {});
  const server = await startWidgetServer(config, pino({ level: 'silent' }), KINDS, {
    trackManagedFields: mode === 'on',
  });
  process.stdout.write(JSON.stringify({ kubeconfig: server.standalone!.kubeconfigPath }) + '\n');
  process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
