/**
 * The Widget server behind kube-apiserver's real aggregation layer: a Deployment of the project image with
 * a serving certificate from a Secret, delegated authentication and authorization through the cluster,
 * and an APIService with its caBundle. Then the steps of Kubernetes' aggregator conformance test, kubectl
 * through kube-apiserver, RBAC decided by the cluster, namespace deletion and garbage collection.
 * (The operator takes the manual setup below over later.)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createCA, issueClientCert, issueServingCert } from '../../src/shared/pki';
import { kubectlWatch } from '../support/kubectl';
import { ensureClusterUp, eventually, k, kubeconfigPath, removeSampleWidgetsApi } from './cluster';

/** config/rbac/aggregated_apiserver_role.yaml's rules: a hand-made setup needs what the operator binds. */
const ADMISSION_READER_RULES = (
  parseYaml(
    readFileSync(path.resolve(__dirname, '../../config/rbac/aggregated_apiserver_role.yaml'), 'utf8'),
  ) as { rules: unknown[] }
).rules;

jest.setTimeout(15 * 60 * 1000);

const suffix = randomBytes(3).toString('hex');
const system = `widget-system-${suffix}`;
const ns = `widgets-${suffix}`;
const APISERVICE = 'v1.custom.example.com';
const HOUR = 3600_000;

const widgetJson = (name: string, namespace: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'custom.example.com/v1',
    kind: 'Widget',
    metadata: { name, namespace, labels: { 'sample-label': 'true' }, ...extra },
    spec: { image: 'nginx:1.27', replicas: 1 },
  });

beforeAll(async () => {
  ensureClusterUp();
  // This suite serves custom.example.com itself: the sample another suite left must go first.
  await removeSampleWidgetsApi();
  const ca = createCA({ commonName: 'widget-ca', validityMs: 24 * HOUR });
  const serving = issueServingCert(ca, {
    commonName: `widget-api.${system}.svc`,
    dnsNames: [
      'widget-api',
      `widget-api.${system}`,
      `widget-api.${system}.svc`,
      `widget-api.${system}.svc.cluster.local`,
    ],
    ipAddresses: [],
    validityMs: 24 * HOUR,
  });
  const tlsSecret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: 'widget-api-tls', namespace: system },
    data: {
      'tls.crt': Buffer.from(serving.certPem).toString('base64'),
      'tls.key': Buffer.from(serving.keyPem).toString('base64'),
    },
  };
  const manifests = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: system } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'widget-api', namespace: system } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `widget-api-${suffix}:system:auth-delegator` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'widget-api', namespace: system }],
    },
    // What admission reads (namespaces, admission policies, webhook configurations and their Services;
    // the server's /readyz waits for those informers): the rules the operator's role has.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `widget-api-${suffix}:admission-reader` },
      rules: ADMISSION_READER_RULES,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `widget-api-${suffix}:admission-reader` },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: `widget-api-${suffix}:admission-reader`,
      },
      subjects: [{ kind: 'ServiceAccount', name: 'widget-api', namespace: system }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `widget-api-${suffix}-auth-reader`, namespace: 'kube-system' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: 'extension-apiserver-authentication-reader',
      },
      subjects: [{ kind: 'ServiceAccount', name: 'widget-api', namespace: system }],
    },
    tlsSecret,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'widget-api', namespace: system },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'widget-api' } },
        template: {
          metadata: { labels: { app: 'widget-api' } },
          spec: {
            serviceAccountName: 'widget-api',
            securityContext: { runAsNonRoot: true, runAsUser: 65532 },
            containers: [
              {
                name: 'server',
                image: 'localhost/aggregator-operator:dev',
                imagePullPolicy: 'Never',
                args: [
                  'dist/widget-server/main.js',
                  '--bind-address=0.0.0.0',
                  '--secure-port=8443',
                  '--tls-cert-file=/certs/tls.crt',
                  '--tls-private-key-file=/certs/tls.key',
                ],
                ports: [{ name: 'https', containerPort: 8443 }],
                readinessProbe: {
                  httpGet: { path: '/readyz', port: 8443, scheme: 'HTTPS' },
                  periodSeconds: 2,
                },
                livenessProbe: {
                  httpGet: { path: '/livez', port: 8443, scheme: 'HTTPS' },
                  periodSeconds: 10,
                },
                volumeMounts: [{ name: 'certs', mountPath: '/certs', readOnly: true }],
              },
            ],
            volumes: [{ name: 'certs', secret: { secretName: 'widget-api-tls' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'widget-api', namespace: system },
      spec: { selector: { app: 'widget-api' }, ports: [{ name: 'https', port: 443, targetPort: 8443 }] },
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: APISERVICE },
      spec: {
        group: 'custom.example.com',
        version: 'v1',
        groupPriorityMinimum: 1000,
        versionPriority: 15,
        service: { namespace: system, name: 'widget-api', port: 443 },
        caBundle: Buffer.from(ca.certPem).toString('base64'),
      },
    },
  ];
  await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }));
  await k(['-n', system, 'wait', '--for=condition=Available', 'deployment/widget-api', '--timeout=300s']);
  await k(['wait', '--for=condition=Available', `apiservice/${APISERVICE}`, '--timeout=180s']);
});

