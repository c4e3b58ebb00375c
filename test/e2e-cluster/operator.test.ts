/**
 * The operator end to end on the local cluster: installed with `kubectl apply -k config/local` (two
 * replicas, leader election), it turns AggregatedAPI objects into working aggregated APIs. Covered: the
 * sample reaching Ready and serving widgets through kube-apiserver, drift repair of every owned kind,
 * serving-certificate and CA rotations under continuous load with zero failed requests (the leader killed
 * in the middle of the CA rotation, the standby finishing it), two AggregatedAPIs side by side, invalid
 * specs refused by kube-apiserver, and deletion (APIServices first, the rest garbage-collected).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { kubeconfigFromFile } from '../../src/shared/kube/client-config';
import { KubeRest } from '../../src/shared/kube/rest';
import { createCA, issueClientCert, issueServingCert, verifyCertSignedBy } from '../../src/shared/pki';
import { startEtcd, type EtcdProcess } from '../support/etcd';
import {
  clusterDir,
  deleteSampleClaims,
  ensureClusterUp,
  eventually,
  k,
  kubeconfigPath,
  installOperatorFromCheckout,
  OPERATOR_NS,
} from './cluster';

jest.setTimeout(20 * 60 * 1000);

const root = path.resolve(__dirname, '../..');
/** The test cluster's node address (test/cluster/cluster.sh), which pods reach. */
const NODE_IP = process.env.CLUSTER_NODE_IP ?? '172.30.255.1';
const suffix = randomBytes(3).toString('hex');
const json = async (args: string[]) => JSON.parse(await k([...args, '-o', 'json']));

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

async function conditions(name: string): Promise<Record<string, Condition>> {
  const api = await json(['get', 'aggregatedapi', name]);
  return Object.fromEntries((api.status?.conditions ?? []).map((c: Condition) => [c.type, c]));
}

async function waitReady(name: string, timeout = '300s'): Promise<void> {
  await k(['wait', '--for=condition=Ready', `aggregatedapi/${name}`, `--timeout=${timeout}`]);
}

function aggregatedApi(name: string, group: string, namespace: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'aggregation.example.com/v1alpha1',
    kind: 'AggregatedAPI',
    metadata: { name },
    spec: { group, versions: [{ name: 'v1' }], namespace, storage: { embedded: {} }, ...extra },
  };
}

