/**
 * Sets up and tears down the benchmark targets on the local bed (bench-contract.md): the Widget server as
 * a host process on the bed's etcd (direct, and behind kube-apiserver through a selector-less Service,
 * an EndpointSlice and an APIService), the same Widget as a CRD whose schema is derived from the server's
 * OpenAPI (crd.ts), and a second Widget server on its embedded store. Everything created is recorded so
 * teardown removes exactly that, even after a failed setup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { createCA, issueServingCert } from '../src/shared/pki';
import { clusterDir, k, kubeconfigPath, root } from './kube';
import { widgetCrd } from './crd';
import { WIDGET_SERVER_NODE_FLAGS } from '../src/operator/reconcile/desired';

export const BED_HOST = '172.30.255.1';
export const ETCD_URL = 'http://127.0.0.1:23790';
export const WIDGET_GROUP = 'bench.example.com';
export const WIDGET_ETCD_PREFIX = `/registry/${WIDGET_GROUP}`;
export const CRD_GROUP = 'crd.bench.example.com';
export const APISERVICE = `v1.${WIDGET_GROUP}`;
const HOUR = 3600_000;

export type TargetName = 'widget-direct' | 'widget-aggregated' | 'crd' | 'etcd' | 'widget-embedded';

/** How the load generator reaches a target, and which processes serve it. */
export interface Target {
  name: TargetName;
  group: string;
  namespace: string;
  /** Load generator connection flags (-kubeconfig, or -server/-ca/-cert/-key). */
  connection: string[];
  /** The Widget server process serving this target, when there is one. */
  serverPid?: number;
}

export interface WidgetProcess {
  label: string;
  child: ChildProcess;
  pid: number;
  url: string;
  logFile: string;
}

