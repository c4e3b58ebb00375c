/**
 * The operator's view of a managed etcd's members (src/operator/reconcile/etcd/members.ts), against a
 * real etcd serving TLS with a member certificate and requiring client certificates, as in a pod: the
 * member is reached at its address with the TLS name of its stable DNS name.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { createCA, issueClientCert, issueServingCert } from '../../src/shared/pki';
import { defragment, probeCluster, type ClientTls } from '../../src/operator/reconcile/etcd/members';
import { memberDnsNames } from '../../src/operator/reconcile/etcd/names';
import type { AggregatedAPI } from '../../src/operator/api/aggregated-api';
import { startEtcd, type EtcdProcess } from '../support/etcd';

const api = {
  apiVersion: 'aggregation.example.com/v1alpha1',
  kind: 'AggregatedAPI',
  metadata: { name: 'probe', uid: 'uid-1' },
  spec: {
    group: 'custom.example.com',
    versions: [{ name: 'v1' }],
    namespace: 'ns',
    storage: { etcd: { managed: { members: 1 } } },
  },
} as AggregatedAPI;

let dir: string;
let etcd: EtcdProcess;
let tls: ClientTls;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'etcd-members-'));
  const ca = createCA({ commonName: 'probe-etcd-ca', validityMs: 3_600_000 });
  const member = issueServingCert(ca, {
    commonName: 'probe-etcd-member.ns',
    dnsNames: memberDnsNames(api),
    ipAddresses: ['127.0.0.1'],
    validityMs: 3_600_000,
    clientAuth: true,
  });
  const client = issueClientCert(ca, {
    commonName: 'probe-etcd-client.ns',
    organizations: [],
    validityMs: 3_600_000,
  });
  const files = {
    caFile: path.join(dir, 'ca.crt'),
    certFile: path.join(dir, 'member.crt'),
    keyFile: path.join(dir, 'member.key'),
    clientCertFile: path.join(dir, 'client.crt'),
    clientKeyFile: path.join(dir, 'client.key'),
  };
  await writeFile(files.caFile, ca.certPem);
  await writeFile(files.certFile, member.certPem);
  await writeFile(files.keyFile, member.keyPem);
  await writeFile(files.clientCertFile, client.certPem);
  await writeFile(files.clientKeyFile, client.keyPem);
  etcd = await startEtcd({ tls: files });
  port = Number(new URL(etcd.endpoint).port);
  tls = { caPem: ca.certPem, certPem: client.certPem, keyPem: client.keyPem };
}, 30_000);

afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('reports a healthy leader with its id, version and database sizes', async () => {
  const health = await probeCluster(api, [{ ordinal: 0, podIP: '127.0.0.1', port, ready: true }], 1, tls);
  expect(health.members).toHaveLength(1);
  const [m] = health.members;
  expect(m).toMatchObject({ ordinal: 0, name: 'probe-etcd-0', healthy: true, leader: true });
  expect(m.id).toMatch(/^[0-9a-f]+$/);
  expect(m.version).toMatch(/^3\./);
  expect(m.dbSizeBytes).toBeGreaterThan(0);
  expect(health.leader).toBe('probe-etcd-0');
  expect(health.membership).toHaveLength(1);
});

test('a member whose pod is missing or unreachable is unhealthy with the reason, within the call timeout', async () => {
  const started = Date.now();
  const health = await probeCluster(
    api,
    [
      { ordinal: 0, podIP: '127.0.0.1', port, ready: true },
      { ordinal: 1, podIP: '127.0.0.1', port: 1, ready: false },
    ],
    3,
    tls,
  );
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(health.members.map((m) => m.healthy)).toEqual([true, false, false]);
  expect(health.members[1].message).toBeTruthy();
  expect(health.members[2].message).toBe('its pod does not exist');
});

test('a client certificate from another CA is refused', async () => {
  const other = createCA({ commonName: 'other', validityMs: 3_600_000 });
  const stranger = issueClientCert(other, { commonName: 'x', organizations: [], validityMs: 3_600_000 });
  const health = await probeCluster(api, [{ ordinal: 0, podIP: '127.0.0.1', port, ready: true }], 1, {
    caPem: tls.caPem,
    certPem: stranger.certPem,
    keyPem: stranger.keyPem,
  });
  expect(health.members[0].healthy).toBe(false);
});

test('defragmentation returns the free space of deleted keys', async () => {
  const client = new Etcd3({
    hosts: etcd.endpoint,
    credentials: {
      rootCertificate: Buffer.from(tls.caPem),
      certChain: Buffer.from(tls.certPem),
      privateKey: Buffer.from(tls.keyPem),
    },
  });
  try {
    const value = 'x'.repeat(100_000);
    for (let i = 0; i < 60; i++) await client.put(`/k/${i}`).value(value);
    await client.delete().prefix('/k/');
    const { header } = await client.get('/none').exec();
    await client.kv.compact({ revision: header.revision, physical: true });
  } finally {
    client.close();
  }
  // Compaction frees pages in batches, and the backend commits every 100 ms: wait until some are.
  const pod = { ordinal: 0, podIP: '127.0.0.1', port, ready: true };
  let before = (await probeCluster(api, [pod], 1, tls)).members[0];
  for (let i = 0; i < 25 && before.dbSizeBytes! - before.dbSizeInUseBytes! < 100_000; i++) {
    await new Promise((r) => setTimeout(r, 200));
    before = (await probeCluster(api, [pod], 1, tls)).members[0];
  }
  const free = before.dbSizeBytes! - before.dbSizeInUseBytes!;
  expect(free).toBeGreaterThan(100_000);
  await defragment(api, pod, tls);
  const after = (await probeCluster(api, [pod], 1, tls)).members[0];
  expect(after.dbSizeBytes!).toBeLessThanOrEqual(before.dbSizeBytes! - free / 2);
});
