/**
 * Servers nobody here wrote, run by the operator from the samples in config/samples/ (issue 14):
 * Kubernetes' sample-apiserver on etcd, through the steps of Kubernetes' aggregator conformance test
 * (test/e2e/apimachinery/aggregator.go) with other actors writing the APIService the operator owns;
 * metrics-server, with `kubectl top`; and the admission policy that keeps spec.rbac from granting more
 * than its author may. Images are the bed's (test/cluster/image.sh builds them from their modules).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startEtcd, type EtcdProcess } from '../support/etcd';
import { ensureClusterUp, eventually, forgetCachedDiscovery, installSampleWidgetsApi, k } from './cluster';

jest.setTimeout(15 * 60 * 1000);

const root = path.resolve(__dirname, '../..');
const NODE_IP = process.env.CLUSTER_NODE_IP ?? '172.30.255.1';
const suffix = randomBytes(3).toString('hex');
const json = async (args: string[]) => JSON.parse(await k([...args, '-o', 'json']));
const log = (line: string) => process.stdout.write(`[foreign-servers] ${line}\n`);

interface Doc {
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown> & { namespace?: string };
}

/** A sample's AggregatedAPI with this run's namespace (the samples' namespaces may be in use). */
function sample(file: string, namespace: string, change: (spec: Doc['spec']) => void = () => {}): Doc {
  const docs = parseAllDocuments(readFileSync(path.join(root, 'config/samples', file), 'utf8')).map(
    (d) => d.toJS() as Doc,
  );
  const api = docs.find((d) => d.kind === 'AggregatedAPI')!;
  api.spec.namespace = namespace;
  change(api.spec);
  return api;
}

async function applyAndWaitReady(api: Doc, timeout = '300s'): Promise<number> {
  const started = Date.now();
  await k(['apply', '-f', '-'], JSON.stringify(api));
  await k(['wait', '--for=condition=Ready', `aggregatedapi/${api.metadata.name}`, `--timeout=${timeout}`]);
  return (Date.now() - started) / 1000;
}

let etcd: EtcdProcess;
const wardleNs = `wardle-${suffix}`;
const metricsNs = `metrics-${suffix}`;
const hpaNs = `hpa-${suffix}`;
const flunders = '/apis/wardle.example.com/v1alpha1/namespaces/default/flunders';
const APISERVICE = 'v1alpha1.wardle.example.com';

beforeAll(async () => {
  ensureClusterUp();
  // The operator, and the Widget API whose Widget the HPA scales.
  await installSampleWidgetsApi();
  etcd = await startEtcd({ host: NODE_IP });
  for (const ns of [wardleNs, metricsNs]) await k(['create', 'namespace', ns]);
});

