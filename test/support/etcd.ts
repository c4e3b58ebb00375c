/**
 * Starts a real etcd (Debian's etcd-server package) on free ports with a throw-away data dir, or a real
 * cluster of several members (startEtcdCluster) whose members can be killed and restarted on their own
 * data dirs, to test failover. If etcd is missing the tests that need it fail with a clear message.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

export interface EtcdProcess {
  endpoint: string;
  /** The etcd process id, e.g. to SIGSTOP it and test a hung store (SIGCONT it afterwards). */
  pid: number;
  stop(): Promise<void>;
}

/** The bed's etcd (v3.6), present once the test cluster has been built; used only without one on PATH. */
const BED_ETCD = path.resolve(__dirname, '../cluster/build/servers/etcd/etcd');

function etcdBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  if (existsSync(BED_ETCD)) return BED_ETCD;
  throw new Error('etcd is not installed: run `apt-get install etcd-server` (as .ci/run does)');
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

/** One member of a cluster from startEtcdCluster: killable, and restartable on its own data dir. */
export interface EtcdMember {
  readonly name: string;
  /** Its client URL. */
  readonly endpoint: string;
  /** The process id while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Sends `signal` (default SIGKILL: a crash, no goodbye to peers or clients) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with the same data dir, name and ports; resolves once the process is spawned. */
  start(): Promise<void>;
  /** Resolves once it reports healthy (it has a leader and serves), within `ms`. */
  waitHealthy(ms?: number): Promise<void>;
  /** Its member id and the leader it knows of (0 for none), or undefined when it does not answer. */
  status(): Promise<{ memberId: string; leaderId: string } | undefined>;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Every member's client URL, in member order. */
  endpoints: string[];
  /** The member the running members agree leads, waiting up to `ms` for them to agree on one. */
  leader(ms?: number): Promise<EtcdMember>;
  /** Kills every member and removes the data dirs. */
  stop(): Promise<void>;
}

function postJson(url: string, body: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      url,
      {
        method: 'POST',
        timeout: 2000,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 2s`)));
    req.end(payload);
  });
}

/**
 * A real cluster of `size` members on loopback, each with free client and peer ports and a throw-away
 * data dir, started together and healthy (a leader elected) when this resolves. etcd's timing flags are
 * left at their defaults (100 ms heartbeat, 1 s election timeout), so failover takes as long as it would
 * in production.
 */
export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  const bin = etcdBinary();
  const root = await mkdtemp(path.join(os.tmpdir(), 'etcd-cluster-'));
  const token = `test-${process.pid}-${Date.now()}`;
  const specs: Array<{ name: string; client: string; peer: string }> = [];
  for (let i = 0; i < size; i++) {
    specs.push({
      name: `m${i}`,
      client: `http://127.0.0.1:${await freePort('127.0.0.1')}`,
      peer: `http://127.0.0.1:${await freePort('127.0.0.1')}`,
    });
  }
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',');

  const members = specs.map((spec): EtcdMember => {
    let child: ChildProcess | undefined;
    let stderr = '';
    const args = [
      `--name=${spec.name}`,
      `--data-dir=${path.join(root, spec.name)}`,
      `--listen-client-urls=${spec.client}`,
      `--advertise-client-urls=${spec.client}`,
      `--listen-peer-urls=${spec.peer}`,
      `--initial-advertise-peer-urls=${spec.peer}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      // Ignored by a member that restarts on its data dir.
      '--initial-cluster-state=new',
      '--log-level=error',
      '--logger=zap',
    ];
    const member: EtcdMember = {
      name: spec.name,
      endpoint: spec.client,
      get pid() {
        return member.running ? child?.pid : undefined;
      },
      get running() {
        return !!child && child.exitCode === null && child.signalCode === null;
      },
      async start() {
        if (member.running) throw new Error(`${spec.name} is running`);
        child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
      },
      async kill(signal: NodeJS.Signals = 'SIGKILL') {
        const proc = child;
        if (!proc || !member.running) return;
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill(signal);
        await exited;
      },
      async waitHealthy(ms = 20_000) {
        const deadline = Date.now() + ms;
        for (;;) {
          if (!member.running) throw new Error(`${spec.name} is not running: ${stderr}`);
          if (await healthy(spec.client)) return;
          if (Date.now() > deadline) throw new Error(`${spec.name} not healthy within ${ms} ms: ${stderr}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      async status() {
        try {
          // etcd's gRPC gateway: Maintenance.Status as JSON (uint64 fields as strings).
          const res = (await postJson(`${spec.client}/v3/maintenance/status`, {})) as {
            header?: { member_id?: string };
            leader?: string;
          };
          return { memberId: res.header?.member_id ?? '', leaderId: res.leader ?? '0' };
        } catch {
          return undefined;
        }
      },
    };
    return member;
  });

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.endpoint),
    async leader(ms = 20_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const statuses = await Promise.all(members.map(async (m) => ({ m, s: await m.status() })));
        const answered = statuses.filter((x) => x.s);
        const leaders = new Set(answered.map((x) => x.s!.leaderId));
        if (answered.length * 2 > members.length && leaders.size === 1 && !leaders.has('0')) {
          const leaderId = [...leaders][0];
          const found = answered.find((x) => x.s!.memberId === leaderId);
          if (found) return found.m;
        }
        if (Date.now() > deadline) throw new Error(`no agreed etcd leader within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await Promise.all(members.map((m) => m.kill('SIGKILL')));
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    await Promise.all(members.map((m) => m.start()));
    await Promise.all(members.map((m) => m.waitHealthy()));
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
