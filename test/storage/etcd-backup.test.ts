/**
 * The etcd backup program (src/etcd-backup) against a real etcd v3.6, the test cluster's build of the
 * release the managed etcd image runs, serving clients over TLS with client certificates: a snapshot of
 * known keys restored by the real `etcdutl snapshot restore` (v3.6, the image's) into a new data dir, on
 * which a new etcd serves every key back at the snapshot's revision; pruning to --keep; a member that
 * does not answer given up for the next; failures (no member, the timeout, a stop in mid-stream) that
 * exit non-zero and leave no file behind; and the compiled program run as the CronJob runs it.
 *
 * The etcd and etcdutl binaries come from test/cluster/build/servers/etcd (`npm run cluster:up`, or
 * `bash test/cluster/image.sh build`, builds them; CI does before the tests); without them these tests
 * fail with that message. They are copied first: a rebuild of the bed replaces that directory.
 */
import { execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { takeBackup, verifySnapshotFile } from '../../src/etcd-backup/backup';
import { run } from '../../src/etcd-backup/main';
import type { AggregatedAPI } from '../../src/operator/api/aggregated-api';
import { restoreJobs } from '../../src/operator/reconcile/etcd/desired-backup';
import { createCA, issueClientCert, issueServingCert } from '../../src/shared/pki';
import { startEtcd, type EtcdProcess } from '../support/etcd';

jest.setTimeout(120_000);

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(__dirname, '../..');
const BED_ETCD_DIR = path.join(repoRoot, 'test/cluster/build/servers/etcd');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'etcd-backup-test-'));
let etcd: EtcdProcess;
let client: Etcd3;
let binaries: { etcd: string; etcdutl: string };
const tls = { caFile: '', certFile: '', keyFile: '' };

/** The bed's etcd and etcdutl, copied into this test's directory. */
function bedBinaries(): { etcd: string; etcdutl: string } {
  const copy = (name: string) => {
    const source = path.join(BED_ETCD_DIR, name);
    if (!existsSync(source)) {
      throw new Error(
        `${source} is missing: these tests run the test cluster's etcd v3.6 build (npm run cluster:up, or ` +
          'bash test/cluster/image.sh build, makes it)',
      );
    }
    const target = path.join(tmp, 'bin', name);
    copyFileSync(source, target);
    return target;
  };
  rmSync(path.join(tmp, 'bin'), { recursive: true, force: true });
  mkdirSync(path.join(tmp, 'bin'));
  return { etcd: copy('etcd'), etcdutl: copy('etcdutl') };
}

const file = (name: string, text: string) => {
  const target = path.join(tmp, name);
  writeFileSync(target, text, { mode: 0o600 });
  return target;
};

let dirs = 0;
/** A fresh backup directory. */
const backupDir = () => {
  const dir = path.join(tmp, `backup-${++dirs}`);
  mkdirSync(dir);
  return dir;
};

/** A pino logger whose lines are kept as objects. */
function memoryLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const args = (dir: string, endpoints: string[], extra: string[] = []) => [
  `--endpoints=${endpoints.join(',')}`,
  `--cacert=${tls.caFile}`,
  `--cert=${tls.certFile}`,
  `--key=${tls.keyFile}`,
  `--dir=${dir}`,
  '--prefix=things',
  '--timeout-seconds=60',
  ...extra,
];

const snapshots = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.db'));
const leftovers = (dir: string) => readdirSync(dir).filter((name) => name.startsWith('.'));
const latest = (dir: string) => readFileSync(path.join(dir, 'latest'), 'utf8');
const revision = async () => Number((await client.maintenance.status()).header.revision);

beforeAll(async () => {
  binaries = bedBinaries();
  const ca = createCA({ commonName: 'etcd-ca', validityMs: 3_600_000 });
  const server = issueServingCert(ca, {
    commonName: 'etcd',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validityMs: 3_600_000,
  });
  const backup = issueClientCert(ca, { commonName: 'etcd-backup', organizations: [], validityMs: 3_600_000 });
  tls.caFile = file('ca.crt', ca.certPem);
  tls.certFile = file('client.crt', backup.certPem);
  tls.keyFile = file('client.key', backup.keyPem);
  etcd = await startEtcd({
    binary: binaries.etcd,
    tls: {
      caFile: tls.caFile,
      certFile: file('server.crt', server.certPem),
      keyFile: file('server.key', server.keyPem),
      clientCertFile: tls.certFile,
      clientKeyFile: tls.keyFile,
    },
  });
  client = new Etcd3({
    hosts: etcd.endpoint,
    credentials: {
      rootCertificate: Buffer.from(ca.certPem),
      certChain: Buffer.from(backup.certPem),
      privateKey: Buffer.from(backup.keyPem),
    },
  });
});

