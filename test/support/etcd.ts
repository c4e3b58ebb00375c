/**
 * Starts a real etcd (Debian's etcd-server package) on free ports with a throw-away data dir.
 * There is no fallback: if etcd is missing the tests that need it fail with a clear message.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EtcdProcess {
  endpoint: string;
  /** The etcd process id, e.g. to SIGSTOP it and test a hung store (SIGCONT it afterwards). */
  pid: number;
  stop(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function etcdBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error('etcd is not installed: run `apt-get install etcd-server` (as .ci/run does)');
  return found;
}

/**
 * PEM files for TLS: etcd serves certFile/keyFile and requires client certificates signed by caFile;
 * the health check presents clientCertFile/clientKeyFile.
 */
export interface EtcdTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

function healthy(endpoint: string, tls?: EtcdTls): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL('/health', endpoint);
    const options = tls
      ? {
          ca: readFileSync(tls.caFile),
          cert: readFileSync(tls.clientCertFile),
          key: readFileSync(tls.clientKeyFile),
        }
      : {};
    const req = (url.protocol === 'https:' ? https : http).get(url, { ...options, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * `host`: the address to serve clients on (default loopback; the test cluster's node address for pods).
 * `tls`: serve clients over TLS with client-certificate authentication (the server uses certFile too).
 * `binary`: an etcd to run instead of the one on PATH (e.g. the bed's v3.6 build).
 * `dataDir`: start on this data dir instead of a throw-away one (e.g. one `etcdutl snapshot restore`
 * wrote for a member named `test`); it is left in place on stop.
 */
export async function startEtcd(
  opts: { host?: string; tls?: EtcdTls; binary?: string; dataDir?: string } = {},
): Promise<EtcdProcess> {
  const bin = opts.binary ?? etcdBinary();
  const host = opts.host ?? '127.0.0.1';
  const dir = opts.dataDir ? undefined : await mkdtemp(path.join(os.tmpdir(), 'etcd-test-'));
  const clientPort = await freePort(host);
  const peerPort = await freePort('127.0.0.1');
  const endpoint = `${opts.tls ? 'https' : 'http'}://${host}:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    bin,
    [
      '--name=test',
      `--data-dir=${opts.dataDir ?? path.join(dir!, 'data')}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      '--log-level=error',
      '--logger=zap',
      ...(opts.tls
        ? [
            `--cert-file=${opts.tls.certFile}`,
            `--key-file=${opts.tls.keyFile}`,
            `--trusted-ca-file=${opts.tls.caFile}`,
            '--client-cert-auth=true',
          ]
        : []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`);
    if (await healthy(endpoint, opts.tls)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`etcd did not become healthy in 20s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