export interface Bed {
  suffix: string;
  workDir: string;
  profileDir?: string;
  caFile: string;
  adminCert: string;
  adminKey: string;
  kubeApiserverPid: number;
  etcdServer?: WidgetProcess;
  embeddedServer?: WidgetProcess;
  systemNamespace: string;
  namespaces: string[];
  apiServiceCreated: boolean;
  crdCreated: boolean;
  targets: Target[];
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** GET `url` with the bench CA and the admin client certificate; resolves to the status code. */
function probe(url: string, bed: Bed): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(
      url,
      {
        ca: readFileSync(bed.caFile),
        cert: readFileSync(bed.adminCert),
        key: readFileSync(bed.adminKey),
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

async function startWidgetProcess(
  bed: Bed,
  label: string,
  storageFlags: string[],
  cert: { certFile: string; keyFile: string },
): Promise<WidgetProcess> {
  const port = await freePort(BED_HOST);
  const logFile = path.join(bed.workDir, `${label}.log`);
  const log = createWriteStream(logFile);
  const args = [
    // The flags the operator's Deployment runs it with.
    ...WIDGET_SERVER_NODE_FLAGS,
    ...(bed.profileDir
      ? ['--cpu-prof', `--cpu-prof-dir=${bed.profileDir}`, `--cpu-prof-name=${label}.cpuprofile`]
      : []),
    path.join(root, 'dist/widget-server/main.js'),
    `--api-group=${WIDGET_GROUP}`,
    `--bind-address=${BED_HOST}`,
    `--secure-port=${port}`,
    `--tls-cert-file=${cert.certFile}`,
    `--tls-private-key-file=${cert.keyFile}`,
    // Delegated auth to the bed; its cluster CA verifies the admin client certificate directly.
    `--authentication-kubeconfig=${path.join(clusterDir, 'admin.kubeconfig')}`,
    `--client-ca-file=${path.join(clusterDir, 'pki/ca.crt')}`,
    // Teardown only: kube-apiserver's idle proxy connections would hold the default 30 s grace.
    '--shutdown-grace-seconds=2',
    ...storageFlags,
  ];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const proc: WidgetProcess = { label, child, pid: child.pid!, url: `https://${BED_HOST}:${port}`, logFile };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${label} exited with ${child.exitCode}; log: ${logFile}`);
    }
    if ((await probe(`${proc.url}/readyz`, bed)) === 200) return proc;
    if (Date.now() > deadline) throw new Error(`${label} not ready within 60 s; log: ${logFile}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopWidgetProcess(p: WidgetProcess | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The bed's etcd v3 JSON gateway: delete every key under `prefix`. */
export async function etcdDeletePrefix(prefix: string): Promise<void> {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
  const end = Buffer.from(prefix);
  end[end.length - 1] += 1;
  const res = await fetch(`${ETCD_URL}/v3/kv/deleterange`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(prefix), range_end: b64(end) }),
  });
  if (!res.ok) throw new Error(`etcd deleterange ${prefix}: ${res.status} ${await res.text()}`);
}

export async function etcdVersion(): Promise<string | undefined> {
  try {
    const res = await fetch(`${ETCD_URL}/version`);
    return ((await res.json()) as { etcdserver?: string }).etcdserver;
  } catch {
    return undefined;
  }
}

/** Sets up every target. On failure the partial bed is returned through `onPartial` for teardown. */
/**
 * `profileDir`: the Widget server processes write V8 CPU profiles there when they stop (`--profile`),
 * for `node --cpu-prof`-style analysis of exactly the load the bench applied.
 */
export async function setUpBed(
  workDir: string,
  onPartial: (bed: Bed) => void,
  profileDir?: string,
): Promise<Bed> {
  const suffix = randomBytes(3).toString('hex');
  mkdirSync(workDir, { recursive: true });
  const ca = createCA({ commonName: `bench-ca-${suffix}`, validityMs: 24 * HOUR });
  const systemNamespace = `bench-system-${suffix}`;
  const serving = issueServingCert(ca, {
    commonName: `bench-widget.${systemNamespace}.svc`,
    dnsNames: [`bench-widget.${systemNamespace}.svc`, `bench-widget.${systemNamespace}.svc.cluster.local`],
    ipAddresses: [BED_HOST],
    validityMs: 24 * HOUR,
  });
  const file = (name: string, text: string) => {
    const p = path.join(workDir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const caFile = file('ca.crt', ca.certPem);
  const cert = {
    certFile: file('serving.crt', serving.certPem),
    keyFile: file('serving.key', serving.keyPem),
  };
  const bed: Bed = {
    suffix,
    workDir,
    profileDir,
    caFile,
    adminCert: path.join(clusterDir, 'pki/admin.crt'),
    adminKey: path.join(clusterDir, 'pki/admin.key'),
    kubeApiserverPid: Number(readFileSync(path.join(clusterDir, 'run/kube-apiserver.pid'), 'utf8').trim()),
    systemNamespace,
    namespaces: [],
    apiServiceCreated: false,
    crdCreated: false,
    targets: [],
  };
  onPartial(bed);
  const ns = (t: string) => `bench-${suffix}-${t}`;
  bed.namespaces = [systemNamespace, ns('direct'), ns('aggregated'), ns('crd'), ns('embedded')];
  await k(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: bed.namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    }),
  );

  // Leftovers of an interrupted run under the Widget server's prefix would skew lists and RSS.
  await etcdDeletePrefix(WIDGET_ETCD_PREFIX + '/');
  bed.etcdServer = await startWidgetProcess(
    bed,
    'widget-server-etcd',
    // kube-apiserver compacts the shared etcd already.
    [
      `--etcd-servers=${ETCD_URL}`,
      `--etcd-prefix=${WIDGET_ETCD_PREFIX}`,
      '--etcd-compaction-interval-seconds=0',
    ],
    cert,
  );
  bed.embeddedServer = await startWidgetProcess(bed, 'widget-server-embedded', [], cert);

  const port = Number(new URL(bed.etcdServer.url).port);
  bed.apiServiceCreated = true;
  await k(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'bench-widget', namespace: systemNamespace },
          spec: { ports: [{ name: 'https', port: 443, targetPort: port }] },
        },
        {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            name: 'bench-widget-1',
            namespace: systemNamespace,
            labels: { 'kubernetes.io/service-name': 'bench-widget' },
          },
          addressType: 'IPv4',
          ports: [{ name: 'https', port, protocol: 'TCP' }],
          endpoints: [{ addresses: [BED_HOST], conditions: { ready: true } }],
        },
        {
          apiVersion: 'apiregistration.k8s.io/v1',
          kind: 'APIService',
          metadata: { name: APISERVICE },
          spec: {
            group: WIDGET_GROUP,
            version: 'v1',
            groupPriorityMinimum: 1000,
            versionPriority: 15,
            service: { namespace: systemNamespace, name: 'bench-widget', port: 443 },
            caBundle: Buffer.from(ca.certPem).toString('base64'),
          },
        },
      ],
    }),
  );
  bed.crdCreated = true;
  await k(['apply', '-f', '-'], JSON.stringify(widgetCrd(CRD_GROUP)));
  await k(['wait', '--for=condition=Established', `crd/widgets.${CRD_GROUP}`, '--timeout=60s']);
  await k(['wait', '--for=condition=Available', `apiservice/${APISERVICE}`, '--timeout=120s']);

  const direct = ['-server', bed.etcdServer.url, '-ca', caFile, '-cert', bed.adminCert, '-key', bed.adminKey];
  const viaKube = ['-kubeconfig', kubeconfigPath];
  bed.targets = [
    {
      name: 'widget-direct',
      group: WIDGET_GROUP,
      namespace: ns('direct'),
      connection: direct,
      serverPid: bed.etcdServer.pid,
    },
    {
      name: 'widget-aggregated',
      group: WIDGET_GROUP,
      namespace: ns('aggregated'),
      connection: viaKube,
      serverPid: bed.etcdServer.pid,
    },
    { name: 'crd', group: CRD_GROUP, namespace: ns('crd'), connection: viaKube },
    { name: 'etcd', group: '', namespace: `/bench-etcd-${suffix}/`, connection: [] },
    {
      name: 'widget-embedded',
      group: WIDGET_GROUP,
      namespace: ns('embedded'),
      connection: [
        '-server',
        bed.embeddedServer.url,
        '-ca',
        caFile,
        '-cert',
        bed.adminCert,
        '-key',
        bed.adminKey,
      ],
      serverPid: bed.embeddedServer.pid,
    },
  ];
  return bed;
}