async function applyObjects(...objects: object[]): Promise<string> {
  return k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

async function events(
  name: string,
): Promise<{ reason: string; message: string; type: string; reportingInstance?: string }[]> {
  const list = await json([
    'get',
    'events',
    '-n',
    'default',
    '--field-selector',
    `involvedObject.name=${name}`,
  ]);
  return list.items;
}

/**
 * SIGKILLs the operator process holding `identity` (`<pod>_<random>`) through the node's containerd, as
 * an OOM kill or a crash would: no shutdown code runs and the lease is not released.
 */
async function killOperatorProcess(identity: string): Promise<void> {
  const pod = await json(['-n', OPERATOR_NS, 'get', 'pod', identity.split('_')[0]]);
  const containerId = String(pod.status.containerStatuses[0].containerID).replace('containerd://', '');
  const sock = path.join(clusterDir, 'containerd', 'containerd.sock');
  await promisify(execFile)('ctr', [
    '--address',
    sock,
    '-n',
    'k8s.io',
    'tasks',
    'kill',
    '-s',
    'SIGKILL',
    containerId,
  ]);
}

async function leader(): Promise<string> {
  return (
    await k([
      '-n',
      OPERATOR_NS,
      'get',
      'lease',
      'aggregator-operator',
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ])
  ).trim();
}

let etcd: EtcdProcess;

const ROTOR = `rotor-${suffix}`;
const ROTOR_GROUP = 'rotation.example.com';
/**
 * Every serving certificate expiry the rotor's status has shown since it was applied: polled every 2 s
 * from then on (renewals come every 40 s), so that the renewals before the rotation test starts are seen.
 */
const rotorServingExpiries = new Set<string>();
let rotorWatching = false;
function watchRotorStatus(): void {
  const rest = new KubeRest(kubeconfigFromFile(kubeconfigPath));
  rotorWatching = true;
  void (async () => {
    while (rotorWatching) {
      try {
        const api = await rest.request<{ status?: { servingCertificateNotAfter?: string } }>(
          'GET',
          `/apis/aggregation.example.com/v1alpha1/aggregatedapis/${ROTOR}`,
        );
        if (api.status?.servingCertificateNotAfter)
          rotorServingExpiries.add(api.status.servingCertificateNotAfter);
      } catch {
        // Not created yet, or kube-apiserver busy: the next poll sees it.
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
}

/**
 * The AggregatedAPI whose certificates the rotation test watches rotate. Applied before the first test,
 * so that its certificates age while the quicker tests run (the rotation takes about two minutes of
 * certificate lifetimes, and nothing else in this file touches it before the rotation test).
 */
async function applyRotor(): Promise<void> {
  // Two replicas share a real etcd, served on the node's address so that pods reach it.
  await applyObjects(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ROTOR } },
    aggregatedApi(ROTOR, ROTOR_GROUP, ROTOR, {
      replicas: 2,
      storage: { etcd: { endpoints: [etcd.endpoint] } },
      // The CA is renewed with a third of its life left (40 s): the rotation starts 80 s in, by when the
      // serving certificate (renewed 40 s before its 80 s) has been renewed twice.
      certificates: { caDuration: '2m', servingCertificateDuration: '80s', renewBefore: '40s' },
    }),
  );
  watchRotorStatus();
}

beforeAll(async () => {
  ensureClusterUp();
  etcd = await startEtcd({ host: NODE_IP });
  // The bed imported a freshly built image under the same tag: restart the operator onto it.
  await installOperatorFromCheckout();
  await eventually(
    'an operator replica to lead',
    async () => (await leader()).startsWith('aggregator-operator-'),
    60_000,
  );
  await applyRotor();
});

afterAll(async () => {
  rotorWatching = false;
  await k(['delete', 'aggregatedapis', '--all', '--wait=true', '--timeout=120s']).catch(() => undefined);
  await k(['delete', 'namespace', 'widgets-system', ROTOR, '--wait=false', '--ignore-not-found']).catch(
    () => undefined,
  );
  await etcd?.stop();
});

test('invalid specs are refused by kube-apiserver with clear messages', async () => {
  const cases: [object, RegExp][] = [
    [aggregatedApi('Bad_Name', 'a.example.com', 'default'), /metadata.name|a lowercase RFC 1123/],
    [aggregatedApi(`x${'a'.repeat(60)}`, 'a.example.com', 'default'), /at most 53 characters/],
    [aggregatedApi('nodot', 'nodot', 'default'), /spec.group/],
    [aggregatedApi('embedded2', 'a.example.com', 'default', { replicas: 2 }), /one replica only/],
    [
      aggregatedApi('renew', 'a.example.com', 'default', {
        certificates: { caDuration: '10h', servingCertificateDuration: '1h', renewBefore: '2h' },
      }),
      /renewBefore must be shorter/,
    ],
    [
      aggregatedApi('longserving', 'a.example.com', 'default', {
        certificates: { caDuration: '1h', servingCertificateDuration: '2h', renewBefore: '30m' },
      }),
      /must not exceed certificates.caDuration/,
    ],
    [
      aggregatedApi('badversion', 'a.example.com', 'default', { versions: [{ name: 'one' }] }),
      /spec.versions\[0\].name/,
    ],
    [
      aggregatedApi('twostores', 'a.example.com', 'default', {
        storage: { embedded: {}, etcd: { endpoints: ['https://etcd:2379'] } },
      }),
      /exactly one of storage.etcd and storage.embedded/,
    ],
  ];
  for (const [object, message] of cases) {
    await expect(applyObjects(object)).rejects.toThrow(message);
  }
  const stored = JSON.parse(await k(['get', 'aggregatedapis', '-o', 'json'])).items.map(
    (o: { metadata: { name: string } }) => o.metadata.name,
  );
  const refused = cases.map(([o]) => (o as { metadata: { name: string } }).metadata.name);
  expect(stored.filter((n: string) => refused.includes(n))).toEqual([]);
});

test('the sample becomes Ready and serves widgets through kube-apiserver', async () => {
  await k(['apply', '-f', path.join(root, 'config/samples/aggregatedapi.yaml')]);
  await waitReady('widgets');
  const c = await conditions('widgets');
  expect(c.Available).toMatchObject({ status: 'True', reason: 'APIServicesAvailable' });
  expect(c.CertificatesReady.status).toBe('True');
  expect(c.Degraded.status).toBe('False');
  const api = await json(['get', 'aggregatedapi', 'widgets']);
  expect(api.metadata.finalizers).toContain('aggregation.example.com/cleanup-apiservices');
  // The sample runs 2 replicas on a managed etcd of 3 members: Ready once one replica and a quorum are.
  expect(api.status).toMatchObject({ observedGeneration: api.metadata.generation, replicas: 2 });
  expect(api.status.readyReplicas).toBeGreaterThanOrEqual(1);
  expect(c.StorageReady.status).toBe('True');
  expect(api.status.storage).toMatchObject({ type: 'ManagedEtcd', durable: true });
  expect(api.status.apiServices).toEqual([
    expect.objectContaining({ name: 'v1.custom.example.com', available: 'True' }),
  ]);
  const table = await k(['get', 'aggregatedapis']);
  expect(table).toMatch(/NAME\s+GROUP\s+VERSIONS\s+READY\s+AVAILABLE REPLICAS\s+CERT EXPIRY\s+AGE/);
  expect(table).toMatch(/widgets\s+custom.example.com\s+v1\s+True\s+[12]\s/);
  await k(['apply', '-f', path.join(root, 'config/samples/widget.yaml'), '-n', 'default']);
  expect(await k(['get', 'widget', 'sample', '-n', 'default', '-o', 'jsonpath={.spec.color}'])).toBe('green');
  await k(['scale', 'widget', 'sample', '-n', 'default', '--replicas=3']);
  expect(await k(['get', 'widget', 'sample', '-n', 'default', '-o', 'jsonpath={.spec.replicas}'])).toBe('3');
  // The owned objects, with their security settings.
  const dep = await json(['-n', 'widgets-system', 'get', 'deployment', 'widgets-apiserver']);
  const container = dep.spec.template.spec.containers[0];
  expect(container.args).toEqual(
    expect.arrayContaining(['--api-group=custom.example.com', '--delegate-auth=true']),
  );
  expect(container.securityContext).toMatchObject({
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
  });
  expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', scheme: 'HTTPS' });
  const sans = (
    await k(['-n', 'widgets-system', 'get', 'secret', 'widgets-serving-cert', '-o', 'jsonpath={.type}'])
  ).trim();
  expect(sans).toBe('kubernetes.io/tls');
  await k(['delete', 'widget', 'sample', '-n', 'default']);
});

test('drift on every owned kind is repaired', async () => {
  const ns = 'widgets-system';
  const uidOf = async (args: string[]) => (await k([...args, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const owned: string[][] = [
    ['-n', ns, 'deployment', 'widgets-apiserver'],
    ['-n', ns, 'service', 'widgets-apiserver'],
    ['-n', ns, 'serviceaccount', 'widgets-apiserver'],
    ['-n', ns, 'poddisruptionbudget', 'widgets-apiserver'],
    ['-n', ns, 'secret', 'widgets-serving-cert'],
    // A lost CA: a new one is created while the published bundle keeps trusting the old until the
    // replica serves a certificate from the new one.
    ['-n', ns, 'secret', 'widgets-ca'],
    ['clusterrolebinding', 'aggregatedapi:widgets:auth-delegator'],
    ['-n', 'kube-system', 'rolebinding', 'aggregatedapi:widgets:auth-reader'],
    ['apiservice', 'v1.custom.example.com'],
  ];
  for (const ref of owned) {
    const kindArgs = ref.slice(0, -2).concat(['get', ...ref.slice(-2)]);
    const before = await uidOf(kindArgs);
    await k([...ref.slice(0, -2), 'delete', ...ref.slice(-2), '--wait=true']);
    await eventually(
      `${ref.join(' ')} recreated`,
      async () => {
        const after = await uidOf(kindArgs).catch(() => '');
        return after !== '' && after !== before;
      },
      60_000,
    );
  }
  // A serving certificate the published bundle does not verify is replaced.
  const stranger = createCA({ commonName: 'stranger', validityMs: 3_600_000 });
  const forged = issueServingCert(stranger, {
    commonName: 'widgets-apiserver.widgets-system.svc',
    dnsNames: ['widgets-apiserver.widgets-system.svc'],
    ipAddresses: [],
    validityMs: 3_600_000,
  });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  await k([
    '-n',
    ns,
    'patch',
    'secret',
    'widgets-serving-cert',
    '--type=merge',
    '-p',
    JSON.stringify({ data: { 'tls.crt': b64(forged.certPem), 'tls.key': b64(forged.keyPem) } }),
  ]);
  await eventually(
    'the forged serving certificate replaced by one the published bundle verifies',
    async () => {
      const secret = await json(['-n', ns, 'get', 'secret', 'widgets-serving-cert']);
      const bundle = (await json(['get', 'apiservice', 'v1.custom.example.com'])).spec.caBundle;
      const cert = Buffer.from(secret.data['tls.crt'], 'base64').toString();
      return verifyCertSignedBy(cert, Buffer.from(bundle, 'base64').toString());
    },
    60_000,
  );
  // Edits are reverted too.
  await k([
    'patch',
    'apiservice',
    'v1.custom.example.com',
    '--type=merge',
    '-p',
    '{"spec":{"caBundle":null,"insecureSkipTLSVerify":true}}',
  ]);
  await k([
    '-n',
    ns,
    'patch',
    'service',
    'widgets-apiserver',
    '--type=json',
    '-p',
    '[{"op":"replace","path":"/spec/ports/0/targetPort","value":9999}]',
  ]);
  await eventually(
    'APIService and Service edits reverted',
    async () => {
      const s = await json(['get', 'apiservice', 'v1.custom.example.com']);
      const svc = await json(['-n', ns, 'get', 'service', 'widgets-apiserver']);
      return !!s.spec.caBundle && !s.spec.insecureSkipTLSVerify && svc.spec.ports[0].targetPort === 'https';
    },
    60_000,
  );
  await waitReady('widgets');
  expect(await k(['get', 'widgets.custom.example.com', '-A', '-o', 'name'])).toBeDefined();
});

test('what the operator cannot fix is reported as Degraded with a reason, and nothing foreign is touched', async () => {
  await applyObjects(aggregatedApi('homeless', 'homeless.example.com', `missing-${suffix}`));
  await eventually(
    'Degraded NamespaceNotFound',
    async () => {
      const c = await conditions('homeless');
      return (
        c.Degraded?.status === 'True' &&
        c.Degraded.reason === 'NamespaceNotFound' &&
        c.Ready.status === 'False'
      );
    },
    60_000,
  );
  // An APIService registered by someone else is never taken over.
  const foreign = {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: 'v1.taken.example.com' },
    spec: {
      group: 'taken.example.com',
      version: 'v1',
      groupPriorityMinimum: 100,
      versionPriority: 10,
      service: { namespace: 'default', name: 'someone-else', port: 443 },
      insecureSkipTLSVerify: true,
    },
  };
  await applyObjects(foreign);
  await applyObjects(aggregatedApi('taker', 'taken.example.com', 'default'));
  try {
    await eventually(
      'Degraded APIServiceConflict',
      async () => {
        const c = await conditions('taker');
        return c.Degraded?.status === 'True' && c.Degraded.reason === 'APIServiceConflict';
      },
      60_000,
    );
    const after = await json(['get', 'apiservice', 'v1.taken.example.com']);
    expect(after.spec.service.name).toBe('someone-else');
    expect(after.metadata.ownerReferences).toBeUndefined();
  } finally {
    await k(['delete', 'aggregatedapi', 'taker', 'homeless', '--timeout=60s']);
    await k(['delete', 'apiservice', 'v1.taken.example.com']);
  }
});

test('etcd storage over client TLS from a Secret', async () => {
  const name = `tls-${suffix}`;
  const group = 'tls.example.com';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'etcd-tls-'));
  const ca = createCA({ commonName: 'etcd-ca', validityMs: 3_600_000 });
  const server = issueServingCert(ca, {
    commonName: 'etcd',
    dnsNames: ['etcd'],
    ipAddresses: [NODE_IP],
    validityMs: 3_600_000,
  });
  const client = issueClientCert(ca, {
    commonName: 'widget-server',
    organizations: [],
    validityMs: 3_600_000,
  });
  const file = (n: string, text: string) => {
    writeFileSync(path.join(dir, n), text);
    return path.join(dir, n);
  };
  const tlsEtcd = await startEtcd({
    host: NODE_IP,
    tls: {
      caFile: file('ca.crt', ca.certPem),
      certFile: file('server.crt', server.certPem),
      keyFile: file('server.key', server.keyPem),
      clientCertFile: file('client.crt', client.certPem),
      clientKeyFile: file('client.key', client.keyPem),
    },
  });
  try {
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    await applyObjects(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'etcd-client', namespace: name },
        data: { 'ca.crt': b64(ca.certPem), 'tls.crt': b64(client.certPem), 'tls.key': b64(client.keyPem) },
      },
      aggregatedApi(name, group, name, {
        storage: {
          etcd: { endpoints: [tlsEtcd.endpoint], prefix: '/tls-test', tlsSecretName: 'etcd-client' },
        },
      }),
    );
    await waitReady(name);
    await k(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: `${group}/v1`,
        kind: 'Widget',
        metadata: { name: 'stored', namespace: 'default' },
        spec: { image: 'nginx:1' },
      }),
    );
    // The Widget is in that etcd, under the prefix, read with the client certificate.
    const etcd3 = new Etcd3({
      hosts: tlsEtcd.endpoint,
      credentials: {
        rootCertificate: Buffer.from(ca.certPem),
        certChain: Buffer.from(client.certPem),
        privateKey: Buffer.from(client.keyPem),
      },
    });
    try {
      const keys = await etcd3.getAll().prefix('/tls-test').keys();
      expect(keys.some((key) => key.includes('stored'))).toBe(true);
    } finally {
      etcd3.close();
    }
  } finally {
    await k(['delete', 'aggregatedapi', name, '--timeout=60s']).catch(() => undefined);
    await k(['delete', 'namespace', name, '--wait=false']).catch(() => undefined);
    await tlsEtcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('certificates rotate under continuous load without a failed request; a leader killed mid-rotation hands over', async () => {
  const name = ROTOR;
  const group = ROTOR_GROUP;
  await waitReady(name);
  await eventually(
    'both replicas ready',
    async () => (await json(['get', 'aggregatedapi', name])).status.readyReplicas === 2,
  );
  const rest = new KubeRest(kubeconfigFromFile(kubeconfigPath));
  const base = `/apis/${group}/v1/namespaces/default/widgets`;
  const counts = { ok: 0, failed: 0 };
  const failures: string[] = [];
  let running = true;
  // Each worker reads discovery, writes and reads its own Widget, and lists. Widgets are created once,
  // with no replicas: the Widget controller turns every Widget into a Deployment, and creating and
  // deleting thousands would load the bed's controllers instead of the API under rotation.
  for (const worker of [0, 1, 2, 3]) {
    await rest.request('POST', base, {
      body: {
        apiVersion: `${group}/v1`,
        kind: 'Widget',
        metadata: { name: `load-${worker}` },
        spec: { image: 'nginx:1', replicas: 0 },
      },
    });
  }
  const load = async (worker: number) => {
    let i = 0;
    while (running) {
      const widget = `load-${worker}`;
      const round = i++;
      for (const call of [
        () => rest.request('GET', `/apis/${group}/v1`),
        () =>
          rest.request('PATCH', `${base}/${widget}`, {
            body: { metadata: { labels: { round: String(round) } } },
            contentType: 'application/merge-patch+json',
          }),
        () => rest.request('GET', `${base}/${widget}`),
        () => rest.request('GET', base, { query: { limit: '10' } }),
      ]) {
        try {
          await call();
          counts.ok++;
        } catch (e) {
          counts.failed++;
          if (failures.length < 20) failures.push(`${new Date().toISOString()} ${String(e)}`);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const workers = [0, 1, 2, 3].map(load);
  let killedLeader: string | undefined;
  let newLeader: string | undefined;
  try {
    await eventually(
      'three serving renewals, a CA rotation with the previous CA retired, and a leader handover',
      async () => {
        const reasons = (await events(name)).map((e) => e.reason);
        if (!killedLeader && reasons.includes('CARotationStarted')) {
          killedLeader = await leader();
          await killOperatorProcess(killedLeader);
        }
        if (killedLeader && !newLeader) {
          const now = await leader();
          if (now && now !== killedLeader) newLeader = now;
        }
        return (
          reasons.filter((r) => r === 'ServingCertificateRenewed').length >= 3 &&
          reasons.includes('CAPromoted') &&
          reasons.includes('PreviousCARetired') &&
          newLeader !== undefined
        );
      },
      8 * 60_000,
    );
  } finally {
    running = false;
    await Promise.all(workers);
  }
  const all = await events(name);
  const reasons = all.map((e) => e.reason);
  // The killed leader could not finish the CA rotation: its successor did.
  const promotedBy = all.find((e) => e.reason === 'CAPromoted')?.reportingInstance;
  expect(promotedBy).toBeDefined();
  expect(promotedBy).not.toBe(killedLeader);
  process.stderr.write(
    `rotation under load: ${counts.ok} requests succeeded, ${counts.failed} failed; ` +
      `${reasons.filter((r) => r === 'ServingCertificateRenewed').length} serving renewals, ` +
      `${reasons.filter((r) => r === 'CAPromoted').length} CA rotation(s); leader ${killedLeader} -> ${newLeader}\n`,
  );
  expect(failures).toEqual([]);
  expect(counts.failed).toBe(0);
  expect(counts.ok).toBeGreaterThan(500);
  expect(rotorServingExpiries.size).toBeGreaterThanOrEqual(3);
  const api = await json(['get', 'aggregatedapi', name]);
  const bundle = Buffer.from(
    (await json(['get', 'apiservice', `v1.${group}`])).spec.caBundle,
    'base64',
  ).toString();
  expect(bundle.match(/BEGIN CERTIFICATE/g)?.length).toBe(1); // previous CA retired
  expect(api.status.conditions.find((c: Condition) => c.type === 'Ready').status).toBe('True');
});

test('two AggregatedAPIs for different groups run side by side', async () => {
  await waitReady('widgets');
  await waitReady(ROTOR);
  const groups = JSON.parse(await k(['get', '--raw', '/apis'])).groups.map((g: { name: string }) => g.name);
  expect(groups).toEqual(expect.arrayContaining(['custom.example.com', 'rotation.example.com']));
  expect(await k(['api-resources', '--api-group=rotation.example.com', '-o', 'name'])).toContain(
    'widgets.rotation.example.com',
  );
  // Both listed (the bed may hold others: an earlier run's, or another suite's).
  const names = (await k(['get', 'aggregatedapis', '--no-headers']))
    .trim()
    .split('\n')
    .map((row) => row.split(/\s+/)[0]);
  expect(names).toEqual(expect.arrayContaining(['widgets', ROTOR]));
});

test('deleting an AggregatedAPI removes its APIServices first, then everything it owns; namespaces still delete', async () => {
  const start = Date.now();
  await k(['delete', 'aggregatedapi', 'widgets', '--wait=false']);
  let apiServiceGoneAt = 0;
  let parentGoneAt = 0;
  await eventually(
    'the AggregatedAPI and its APIService gone',
    async () => {
      const [svc, parent] = await Promise.all([
        k(['get', 'apiservice', 'v1.custom.example.com', '--ignore-not-found', '-o', 'name']),
        k(['get', 'aggregatedapi', 'widgets', '--ignore-not-found', '-o', 'name']),
      ]);
      if (!svc.trim() && !apiServiceGoneAt) apiServiceGoneAt = Date.now();
      if (!parent.trim() && !parentGoneAt) parentGoneAt = Date.now();
      return apiServiceGoneAt && parentGoneAt;
    },
    60_000,
  );
  expect(apiServiceGoneAt).toBeLessThanOrEqual(parentGoneAt);
  await eventually(
    'owned objects garbage-collected',
    async () => {
      const left = await k([
        'get',
        'deployment,service,secret,serviceaccount,poddisruptionbudget',
        '-n',
        'widgets-system',
        '-l',
        'aggregation.example.com/aggregatedapi=widgets',
        '-o',
        'name',
      ]);
      const rbac = await k([
        'get',
        'clusterrolebinding',
        'aggregatedapi:widgets:auth-delegator',
        '--ignore-not-found',
        '-o',
        'name',
      ]);
      return !left.trim() && !rbac.trim();
    },
    120_000,
  );
  await deleteSampleClaims();
  const other = `after-${suffix}`;
  await k(['create', 'namespace', other]);
  await k(['delete', 'namespace', other, '--timeout=90s']);
  process.stderr.write(
    `deletion: APIService gone after ${apiServiceGoneAt - start} ms, AggregatedAPI after ${parentGoneAt - start} ms\n`,
  );
});