afterAll(async () => {
  // The AggregatedAPIs first: their finalizer removes the APIServices before anything they route to.
  await k([
    'delete',
    'aggregatedapi',
    'wardle',
    'metrics-server',
    '--ignore-not-found',
    '--timeout=120s',
  ]).catch(() => undefined);
  for (const ns of [wardleNs, metricsNs, hpaNs])
    await k(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  await k([
    'delete',
    'clusterrolebinding,clusterrole',
    `aggregatedapi-writer-${suffix}`,
    '--ignore-not-found',
  ]).catch(() => undefined);
  await etcd?.stop();
});

test('sample-apiserver on etcd passes the aggregator conformance steps; the operator repairs only what it owns', async () => {
  const api = sample('sample-apiserver.yaml', wardleNs, (spec) => {
    (spec.storage as { etcd: { endpoints: string[] } }).etcd.endpoints = [etcd.endpoint];
  });
  const seconds = await applyAndWaitReady(api);
  log(`sample-apiserver Ready ${seconds.toFixed(1)} s after apply`);
  const deployment = await json(['-n', wardleNs, 'get', 'deployment', 'wardle-apiserver']);
  const container = deployment.spec.template.spec.containers[0];
  expect(container.command).toBeUndefined();
  // Only the standard flags: sample-apiserver refuses unknown ones at start.
  expect(container.args.every((a: string) => /^--(bind-address|secure-port|tls-|etcd-)/.test(a))).toBe(true);

  // 5-6: create, list, delete a flunder through kube-apiserver.
  const flunder = {
    apiVersion: 'wardle.example.com/v1alpha1',
    kind: 'Flunder',
    metadata: { name: `rest-flunder-${suffix}` },
  };
  await eventually('flunders to be served', () => k(['get', '--raw', flunders]).then(() => true), 60_000);
  const created = JSON.parse(await k(['create', '--raw', flunders, '-f', '-'], JSON.stringify(flunder)));
  expect(created).toMatchObject({
    apiVersion: flunder.apiVersion,
    kind: 'Flunder',
    metadata: flunder.metadata,
  });
  expect(JSON.parse(await k(['get', '--raw', flunders])).items).toHaveLength(1);
  await k(['delete', '--raw', `${flunders}/${flunder.metadata.name}`]);
  expect(JSON.parse(await k(['get', '--raw', flunders])).items).toHaveLength(0);

  // 7: flunders among the preferred namespaced resources; kubectl (a dynamic client) creates one.
  forgetCachedDiscovery();
  const resources = await k([
    'api-resources',
    '--namespaced=true',
    '--api-group=wardle.example.com',
    '-o',
    'name',
  ]);
  expect(resources.split('\n')).toContain('flunders.wardle.example.com');
  await k(
    ['-n', 'default', 'create', '-f', '-'],
    JSON.stringify({ ...flunder, metadata: { name: 'dynamic-flunder' } }),
  );
  expect((await json(['-n', 'default', 'get', 'flunders'])).items).toHaveLength(1);

  // 8: the aggregator's availability check.
  const status = await json(['get', 'apiservice', APISERVICE]);
  expect(status.status.conditions[0]).toMatchObject({
    type: 'Available',
    status: 'True',
    message: 'all checks passed',
  });

  // 9: another actor patches versionPriority; the patch answers 400, and the operator, which owns the
  // field, puts the spec's value back once and then leaves the object alone.
  const patched = await json([
    'patch',
    'apiservice',
    APISERVICE,
    '--type=merge',
    '-p',
    '{"spec":{"versionPriority":400}}',
  ]);
  expect(patched.spec.versionPriority).toBe(400);
  await eventually(
    'the operator to restore versionPriority',
    async () => (await json(['get', 'apiservice', APISERVICE])).spec.versionPriority === 200,
    60_000,
  );
  const settled = (await json(['get', 'apiservice', APISERVICE])).metadata.resourceVersion;
  await new Promise((r) => setTimeout(r, 5000));
  expect((await json(['get', 'apiservice', APISERVICE])).metadata.resourceVersion).toBe(settled);

  // 10: a label and a status condition of another actor's are theirs: they stay.
  await k([
    'patch',
    'apiservice',
    APISERVICE,
    '--type=strategic',
    '-p',
    '{"metadata":{"labels":{"e2e-apiservice":"patched"}}}',
  ]);
  const withCondition = await json(['get', 'apiservice', APISERVICE]);
  withCondition.status.conditions.push({
    type: 'StatusUpdated',
    status: 'True',
    reason: 'E2E',
    message: 'Set from e2e test',
    lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  });
  await k(['replace', '--subresource=status', '-f', '-'], JSON.stringify(withCondition));
  // A PUT replacing every label: the operator puts back its own (it finds the owner by its reference).
  const replaced = await json(['get', 'apiservice', APISERVICE]);
  replaced.metadata.labels = { 'e2e-apiservice': 'updated' };
  await k(['replace', '-f', '-'], JSON.stringify(replaced));
  const repaired = await eventually(
    "the operator to put its labels back beside the other actor's",
    async () => {
      const s = await json(['get', 'apiservice', APISERVICE]);
      return s.metadata.labels?.['aggregation.example.com/aggregatedapi'] === 'wardle' && s;
    },
    60_000,
  );
  expect(repaired.metadata.labels['e2e-apiservice']).toBe('updated');
  expect(repaired.status.conditions.map((c: { type: string }) => c.type)).toContain('StatusUpdated');

  // 11: deleted by another actor, the APIService is recreated and available again.
  const uid = repaired.metadata.uid;
  await k(['delete', 'apiservice', APISERVICE]);
  await eventually(
    'the operator to recreate the deleted APIService',
    async () => {
      const s = await json(['get', 'apiservice', APISERVICE]).catch(() => undefined);
      return s && s.metadata.uid !== uid && s.status?.conditions?.[0]?.status === 'True';
    },
    120_000,
  );
  await eventually(
    'flunders to be served again',
    async () => (await json(['-n', 'default', 'get', 'flunders'])).items.length === 1,
    60_000,
  );

  // 12: a merge patch of /status adds a condition that stays (a merge patch replaces the whole list).
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const conditions = [
    ...(await json(['get', 'apiservice', APISERVICE])).status.conditions,
    {
      type: 'StatusPatched',
      status: 'True',
      reason: 'E2E',
      message: 'Set by e2e test',
      lastTransitionTime: now,
    },
  ];
  await k([
    'patch',
    'apiservice',
    APISERVICE,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { conditions } }),
  ]);
  await new Promise((r) => setTimeout(r, 2000));
  expect(
    (await json(['get', 'apiservice', APISERVICE])).status.conditions.map((c: { type: string }) => c.type),
  ).toEqual(expect.arrayContaining(['Available', 'StatusPatched']));

  // 13: deletecollection by a label only another actor set: gone by that selector; the operator
  // recreates its APIService without the label, so the group stays served.
  await k(['label', 'apiservice', APISERVICE, `e2e-apiservice-${suffix}=collect`]);
  await k(['delete', 'apiservice', '-l', `e2e-apiservice-${suffix}=collect`]);
  await eventually(
    "no APIService to carry the deleted label, and the operator's to be back",
    async () =>
      !(await k(['get', 'apiservice', '-l', `e2e-apiservice-${suffix}=collect`, '-o', 'name'])).trim() &&
      (await json(['get', 'apiservice', APISERVICE])).status?.conditions?.[0]?.status === 'True',
    120_000,
  );
  // Flunders are in etcd, not in the server: the two replicas and the recreated route serve the same.
  expect((await json(['-n', 'default', 'get', 'flunders'])).items.map((f: Doc) => f.metadata.name)).toEqual([
    'dynamic-flunder',
  ]);
});

