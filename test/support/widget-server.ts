/**
 * Starts a real Widget server in-process for tests, on a random loopback port with its standalone
 * credentials in a temp dir, backed by the embedded store or by a real etcd, one member or a cluster
 * (see etcd.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseConfig } from '../../src/widget-server/config';
import { startWidgetServer, type RunningWidgetServer } from '../../src/widget-server/widget-server';
import { startEtcd, type EtcdProcess } from './etcd';
import type { AnyKind } from '../../src/widget-server/apis/kind';

export type StoreKind = 'memory' | 'etcd';

export interface TestServer extends RunningWidgetServer {
  kubeconfig: string;
  dir: string;
  close(): Promise<void>;
}

export async function startTestServer(
  options: {
    etcdEndpoint?: string;
    /** Several etcd endpoints (the members of one cluster), given to --etcd-servers comma-separated. */
    etcdEndpoints?: string[];
    etcdPrefix?: string;
    group?: string;
    localDir?: string;
    /** More flags, e.g. small limits for attack tests. */
    args?: string[];
    /** The kinds to serve (default: the server's own). */
    kinds?: readonly AnyKind[];
  } = {},
): Promise<TestServer> {
  const dir = options.localDir ?? (await mkdtemp(path.join(os.tmpdir(), 'widget-test-')));
  const args = ['--secure-port', '0', '--local-dir', dir, '--shutdown-grace-seconds', '2'];
  const endpoints = [
    ...(options.etcdEndpoint ? [options.etcdEndpoint] : []),
    ...(options.etcdEndpoints ?? []),
  ];
  if (endpoints.length) args.push('--etcd-servers', endpoints.join(','));
  if (options.etcdPrefix) args.push('--etcd-prefix', options.etcdPrefix);
  if (options.group) args.push('--api-group', options.group);
  if (options.args) args.push(...options.args);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const server = await startWidgetServer(parseConfig(args, {}), logger, options.kinds);
  return {
    ...server,
    kubeconfig: server.standalone!.kubeconfigPath,
    dir,
    async close() {
      await server.stop();
      if (!options.localDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

let prefixCounter = 0;
export function uniquePrefix(label: string): string {
  prefixCounter += 1;
  return `/test-${label}-${process.pid}-${Date.now()}-${prefixCounter}`;
}

/**
 * A test server on the given store: the embedded one, or a real etcd started for it (and stopped by
 * `close`), with a key prefix of its own.
 */
export async function startServerOnStore(
  store: StoreKind,
  label: string,
  args?: string[],
): Promise<TestServer & { etcd?: EtcdProcess }> {
  if (store === 'memory') return startTestServer({ args });
  const etcd = await startEtcd();
  try {
    const server = await startTestServer({
      etcdEndpoint: etcd.endpoint,
      etcdPrefix: uniquePrefix(label),
      args,
    });
    return {
      ...server,
      etcd,
      async close() {
        await server.close();
        await etcd.stop();
      },
    };
  } catch (e) {
    await etcd.stop();
    throw e;
  }
}
