/**
 * The benchmarks' CRD twin (bench/crd.ts) is only a fair comparison if it is the same Widget: its schema,
 * derived from the Widget server's OpenAPI v3, must accept and refuse the same objects the server does,
 * default the same fields, and print the same columns. Each example is sent to a real Widget server and
 * to the twin installed in the bed's kube-apiserver, and the outcomes are compared.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { widgetCrd } from '../../bench/crd';
import { ApiClient } from '../support/api-client';
import { startServerOnStore, type TestServer } from '../support/widget-server';
import { clusterDir, ensureClusterUp, eventually, k } from './cluster';

jest.setTimeout(5 * 60 * 1000);

const suffix = randomBytes(3).toString('hex');
const twinGroup = `twin-${suffix}.bench.example.com`;
const ns = `bench-twin-${suffix}`;
const STRICT = '?fieldValidation=Strict';
let server: TestServer;
let api: ApiClient;
let kubeServer: string;

/** A request to the bed's kube-apiserver as the admin (client certificate), like ApiClient's. */
function kube(
  method: string,
  urlPath: string,
  body?: unknown,
  accept = 'application/json',
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; json: any }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(urlPath, kubeServer),
      {
        method,
        ca: readFileSync(path.join(clusterDir, 'pki/ca.crt')),
        cert: readFileSync(path.join(clusterDir, 'pki/admin.crt')),
        key: readFileSync(path.join(clusterDir, 'pki/admin.key')),
        headers: {
          Accept: accept,
          ...(payload
            ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const serverBase = `/apis/custom.example.com/v1/namespaces/${ns}/widgets`;
const twinBase = `/apis/${twinGroup}/v1/namespaces/${ns}/widgets`;

function body(group: string, name: string, spec: unknown, status?: unknown) {
  return {
    apiVersion: `${group}/v1`,
    kind: 'Widget',
    metadata: { name, namespace: ns },
    ...(spec === undefined ? {} : { spec }),
    ...(status === undefined ? {} : { status }),
  };
}

beforeAll(async () => {
  ensureClusterUp();
  kubeServer = (await k(['config', 'view', '--raw', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim();
  await k(['create', 'namespace', ns]);
  await k(['apply', '-f', '-'], JSON.stringify(widgetCrd(twinGroup)));
  await k(['wait', '--for=condition=Established', `crd/widgets.${twinGroup}`, '--timeout=60s']);
  await eventually('the twin to be served', async () => (await kube('GET', twinBase)).status === 200, 30000);
  // Standalone (no NamespaceLifecycle), so the namespace need not exist on the server's side.
  server = await startServerOnStore('memory', 'crd-twin');
  api = new ApiClient(server);
});

afterAll(async () => {
  await server?.close();
  await k(['delete', 'crd', `widgets.${twinGroup}`, '--ignore-not-found', '--wait=false']).catch(
    () => undefined,
  );
  await k(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']).catch(() => undefined);
});

const specs: [string, unknown][] = [
  ['only the required image', { image: 'nginx:1.27' }],
  ['every field', { image: 'nginx:1.27', replicas: 0, color: 'purple' }],
  ['the largest replicas', { image: 'nginx:1.27', replicas: 100 }],
  ['replicas above the maximum', { image: 'nginx:1.27', replicas: 101 }],
  ['negative replicas', { image: 'nginx:1.27', replicas: -1 }],
  ['replicas as a string', { image: 'nginx:1.27', replicas: '3' }],
  ['a fractional replicas', { image: 'nginx:1.27', replicas: 1.5 }],
  ['a color outside the enum', { image: 'nginx:1.27', color: 'magenta' }],
  ['no image', { replicas: 2 }],
  ['image as a number', { image: 5 }],
  ['an unknown spec field', { image: 'nginx:1.27', sidecar: true }],
  ['spec as a string', 'nginx'],
  ['no spec', undefined],
];

test.each(specs)('create with %s: the twin and the server agree', async (what, spec) => {
  const name = `c-${specs.findIndex(([w]) => w === what)}`;
  const fromServer = await api.request('POST', serverBase + STRICT, {
    body: body('custom.example.com', name, spec),
  });
  const fromTwin = await kube('POST', twinBase + STRICT, body(twinGroup, name, spec));
  const outcome = (status: number) =>
    status === 201 ? 'accepted' : status === 422 || status === 400 ? 'refused' : status;
  expect({ what, twin: outcome(fromTwin.status) }).toEqual({ what, twin: outcome(fromServer.status) });
  expect([201, 400, 422]).toContain(fromServer.status);
  if (fromServer.status === 201) {
    // The same defaults (replicas 1, color blue) from the same schema.
    expect(fromTwin.json.spec).toEqual(fromServer.json.spec);
  }
});

const statuses: [string, unknown][] = [
  ['a valid status', { availableReplicas: 1, phase: 'Running' }],
  ['a phase outside the enum', { phase: 'Sleeping' }],
  ['negative availableReplicas', { availableReplicas: -2 }],
  [
    'a condition',
    {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          lastTransitionTime: '2026-01-01T00:00:00Z',
          reason: 'Up',
          message: 'ok',
        },
      ],
    },
  ],
  ['a condition without its required fields', { conditions: [{ type: 'Ready', status: 'True' }] }],
  [
    'two conditions of the same type (list-type map)',
    {
      conditions: ['True', 'False'].map((s) => ({
        type: 'Ready',
        status: s,
        lastTransitionTime: '2026-01-01T00:00:00Z',
        reason: 'R',
        message: 'm',
      })),
    },
  ],
];

test.each(statuses)('status with %s: the twin and the server agree', async (what, status) => {
  const name = `s-${statuses.findIndex(([w]) => w === what)}`;
  const spec = { image: 'nginx:1.27' };
  const created = await api.request('POST', serverBase, { body: body('custom.example.com', name, spec) });
  const createdTwin = await kube('POST', twinBase, body(twinGroup, name, spec));
  expect([created.status, createdTwin.status]).toEqual([201, 201]);
  const fromServer = await api.request('PUT', `${serverBase}/${name}/status${STRICT}`, {
    body: { ...created.json, status },
  });
  const fromTwin = await kube('PUT', `${twinBase}/${name}/status${STRICT}`, { ...createdTwin.json, status });
  const outcome = (code: number) =>
    code === 200 ? 'accepted' : code === 422 || code === 400 ? 'refused' : code;
  expect({ what, twin: outcome(fromTwin.status) }).toEqual({ what, twin: outcome(fromServer.status) });
  expect([200, 400, 422]).toContain(fromServer.status);
});

test("the twin prints the server's Table columns and scales the same fields", async () => {
  const table = 'application/json;as=Table;v=v1;g=meta.k8s.io';
  const columns = (j: { columnDefinitions: { name: string; type: string; priority: number }[] }) =>
    j.columnDefinitions.map((c) => [c.name, c.type, c.priority]);
  const fromServer = await api.request('GET', serverBase, { accept: table });
  const twinTable = (await kube('GET', twinBase, undefined, table)).json;
  expect(columns(twinTable)).toEqual(columns(fromServer.json));

  const spec = { image: 'nginx:1.27', replicas: 3 };
  await api.request('POST', serverBase, { body: body('custom.example.com', 'scaled', spec) });
  await kube('POST', twinBase, body(twinGroup, 'scaled', spec));
  const scale = await api.request('GET', `${serverBase}/scaled/scale`);
  const twinScale = await kube('GET', `${twinBase}/scaled/scale`);
  expect(twinScale.json.spec).toEqual(scale.json.spec);
  expect(twinScale.json.status.replicas).toEqual(scale.json.status.replicas);
});