test('metrics-server as an AggregatedAPI: kubectl top nodes and pods', async () => {
  const api = sample('metrics-server.yaml', metricsNs);
  const seconds = await applyAndWaitReady(api);
  log(`metrics-server Ready ${seconds.toFixed(1)} s after apply`);
  const container = (await json(['-n', metricsNs, 'get', 'deployment', 'metrics-server-apiserver'])).spec
    .template.spec.containers[0];
  expect(container.ports).toEqual([expect.objectContaining({ containerPort: 10250 })]);
  expect(container.args).toContain('--secure-port=10250');
  // spec.rbac.clusterRules as a ClusterRole bound to the server.
  const role = await json(['get', 'clusterrole', 'aggregatedapi:metrics-server:server']);
  expect(role.rules).toEqual(api.spec.rbac && (api.spec.rbac as { clusterRules: unknown[] }).clusterRules);
  const started = Date.now();
  const nodes = await eventually(
    'kubectl top nodes to report',
    async () => {
      const out = await k(['top', 'nodes', '--no-headers']);
      return /^\S+\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%/m.test(out) && out;
    },
    180_000,
  );
  log(`kubectl top nodes (after ${((Date.now() - started) / 1000).toFixed(1)} s):\n${nodes.trim()}`);
  const pods = await eventually(
    'kubectl top pods -A to report the metrics-server pod',
    async () => {
      const out = await k(['top', 'pods', '-A', '--no-headers']);
      return (
        new RegExp(`^${metricsNs}\\s+metrics-server-apiserver-\\S+\\s+\\d+m\\s+\\d+Mi`, 'm').test(out) && out
      );
    },
    180_000,
  );
  log(`kubectl top pods -A: ${pods.trim().split('\n').length} pods`);
  await hpaScalesAWidget();
  // Supervision as users see it: discovery through kube-apiserver answered.
  const status = (await json(['get', 'aggregatedapi', 'metrics-server'])).status;
  expect(status.apiServices).toEqual([
    expect.objectContaining({ name: 'v1beta1.metrics.k8s.io', available: 'True', discovery: 'True' }),
  ]);
  // With no replica the API is unavailable, and the condition says what that blocks cluster-wide.
  await k(['patch', 'aggregatedapi', 'metrics-server', '--type=merge', '-p', '{"spec":{"replicas":0}}']);
  const down = await eventually(
    'Available=False once metrics-server has no replica',
    async () => {
      const conditions = (await json(['get', 'aggregatedapi', 'metrics-server'])).status.conditions ?? [];
      return conditions.find(
        (c: { type: string; status: string }) => c.type === 'Available' && c.status === 'False',
      );
    },
    120_000,
  );
  log(`with no replica: Available=False ${down.reason}: ${down.message}`);
  expect(down.message).toMatch(/deleting any namespace and the garbage collector's work block/);
});

/**
 * A HorizontalPodAutoscaler (autoscaling/v2) on a Widget by CPU utilisation: load on the Widget's pods
 * (the bed's cpu-burner), kube-controller-manager's HPA reads the pods' CPU from metrics-server and
 * scales the Widget through /scale, the Widget controller follows, and it scales back down once the
 * load stops (no stabilization window, so the test sees the decision, not the default 5 minutes).
 */
async function hpaScalesAWidget(): Promise<void> {
  const ns = hpaNs;
  await k(['create', 'namespace', ns]);
  await k(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'custom.example.com/v1',
      kind: 'Widget',
      metadata: { name: 'burner', namespace: ns },
      spec: {
        image: 'localhost/cpu-burner:bed',
        replicas: 1,
        resources: { requests: { cpu: '100m', memory: '16Mi' }, limits: { cpu: '1' } },
      },
    }),
  );
  await k(['-n', ns, 'wait', '--for=condition=Available', 'widget/burner', '--timeout=120s']);
  await k(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'burner', namespace: ns },
      spec: {
        scaleTargetRef: { apiVersion: 'custom.example.com/v1', kind: 'Widget', name: 'burner' },
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
          },
        ],
        behavior: {
          scaleUp: { stabilizationWindowSeconds: 0 },
          scaleDown: {
            stabilizationWindowSeconds: 0,
            policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
          },
        },
      },
    }),
  );
  const podIPs = async () =>
    (
      await k([
        '-n',
        ns,
        'get',
        'pods',
        '-l',
        'app.kubernetes.io/instance=burner',
        '--field-selector=status.phase=Running',
        '-o',
        'jsonpath={.items[*].status.podIP}',
      ])
    )
      .split(/\s+/)
      .filter(Boolean);
  // 300m on a pod that requested 100m: 300% against a 50% target, so the HPA wants its maximum. The
  // burn is bounded (180 s) in case the test dies; it is stopped once the HPA has acted.
  const [loaded, ...others] = await podIPs();
  expect(others).toEqual([]);
  const burner = (path: string) =>
    fetch(`http://${loaded}:8080${path}`).then((r) => expect(r.status).toBe(200));
  const loadStarted = Date.now();
  await burner('/consume?millicores=300&durationSec=180');
  const up = await eventually(
    'the HPA to scale the Widget up and the Widget controller to run it',
    async () => {
      const w = await json(['-n', ns, 'get', 'widget', 'burner']);
      return w.spec.replicas === 3 && w.status?.availableReplicas === 3 && w;
    },
    150_000,
  );
  const upSeconds = (Date.now() - loadStarted) / 1000;
  expect(up.status.phase).toBe('Running');
  const hpa = await json(['-n', ns, 'get', 'hpa', 'burner']);
  expect(hpa.status.conditions).toEqual(
    expect.arrayContaining([expect.objectContaining({ type: 'ScalingActive', status: 'True' })]),
  );
  await burner('/stop');
  const loadStopped = Date.now();
  await eventually(
    'the HPA to scale the Widget back down once the load stopped',
    async () => {
      const w = await json(['-n', ns, 'get', 'widget', 'burner']);
      return w.spec.replicas === 1 && w.status?.availableReplicas === 1;
    },
    300_000,
  );
  const downSeconds = (Date.now() - loadStopped) / 1000;
  expect((await json(['-n', ns, 'get', 'deployment', 'burner'])).spec.replicas).toBe(1);
  log(
    `HPA: scaled 1 -> 3 in ${upSeconds.toFixed(1)} s after the load started, 3 -> 1 in ${downSeconds.toFixed(1)} s after it stopped`,
  );
}