afterAll(async () => {
  // An unavailable APIService blocks namespace deletion cluster-wide: remove it first.
  await k(['delete', 'apiservice', APISERVICE, '--ignore-not-found']).catch(() => undefined);
  await k(['delete', 'namespace', system, ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  await k([
    'delete',
    'clusterrolebinding',
    `widget-api-${suffix}:system:auth-delegator`,
    '--ignore-not-found',
  ]).catch(() => undefined);
  for (const kind of ['clusterrolebinding', 'clusterrole']) {
    await k(['delete', kind, `widget-api-${suffix}:admission-reader`, '--ignore-not-found']).catch(
      () => undefined,
    );
  }
  await k([
    '-n',
    'kube-system',
    'delete',
    'rolebinding',
    `widget-api-${suffix}-auth-reader`,
    '--ignore-not-found',
  ]).catch(() => undefined);
});

test('the APIService passes its availability checks', async () => {
  const status = JSON.parse(await k(['get', 'apiservice', APISERVICE, '-o', 'json'])).status;
  const available = status.conditions.find((c: { type: string }) => c.type === 'Available');
  expect(available).toMatchObject({ status: 'True', reason: 'Passed', message: 'all checks passed' });
});

test('the aggregator conformance steps: discovery, create, get, list by label, patch, delete, deletecollection', async () => {
  const groups = JSON.parse(await k(['get', '--raw', '/apis']));
  expect(groups.groups.map((g: { name: string }) => g.name)).toContain('custom.example.com');
  const resources = await k(['api-resources', '--api-group=custom.example.com', '-o', 'name']);
  expect(resources.trim()).toBe('widgets.custom.example.com');
  const created = JSON.parse(await k(['create', '-f', '-', '-o', 'json'], widgetJson('flunder', 'default')));
  expect(created).toMatchObject({
    apiVersion: 'custom.example.com/v1',
    kind: 'Widget',
    metadata: { name: 'flunder' },
  });
  expect(JSON.parse(await k(['get', 'widget', 'flunder', '-n', 'default', '-o', 'json'])).metadata.uid).toBe(
    created.metadata.uid,
  );
  const listed = JSON.parse(
    await k(['get', 'widgets', '-n', 'default', '-l', 'sample-label=true', '-o', 'json']),
  );
  expect(listed.items.map((w: { metadata: { name: string } }) => w.metadata.name)).toEqual(['flunder']);
  await k(['patch', 'widget', 'flunder', '-n', 'default', '--type=merge', '-p', '{"spec":{"replicas":4}}']);
  expect(await k(['get', 'widget', 'flunder', '-n', 'default', '-o', 'jsonpath={.spec.replicas}'])).toBe('4');
  await k(['delete', 'widget', 'flunder', '-n', 'default']);
  expect(JSON.parse(await k(['get', 'widgets', '-n', 'default', '-o', 'json'])).items).toEqual([]);
  for (const name of ['c1', 'c2']) await k(['create', '-f', '-'], widgetJson(name, 'default'));
  await k([
    'delete',
    '--raw',
    '/apis/custom.example.com/v1/namespaces/default/widgets?labelSelector=sample-label%3Dtrue',
  ]);
  expect(JSON.parse(await k(['get', 'widgets', '-n', 'default', '-o', 'json'])).items).toEqual([]);
});

test('kubectl through kube-apiserver: get -A, get -w, scale, explain', async () => {
  await k(['create', '-f', '-'], widgetJson('w1', ns));
  expect(await k(['get', 'widgets', '-A'])).toMatch(new RegExp(`${ns}\\s+w1\\s+1\\s+0\\s+Pending`));
  const watch = kubectlWatch(kubeconfigPath, ['get', 'widgets', '-n', ns, '-w']);
  try {
    await watch.waitFor(/^w1\s/, 30000);
    await k(['scale', 'widget', 'w1', '-n', ns, '--replicas=3']);
    await watch.waitFor(/^w1\s+3\s/, 30000);
  } finally {
    watch.stop();
  }
  // kube-apiserver aggregates an APIService's OpenAPI v3 document asynchronously (fetched when the
  // APIService appears and re-fetched periodically), so explain can lag discovery by up to a minute.
  const explained = await eventually(
    'kubectl explain widget.spec through the aggregated OpenAPI',
    () => k(['explain', 'widget.spec']),
    150000,
  );
  expect(explained).toMatch(/image\s+<string> -required-/);
});

test('RBAC is decided by the cluster: read-only users read, others are forbidden', async () => {
  await k([
    '-n',
    ns,
    'create',
    'role',
    'widget-reader',
    '--verb=get,list',
    '--resource=widgets.custom.example.com',
  ]);
  await k(['-n', ns, 'create', 'rolebinding', 'alice-reads', '--role=widget-reader', '--user=alice']);
  await eventually(
    'alice to read widgets',
    async () => (await k(['-n', ns, 'get', 'widgets', '--as=alice', '-o', 'name'])).includes('w1'),
    60000,
  );
  const createAsAlice = k(['create', '-f', '-', '--as=alice'], widgetJson('nope', ns));
  await expect(createAsAlice).rejects.toThrow(
    /widgets.custom.example.com is forbidden: User "alice" cannot create resource "widgets" in API group "custom.example.com" in the namespace/,
  );
  await expect(k(['-n', ns, 'get', 'widgets', '--as=bob'])).rejects.toThrow(
    /forbidden: User "bob" cannot list resource "widgets"/,
  );
  await expect(k(['-n', ns, 'get', 'widget', 'w1', '--as=bob'])).rejects.toThrow(/forbidden/);
});

test('a Role limited to resourceNames reads only that widget, however the selector is repeated', async () => {
  for (const name of ['w-a', 'w-b']) await k(['create', '-f', '-'], widgetJson(name, ns));
  await k([
    '-n',
    ns,
    'create',
    'role',
    'only-w-a',
    '--verb=get,list',
    '--resource=widgets.custom.example.com',
  ]);
  await k([
    '-n',
    ns,
    'patch',
    'role',
    'only-w-a',
    '--type=json',
    '-p',
    '[{"op":"add","path":"/rules/0/resourceNames","value":["w-a"]}]',
  ]);
  await k(['-n', ns, 'create', 'rolebinding', 'dave-reads-w-a', '--role=only-w-a', '--user=dave']);
  const list = `/apis/custom.example.com/v1/namespaces/${ns}/widgets`;
  const byName = (n: string) => `fieldSelector=metadata.name%3D${n}`;
  const asDave = async (query: string) =>
    JSON.parse(await k(['get', '--raw', `${list}?${query}`, '--as=dave'])) as {
      items: Array<{ metadata: { name: string } }>;
    };
  const only = await eventually('dave to list w-a by name', () => asDave(byName('w-a')), 60000);
  expect(only.items.map((w) => w.metadata.name)).toEqual(['w-a']);
  // kube-apiserver authorizes the first value (w-a); the server must serve that same value, not w-b.
  const repeated = await asDave(`${byName('w-a')}&${byName('w-b')}`);
  expect(repeated.items.map((w) => w.metadata.name)).toEqual(['w-a']);
  await expect(asDave(`${byName('w-b')}&${byName('w-a')}`)).rejects.toThrow(/forbidden/);
  await expect(asDave('')).rejects.toThrow(/forbidden/);
  await expect(k(['-n', ns, 'get', 'widget', 'w-b', '--as=dave'])).rejects.toThrow(/forbidden/);
});

test('all-namespaces list and watch narrowed by name: kubectl get -A --field-selector metadata.name', async () => {
  const listed = JSON.parse(
    await k(['get', 'widgets', '-A', '--field-selector', 'metadata.name=w-a', '-o', 'json']),
  );
  expect(
    listed.items.map((w: { metadata: { namespace: string; name: string } }) => w.metadata.namespace),
  ).toEqual([ns]);
  const watched = await k([
    'get',
    '--raw',
    '/apis/custom.example.com/v1/widgets?watch=true&timeoutSeconds=2&fieldSelector=metadata.name%3Dw-a',
  ]);
  const events = watched
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
  expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED w-a']);
});

/** Calls the Widget server directly through its Service, bypassing kube-apiserver. */
async function direct(
  path: string,
  headers: Record<string, string>,
  client: { cert?: string; key?: string } = {},
): Promise<{ status: number; body: { reason?: string; message?: string } }> {
  const ip = (
    await k(['-n', system, 'get', 'service', 'widget-api', '-o', 'jsonpath={.spec.clusterIP}'])
  ).trim();
  return new Promise((resolve, reject) => {
    https
      .get({ host: ip, port: 443, path, headers, rejectUnauthorized: false, ...client }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

test('at the server itself: an unknown bearer token is 401, forged X-Remote headers are anonymous', async () => {
  const token = await direct(`/apis/custom.example.com/v1/namespaces/${ns}/widgets`, {
    Authorization: 'Bearer not-a-token',
  });
  expect(token.status).toBe(401);
  expect(token.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized' });
  const forged = await direct(`/apis/custom.example.com/v1/namespaces/${ns}/widgets`, {
    'X-Remote-User': 'kubernetes-admin',
    'X-Remote-Group': 'system:masters',
  });
  expect(forged.status).toBe(403);
  expect(forged.body.message).toMatch(/User "system:anonymous" cannot list resource "widgets"/);
});

test('a client CA added to the authentication ConfigMap is trusted without a restart', async () => {
  const extraCA = createCA({ commonName: `extra-client-ca-${suffix}`, validityMs: HOUR });
  const client = issueClientCert(extraCA, {
    commonName: 'carol',
    organizations: ['system:masters'],
    validityMs: HOUR,
  });
  const path = `/apis/custom.example.com/v1/namespaces/${ns}/widgets`;
  const before = await direct(path, {}, { cert: client.certPem, key: client.keyPem });
  expect(before.status).toBe(403);
  expect(before.body.message).toMatch(/User "system:anonymous"/);
  const cm = JSON.parse(
    await k(['-n', 'kube-system', 'get', 'configmap', 'extension-apiserver-authentication', '-o', 'json']),
  );
  cm.data['client-ca-file'] = `${cm.data['client-ca-file'].trimEnd()}\n${extraCA.certPem}`;
  delete cm.metadata.resourceVersion;
  await k(['replace', '-f', '-'], JSON.stringify(cm));
  await eventually(
    'the new client CA to be trusted',
    async () => (await direct(path, {}, { cert: client.certPem, key: client.keyPem })).status === 200,
    60000,
  );
});

test('server-side apply through kube-apiserver: create, a conflict with kubectl scale, --force-conflicts', async () => {
  const manifest = JSON.stringify({
    apiVersion: 'custom.example.com/v1',
    kind: 'Widget',
    metadata: { name: 'applied', namespace: ns },
    spec: { image: 'nginx:1.27', replicas: 1 },
  });
  expect(await k(['apply', '--server-side', '-f', '-'], manifest)).toMatch(
    /widget.custom.example.com\/applied serverside-applied/,
  );
  await k(['-n', ns, 'scale', 'widget', 'applied', '--replicas=3']);
  await expect(k(['apply', '--server-side', '-f', '-'], manifest)).rejects.toThrow(
    /Apply failed with 1 conflict: conflict with "[^"]+" with subresource "scale"[^\n]*: \.spec\.replicas/,
  );
  await k(['apply', '--server-side', '--force-conflicts', '-f', '-'], manifest);
  const got = JSON.parse(
    await k(['-n', ns, 'get', 'widget', 'applied', '--show-managed-fields', '-o', 'json']),
  );
  expect(got.spec.replicas).toBe(1);
  expect(got.metadata.managedFields).toEqual([
    expect.objectContaining({
      manager: 'kubectl',
      operation: 'Apply',
      apiVersion: 'custom.example.com/v1',
      fieldsV1: { 'f:spec': { 'f:image': {}, 'f:replicas': {} } },
    }),
  ]);
});

test('a Widget owned by a deleted ConfigMap is garbage-collected', async () => {
  await k(['-n', ns, 'create', 'configmap', 'owner']);
  const uid = (await k(['-n', ns, 'get', 'configmap', 'owner', '-o', 'jsonpath={.metadata.uid}'])).trim();
  await k(
    ['create', '-f', '-'],
    widgetJson('owned', ns, {
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }],
    }),
  );
  await k(['-n', ns, 'delete', 'configmap', 'owner']);
  await eventually(
    'the owned Widget to be collected',
    async () => !(await k(['-n', ns, 'get', 'widgets', '-o', 'name'])).includes('owned'),
    180000,
  );
});

test('deleting a namespace that holds widgets finishes and removes them', async () => {
  await k(['create', '-f', '-'], widgetJson('doomed', ns));
  await k(['delete', 'namespace', ns, '--timeout=240s']);
  const left = JSON.parse(await k(['get', '--raw', `/apis/custom.example.com/v1/namespaces/${ns}/widgets`]));
  expect(left.items).toEqual([]);
});