/** Removes everything setUpBed made; each step is attempted even when an earlier one fails. */
export async function tearDownBed(bed: Bed, log: (line: string) => void): Promise<void> {
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      log(`teardown: ${what} failed: ${(e as Error).message.split('\n')[0]}`);
    }
  };
  // An unavailable APIService blocks namespace deletion cluster-wide: it goes first.
  if (bed.apiServiceCreated) {
    await step('APIService', () => k(['delete', 'apiservice', APISERVICE, '--ignore-not-found']));
  }
  if (bed.crdCreated) {
    // The CRD's objects go straight from etcd first (kube-apiserver's watch cache follows the deletes):
    // deleting the CRD would otherwise have its finalizer delete up to 100k objects one by one, loading
    // the bed for minutes after the run.
    await step('CRD objects', () => etcdDeletePrefix(`/registry/${CRD_GROUP}/`));
    await step('CRD', () =>
      k(['delete', 'crd', `widgets.${CRD_GROUP}`, '--ignore-not-found', '--wait=false']),
    );
  }
  if (bed.namespaces.length) {
    await step('namespaces', () =>
      k(['delete', 'namespace', ...bed.namespaces, '--ignore-not-found', '--wait=false']),
    );
  }
  await step('Widget server (etcd)', () => stopWidgetProcess(bed.etcdServer));
  await step('Widget server (embedded)', () => stopWidgetProcess(bed.embeddedServer));
  await step('etcd keys', async () => {
    await etcdDeletePrefix(WIDGET_ETCD_PREFIX + '/');
    await etcdDeletePrefix(`/bench-etcd-${bed.suffix}/`);
  });
}