test('spec.rbac is refused to a user who may not escalate and bind clusterroles', async () => {
  const writer = `aggregatedapi-writer-${suffix}`;
  await k([
    'create',
    'clusterrole',
    writer,
    '--verb=get,list,watch,create,update,patch',
    '--resource=aggregatedapis.aggregation.example.com',
  ]);
  await k(['create', 'clusterrolebinding', writer, `--clusterrole=${writer}`, `--user=${writer}`]);
  const attempt = sample('metrics-server.yaml', metricsNs, (spec) => {
    spec.group = `metrics-${suffix}.example.com`;
  });
  attempt.metadata.name = `escalation-${suffix}`;
  const refused = await k(['--as', writer, 'create', '-f', '-'], JSON.stringify(attempt)).then(
    () => '',
    (e: Error) => e.message,
  );
  expect(refused).toMatch(/aggregator-operator-rbac-escalation/);
  expect(refused).toMatch(/must be allowed to escalate and bind clusterroles/);
  // Without spec.rbac the same user may create it (dry run: nothing is made).
  delete attempt.spec.rbac;
  await k(['--as', writer, 'create', '--dry-run=server', '-f', '-'], JSON.stringify(attempt));
});

test('the CRD refuses args without an image, and args with extraArgs', async () => {
  const base = sample('metrics-server.yaml', metricsNs);
  base.metadata.name = `bad-${suffix}`;
  const refuse = async (change: (spec: Doc['spec']) => void) => {
    const bad = structuredClone(base);
    change(bad.spec);
    return k(['create', '--dry-run=server', '-f', '-'], JSON.stringify(bad)).then(
      () => '',
      (e: Error) => e.message,
    );
  };
  expect(
    await refuse((s) => {
      delete s.image;
      delete s.extraArgs;
      s.args = ['--v=2'];
    }),
  ).toMatch(/args replace the arguments of another image/);
  expect(await refuse((s) => (s.args = ['--v=2']))).toMatch(
    /set args \(the whole argument list\) or extraArgs/,
  );
  expect(
    await refuse((s) => (s.rbac = { rules: [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }] })),
  ).toMatch(/nonResourceURLs belong in rbac.clusterRules/);
});