afterAll(async () => {
  client?.close();
  await etcd?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('a snapshot restores with etcdutl into an etcd that serves every key at its revision', async () => {
  // Values of many sizes: the database spans many of the stream's 32 KiB chunks.
  const written: Record<string, string> = {};
  for (let i = 0; i < 300; i++) {
    const key = `/registry/things/${String(i).padStart(3, '0')}`;
    written[key] = `value-${i}-${'x'.repeat((i * 97) % 12_000)}`;
    await client.put(key).value(written[key]);
  }
  await client.delete().key('/registry/things/007');
  delete written['/registry/things/007'];
  const rev = await revision();

  const dir = backupDir();
  const { logger, lines } = memoryLogger();
  expect(await run(args(dir, [etcd.endpoint], ['--keep=3']), { logger })).toBe(0);

  const [name] = snapshots(dir);
  expect(snapshots(dir)).toEqual([name]);
  expect(name).toMatch(new RegExp(`^things-\\d{8}T\\d{6}Z-rev${rev}\\.db$`));
  expect(latest(dir)).toBe(`${name}\n`);
  expect(leftovers(dir)).toEqual([]);
  const size = readFileSync(path.join(dir, name)).length;
  expect(size % 512).toBe(32);
  await verifySnapshotFile(path.join(dir, name));
  // One JSON line says what was taken.
  const taken = lines.filter((line) => line.msg === 'etcd snapshot taken');
  expect(taken).toEqual([
    expect.objectContaining({
      level: 30,
      file: name,
      bytes: size,
      revision: rev,
      endpoint: etcd.endpoint,
      member: expect.stringMatching(/^[0-9a-f]+$/),
      durationMs: expect.any(Number),
    }),
  ]);

  // etcdutl reads the same revision and keys, and restores (checking the appended sha256: no
  // --skip-hash-check) into a new data dir for a member named as startEtcd names its member.
  const status = JSON.parse(
    (await execFileAsync(binaries.etcdutl, ['snapshot', 'status', path.join(dir, name), '-w', 'json']))
      .stdout,
  );
  expect(status.revision).toBe(rev);
  const dataDir = path.join(tmp, 'restored', 'data');
  const restore = [
    'snapshot',
    'restore',
    path.join(dir, name),
    '--name=test',
    '--initial-cluster=test=http://127.0.0.1:2380',
    '--initial-cluster-token=backup-test',
    '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    `--data-dir=${dataDir}`,
  ];
  await execFileAsync(binaries.etcdutl, restore);
  // It refuses a data dir that is not empty (a restore Job run twice cannot overwrite a member).
  await expect(execFileAsync(binaries.etcdutl, restore)).rejects.toMatchObject({
    code: 1,
    stderr: expect.stringContaining('not empty'),
  });

  const restored = await startEtcd({ binary: binaries.etcd, dataDir });
  const reader = new Etcd3({ hosts: restored.endpoint });
  try {
    expect(await reader.getAll().prefix('/registry/things/').strings()).toEqual(written);
    expect(Number((await reader.maintenance.status()).header.revision)).toBe(rev);
  } finally {
    reader.close();
    await restored.stop();
  }
});

test("the restore Jobs' etcdutl arguments restore each member of a cluster from the snapshot", async () => {
  await client.put('/registry/things/restored').value('by the Job');
  const dir = backupDir();
  const taken = await takeBackup({
    endpoints: [etcd.endpoint],
    tls,
    dir,
    prefix: 'things',
    keep: 5,
    timeoutMs: 60_000,
  });
  const api = (members: 1 | 3): AggregatedAPI => ({
    apiVersion: 'aggregation.example.com/v1alpha1',
    kind: 'AggregatedAPI',
    metadata: { name: 'things', uid: 'uid-1' },
    spec: {
      group: 'things.example.com',
      versions: [{ name: 'v1' }],
      namespace: 'ns',
      storage: {
        etcd: { managed: { members, restore: { persistentVolumeClaimName: 'b', snapshot: taken.file } } },
      },
    },
  });
  // The Jobs' paths, mapped onto this test's directories: /restore is the backup dir, each member's
  // claim (mounted at /var/lib/etcd) a directory of its own.
  const restoreAs = async (job: unknown, claimDir: string) => {
    const container = (
      job as { spec: { template: { spec: { containers: Array<{ command: string[]; args: string[] }> } } } }
    ).spec.template.spec.containers[0];
    expect(container.command).toEqual(['etcdutl']);
    const argv = container.args.map((arg) =>
      arg
        .replace(/^\/restore\//, `${dir}/`)
        .replace(/^--data-dir=\/var\/lib\/etcd\//, `--data-dir=${claimDir}/`),
    );
    mkdirSync(claimDir);
    await execFileAsync(binaries.etcdutl, argv);
    return path.join(claimDir, 'data');
  };
  for (const [i, job] of restoreJobs(api(3), 'etcd').entries()) {
    const data = await restoreAs(job, path.join(tmp, `member-3-${i}`));
    expect(readdirSync(path.join(data, 'member')).sort()).toEqual(['snap', 'wal']);
  }

  // A one-member cluster starts on what its Job restored, as that member, with every key.
  const data = await restoreAs(restoreJobs(api(1), 'etcd')[0], path.join(tmp, 'member-1-0'));
  const restored = await startEtcd({ binary: binaries.etcd, dataDir: data });
  const reader = new Etcd3({ hosts: restored.endpoint });
  try {
    expect(await reader.get('/registry/things/restored').string()).toBe('by the Job');
    expect(Number((await reader.maintenance.status()).header.revision)).toBe(taken.revision);
    // The member's identity is its peer URL from the restore (the name is the running etcd's --name,
    // which it publishes at start: startEtcd's "test" here, things-etcd-0 in the StatefulSet).
    const { members } = await reader.cluster.memberList({});
    expect(members.map((m) => m.peerURLs)).toEqual([['https://things-etcd-0.things-etcd-peer.ns.svc:2380']]);
  } finally {
    reader.close();
    await restored.stop();
  }
});

test('the check before the rename refuses a snapshot whose bytes or length are not what etcd sent', async () => {
  const dir = backupDir();
  const result = await takeBackup({
    endpoints: [etcd.endpoint],
    tls,
    dir,
    prefix: 'things',
    keep: 5,
    timeoutMs: 60_000,
  });
  const good = readFileSync(result.path);
  expect(result.bytes).toBe(good.length);
  await verifySnapshotFile(result.path, good.length - 32);
  const variant = (name: string, bytes: Buffer) => {
    writeFileSync(path.join(dir, name), bytes);
    return path.join(dir, name);
  };
  const flipped = Buffer.from(good);
  flipped[Math.floor(good.length / 2)] ^= 0xff;
  await expect(verifySnapshotFile(variant('flipped', flipped))).rejects.toThrow(/digest mismatch/);
  await expect(verifySnapshotFile(result.path, good.length)).rejects.toThrow(/ended after/);
  await expect(verifySnapshotFile(variant('short', good.subarray(0, good.length - 4096)))).rejects.toThrow(
    /not a multiple of 512|digest mismatch/,
  );
  await expect(verifySnapshotFile(variant('empty', Buffer.alloc(0)))).rejects.toThrow(/empty/);
  const notBolt = Buffer.from(good);
  notBolt.fill(0, 0, 4096);
  await expect(verifySnapshotFile(variant('zeros', notBolt))).rejects.toThrow(/not a bbolt database/);
});

test('--keep=2 after three runs keeps the two newest and latest names the newest; other files stay', async () => {
  const dir = backupDir();
  const others = [
    'notes.txt',
    'things-backup.db',
    'things-x-20200101T000000Z-rev1.db',
    'other-20200101T000000Z-rev1.db',
    'things-20200101T000000Z-rev1.db.bak',
  ];
  for (const name of others) writeFileSync(path.join(dir, name), 'not a snapshot of this program');
  const at = (iso: string) => () => new Date(iso);
  const names: string[] = [];
  for (const iso of ['2026-01-02T03:04:05Z', '2026-01-02T04:04:05Z', '2026-01-02T05:04:05.999Z']) {
    await client.put('/registry/things/tick').value(iso);
    const { logger, lines } = memoryLogger();
    expect(await run(args(dir, [etcd.endpoint], ['--keep=2']), { logger, now: at(iso) })).toBe(0);
    names.push(lines.find((line) => line.msg === 'etcd snapshot taken')!.file as string);
  }
  expect(names.map((name) => name.slice(0, 'things-20260102T030405Z'.length))).toEqual([
    'things-20260102T030405Z',
    'things-20260102T040405Z',
    'things-20260102T050405Z',
  ]);
  expect(
    snapshots(dir)
      .filter((name) => name.startsWith('things-2'))
      .sort(),
  ).toEqual(names.slice(1));
  expect(latest(dir)).toBe(`${names[2]}\n`);
  for (const name of others) expect(existsSync(path.join(dir, name))).toBe(true);

  // A clock set back: the new snapshot sorts oldest by name, and is still never the one removed.
  const { logger, lines } = memoryLogger();
  expect(
    await run(args(dir, [etcd.endpoint], ['--keep=2']), { logger, now: at('2025-06-01T00:00:00Z') }),
  ).toBe(0);
  const taken = lines.find((line) => line.msg === 'etcd snapshot taken')!;
  expect(taken.pruned).toEqual([names[1]]);
  expect(
    snapshots(dir)
      .filter((name) => name.startsWith('things-2'))
      .sort(),
  ).toEqual([taken.file as string, names[2]].sort());
  expect(latest(dir)).toBe(`${taken.file}\n`);
  expect(leftovers(dir)).toEqual([]);
});

test('a member that does not answer is given up for the next', async () => {
  const dir = backupDir();
  const refused = `https://127.0.0.1:${await closedPort()}`;
  const { logger, lines } = memoryLogger();
  expect(await run(args(dir, [refused, etcd.endpoint]), { logger })).toBe(0);
  expect(lines.find((line) => line.msg === 'etcd snapshot taken')).toMatchObject({ endpoint: etcd.endpoint });
  expect(lines.find((line) => line.level === 40)).toMatchObject({ endpoint: refused });
  expect(snapshots(dir)).toHaveLength(1);

  // A member that accepts connections and never answers costs the per-member bound, not the run's.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<net.Socket>();
  silent.on('connection', (socket) => sockets.add(socket));
  try {
    const started = Date.now();
    const result = await takeBackup({
      endpoints: [`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, etcd.endpoint],
      tls,
      dir,
      prefix: 'things',
      keep: 5,
      timeoutMs: 60_000,
      endpointTimeoutMs: 1000,
    });
    expect(result.endpoint).toBe(etcd.endpoint);
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('no member answers: exit 1 with a message naming each, and no file written', async () => {
  const dir = backupDir();
  const endpoints = [`https://127.0.0.1:${await closedPort()}`, `https://127.0.0.1:${await closedPort()}`];
  const { logger, lines } = memoryLogger();
  expect(await run(args(dir, endpoints), { logger })).toBe(1);
  const failure = lines.find((line) => line.level === 50)!;
  expect(failure.msg).toMatch(/^etcd backup failed: no member gave a snapshot: /);
  for (const endpoint of endpoints) expect(failure.msg).toContain(endpoint);
  expect(readdirSync(dir)).toEqual([]);
});

test('bad flags: exit 2 with the usage', async () => {
  const { logger, lines } = memoryLogger();
  expect(await run(['--endpoints=https://127.0.0.1:1'], { logger })).toBe(2);
  expect(lines[0].msg).toMatch(/missing --cacert, --cert, --key, --dir, --prefix; usage: /);
  expect(await run([...args(backupDir(), [etcd.endpoint]), '--keep=0'], { logger })).toBe(2);
  expect(await run([...args(backupDir(), ['http://127.0.0.1:2379'])], { logger })).toBe(2);
  expect(lines.at(-1)!.msg).toContain('is not an https://host:port URL');
});

test('the timeout ends a run against a hung member, leaving nothing', async () => {
  const dir = backupDir();
  process.kill(etcd.pid, 'SIGSTOP');
  try {
    const { logger, lines } = memoryLogger();
    const started = Date.now();
    expect(await run(args(dir, [etcd.endpoint], ['--timeout-seconds=2']), { logger })).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(lines.find((line) => line.level === 50)!.msg).toContain('timed out after 2 s');
  } finally {
    process.kill(etcd.pid, 'SIGCONT');
  }
  expect(readdirSync(dir)).toEqual([]);
});

test('a run stopped in mid-stream removes its partial file', async () => {
  // About 24 MB: the stream is still running when the partial file appears.
  const big = 'y'.repeat(1_000_000);
  for (let i = 0; i < 24; i++) await client.put(`/big/${i}`).value(big);
  const dir = backupDir();
  const controller = new AbortController();
  const seen: string[] = [];
  const watcher = watch(dir, (_event, name) => {
    if (name && String(name).endsWith('.partial') && !controller.signal.aborted) {
      seen.push(String(name));
      controller.abort(new Error('stopped by the test'));
    }
  });
  try {
    await expect(
      takeBackup({
        endpoints: [etcd.endpoint],
        tls,
        dir,
        prefix: 'things',
        keep: 5,
        timeoutMs: 60_000,
        signal: controller.signal,
      }),
    ).rejects.toThrow('stopped by the test');
  } finally {
    watcher.close();
  }
  expect(seen).toHaveLength(1);
  expect(readdirSync(dir)).toEqual([]);
  await client.delete().prefix('/big/');
});

test('the compiled program exits 0 with one JSON line, or 1 with the reason, and writes the termination log', async () => {
  const out = path.join(tmp, 'dist');
  await execFileAsync(
    process.execPath,
    [
      path.join(repoRoot, 'node_modules/typescript/bin/tsc'),
      ...[
        '--outDir',
        out,
        '--rootDir',
        path.join(repoRoot, 'src'),
        '--module',
        'commonjs',
        '--target',
        'ES2022',
      ],
      ...['--moduleResolution', 'node', '--esModuleInterop', '--skipLibCheck', '--strict', '--types', 'node'],
      path.join(repoRoot, 'src/etcd-backup/main.ts'),
    ],
    { cwd: repoRoot },
  );
  const main = path.join(out, 'etcd-backup/main.js');
  const exec = (argv: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string; exitedAt: number }>((resolve) => {
      const child = spawn(process.execPath, [main, ...argv], {
        cwd: repoRoot,
        env: { ...process.env, NODE_PATH: path.join(repoRoot, 'node_modules') },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (status) => resolve({ status, stdout, stderr, exitedAt: Date.now() }));
    });

  const dir = backupDir();
  const log = path.join(tmp, 'termination-log');
  const ok = await exec(args(dir, [etcd.endpoint], [`--termination-log=${log}`]));
  expect(ok.status).toBe(0);
  // Nothing on stderr but Node's warning that TLS to an IP address sends no server name (the
  // CronJob's endpoints are DNS names).
  expect(ok.stderr.replace(/.*DEP0123.*\n|.*--trace-deprecation.*\n/g, '')).toBe('');
  const lines = ok.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(lines).toEqual([
    expect.objectContaining({
      level: 'info',
      name: 'etcd-backup',
      msg: 'etcd snapshot taken',
      file: snapshots(dir)[0],
    }),
  ]);
  expect(JSON.parse(readFileSync(log, 'utf8'))).toMatchObject({
    file: snapshots(dir)[0],
    endpoint: etcd.endpoint,
  });
  // It ends as soon as it is done, well before the 5 s after which main.ts would force an exit: no
  // handle (gRPC channel, timer) holds it.
  expect(ok.exitedAt - Date.parse(lines[0].time)).toBeLessThan(2500);

  const failed = await exec(
    args(dir, [`https://127.0.0.1:${await closedPort()}`], [`--termination-log=${log}`]),
  );
  expect(failed.status).toBe(1);
  expect(JSON.parse(failed.stdout.trim().split('\n').at(-1)!)).toMatchObject({
    level: 'error',
    msg: expect.stringContaining('no member gave a snapshot'),
  });
  expect(readFileSync(log, 'utf8')).toMatch(/^etcd backup failed: no member gave a snapshot/);
  expect(snapshots(dir)).toHaveLength(1);
  expect(leftovers(dir)).toEqual([]);
});
