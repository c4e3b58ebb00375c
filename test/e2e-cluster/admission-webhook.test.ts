/**
 * Admission webhooks end to end: Mutating- and ValidatingWebhookConfigurations created with kubectl in
 * the bed's kube-apiserver, widgets written through kube-apiserver into the sample AggregatedAPI
 * `widgets`, whose server (the image built from this checkout) calls the webhooks itself. The webhook is
 * a small HTTPS server (webhook/admission-webhook-server.js) run as a pod of the bed's Node.js base
 * image behind a Service, which the configurations name (so the server reaches it at the Service's
 * cluster IP and checks its certificate for `webhook.<ns>.svc`), with a CA of the test's own as the
 * caBundle. It denies names starting with `bad-`, adds a label, and prints what it is sent. Also: a
 * webhook down (a Service without endpoints) under failurePolicy Fail and Ignore, a webhook past its
 * timeoutSeconds, and server-side dry runs with kubectl.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { createCA, issueServingCert } from '../../src/shared/pki';
import {
  createWidgetThroughKube,
  ensureClusterUp,
  installSampleWidgetsApi,
  k,
  kubectlOutput,
  withLogTails,
} from './cluster';
import { dryRunCreate, messageOf, untilEveryReplica, type ReplicaReply } from './server-replicas';

jest.setTimeout(20 * 60 * 1000);

const GROUP = 'custom.example.com';
const NODE_IMAGE = 'localhost/node-base:20';
const suffix = randomBytes(3).toString('hex');
const ns = `wh-${suffix}`;
const SUITE_LABEL = `wh-suite-${suffix}`;
const configName = `widgets-${suffix}`;

const ca = createCA({ commonName: `webhook-ca-${suffix}`, validityMs: 3600_000 });
const serving = issueServingCert(ca, {
  commonName: 'webhook',
  dnsNames: [`webhook.${ns}.svc`],
  ipAddresses: [],
  validityMs: 3600_000,
});
const caBundle = Buffer.from(ca.certPem).toString('base64');
let api: CustomObjectsApi;

const widget = (name: string) => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Widget',
  metadata: { name },
  spec: { image: 'nginx:1.27', replicas: 1 },
});
const create = (name: string) => createWidgetThroughKube(api, ns, widget(name));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Review = Record<string, any>;
/** What the webhook pod was sent so far, from its log: `{path, review}` per call. */
async function reviews(): Promise<Array<{ path: string; review: Review }>> {
  const log = await k(['-n', ns, 'logs', 'pod/webhook']);
  return log
    .split('\n')
    .filter((l) => l.startsWith('{"path"'))
    .map((l) => JSON.parse(l) as { path: string; review: Review });
}
/** The reviews for one widget name, by path. */
const reviewsOf = async (name: string) => (await reviews()).filter((r) => r.review.request?.name === name);

/**
 * Whether `hook` itself denied the request: a probe must not take the 500 of a call that failed (the
 * Service's endpoint not yet programmed by kube-proxy: connection refused) for the webhook answering.
 */
const deniedBy = (r: ReplicaReply, hook: string) =>
  r.status === 403 && messageOf(r).startsWith(`admission webhook "${hook}" denied the request`);

type Hook = { name: string; path?: string; service?: string; [more: string]: unknown };
/** A webhook configuration of `kind`: each webhook at `path` of a Service, selecting this suite's widget creates. */
async function configure(kind: 'Mutating' | 'Validating', webhooks: Hook[]) {
  const doc = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: `${kind}WebhookConfiguration`,
    metadata: { name: configName },
    webhooks: webhooks.map(({ name, path: at, service, ...more }) => ({
      name,
      clientConfig: {
        service: { namespace: ns, name: service ?? 'webhook', path: at ?? '/validate', port: 443 },
        caBundle,
      },
      rules: [{ apiGroups: [GROUP], apiVersions: ['v1'], operations: ['CREATE'], resources: ['widgets'] }],
      namespaceSelector: { matchLabels: { suite: SUITE_LABEL } },
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      ...more,
    })),
  };
  await k(['apply', '-f', '-'], JSON.stringify(doc));
}
const unconfigure = (kind: 'Mutating' | 'Validating') =>
  k(['delete', `${kind.toLowerCase()}webhookconfiguration`, configName, '--ignore-not-found']);

/** The webhook pod (its script from a ConfigMap, its certificate from a Secret), its Service, and one without endpoints. */
async function startWebhookPod() {
  const script = readFileSync(path.join(__dirname, 'webhook/admission-webhook-server.js'), 'utf8');
  const service = (name: string, app: string) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector: { app }, ports: [{ port: 443, targetPort: 8443 }] },
  });
  const objects = [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'webhook-server', namespace: ns },
      data: { 'server.js': script },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'webhook-tls', namespace: ns },
      type: 'kubernetes.io/tls',
      stringData: { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'webhook', namespace: ns, labels: { app: 'webhook' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        securityContext: { runAsNonRoot: true, runAsUser: 65532 },
        containers: [
          {
            name: 'webhook',
            image: NODE_IMAGE,
            imagePullPolicy: 'Never',
            args: ['/webhook/server/server.js'],
            ports: [{ containerPort: 8443 }],
            readinessProbe: {
              httpGet: { path: '/healthz', port: 8443, scheme: 'HTTPS' },
              periodSeconds: 1,
            },
            volumeMounts: [
              { name: 'server', mountPath: '/webhook/server' },
              { name: 'tls', mountPath: '/webhook/tls' },
            ],
          },
        ],
        volumes: [
          { name: 'server', configMap: { name: 'webhook-server' } },
          { name: 'tls', secret: { secretName: 'webhook-tls' } },
        ],
      },
    },
    service('webhook', 'webhook'),
    service('webhook-down', 'nothing-runs-here'),
  ];
  await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  await k(['-n', ns, 'wait', '--for=condition=Ready', 'pod/webhook', '--timeout=180s']);
}

beforeAll(async () => {
  const kubeconfig = ensureClusterUp();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  api = kc.makeApiClient(CustomObjectsApi);
  await k(['create', 'namespace', ns]);
  await k(['label', 'namespace', ns, `suite=${SUITE_LABEL}`]);
  // The pod starts while the sample API is installed.
  const pod = startWebhookPod();
  await installSampleWidgetsApi();
  await pod;
});

afterAll(async () => {
  for (const kind of ['Mutating', 'Validating'] as const) await unconfigure(kind).catch(() => undefined);
  await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

test(
  "the server calls the validating webhook for writes through kube-apiserver; its denial is kube-apiserver's",
  withLogTails(async () => {
    const hook = `deny-bad.${suffix}.example.com`;
    await configure('Validating', [{ name: hook, path: '/validate' }]);
    await untilEveryReplica('has the webhook deny', dryRunCreate(ns, widget('bad-probe')), (r) =>
      deniedBy(r, hook),
    );
    expect(await create('bad-1')).toMatchObject({
      kind: 'Status',
      code: 403,
      reason: 'Forbidden',
      message: `admission webhook "${hook}" denied the request: names starting with bad- are not allowed`,
    });
    expect(await create('good-1')).toBeUndefined();
    // What the webhook was sent: the request as the aggregator passed it, the user kube-apiserver authenticated.
    const sent = await reviewsOf('good-1');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      path: '/validate',
      review: {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          kind: { group: GROUP, version: 'v1', kind: 'Widget' },
          resource: { group: GROUP, version: 'v1', resource: 'widgets' },
          name: 'good-1',
          namespace: ns,
          operation: 'CREATE',
          userInfo: {
            username: expect.any(String),
            groups: expect.arrayContaining(['system:authenticated']),
          },
          object: { metadata: { name: 'good-1', namespace: ns }, spec: { image: 'nginx:1.27' } },
          dryRun: false,
        },
      },
    });
    // The webhook's warning reaches kubectl.
    const created = await kubectlOutput(['-n', ns, 'create', '-f', '-'], JSON.stringify(widget('good-2')));
    expect(created.stdout).toContain(`widget.${GROUP}/good-2 created`);
    expect(created.stderr).toContain('Warning: checked good-2');
    expect((await k(['-n', ns, 'get', 'widgets', '-o', 'name'])).trim().split('\n')).toEqual([
      `widget.${GROUP}/good-1`,
      `widget.${GROUP}/good-2`,
    ]);
    await unconfigure('Validating');
  }),
);

test(
  'a mutating webhook adds a label: stored, shown by kubectl, and seen by the validating webhook after it',
  withLogTails(async () => {
    const mutator = `label.${suffix}.example.com`;
    const validator = `deny-bad.${suffix}.example.com`;
    await configure('Validating', [{ name: validator, path: '/validate' }]);
    await configure('Mutating', [{ name: mutator, path: '/mutate', reinvocationPolicy: 'IfNeeded' }]);
    await untilEveryReplica(
      'calls the mutating webhook',
      dryRunCreate(ns, widget('m-probe')),
      // Mutated, and allowed by the validating webhook with its warning: both configurations seen.
      (r) =>
        r.body?.metadata?.labels?.['mutated-by'] === 'admission-webhook' &&
        r.warnings.some((w) => w.includes('checked m-probe')),
    );
    await k(['-n', ns, 'create', '-f', '-'], JSON.stringify(widget('mutated-1')));
    const labels = JSON.parse(
      await k(['-n', ns, 'get', 'widget', 'mutated-1', '-o', 'jsonpath={.metadata.labels}']),
    ) as Record<string, string>;
    expect(labels).toEqual({ 'mutated-by': 'admission-webhook' });
    const sent = await reviewsOf('mutated-1');
    // The mutating webhook first, with the object as the client sent it; then the validating one, with the
    // label. Nothing changed after the IfNeeded webhook, so it is not called again.
    expect(sent.map((r) => r.path)).toEqual(['/mutate', '/validate']);
    expect(sent[0].review.request.object.metadata.labels).toBeUndefined();
    expect(sent[1].review.request.object.metadata.labels).toEqual({ 'mutated-by': 'admission-webhook' });
    // kubectl's server-side dry run shows the mutated object and stores nothing.
    const preview = JSON.parse(
      await k(
        ['-n', ns, 'create', '--dry-run=server', '-o', 'json', '-f', '-'],
        JSON.stringify(widget('dry-m')),
      ),
    ) as { metadata: { labels?: Record<string, string> } };
    expect(preview.metadata.labels).toEqual({ 'mutated-by': 'admission-webhook' });
    expect((await reviewsOf('dry-m')).map((r) => r.review.request.dryRun)).toEqual([true, true]);
    expect(await k(['-n', ns, 'get', 'widget', 'dry-m', '--ignore-not-found', '-o', 'name'])).toBe('');
    await unconfigure('Mutating');
    await unconfigure('Validating');
  }),
);

test(
  'a webhook down fails the write under Fail (500) and not under Ignore; one past its timeout fails it too',
  withLogTails(async () => {
    const down = `down.${suffix}.example.com`;
    // A Service without endpoints: kube-proxy refuses connections to it.
    await configure('Validating', [{ name: down, service: 'webhook-down', failurePolicy: 'Fail' }]);
    await untilEveryReplica('sees the down webhook', dryRunCreate(ns, widget('probe')), (r) =>
      messageOf(r).includes(down),
    );
    const status = await create('w-down');
    expect(status).toMatchObject({ code: 500, reason: 'InternalError' });
    expect(status?.message).toMatch(
      new RegExp(`^Internal error occurred: failed calling webhook "${down}": `),
    );
    await configure('Validating', [{ name: down, service: 'webhook-down', failurePolicy: 'Ignore' }]);
    await untilEveryReplica(
      'ignores the down webhook',
      dryRunCreate(ns, widget('probe')),
      (r) => r.status === 201,
    );
    expect(await create('w-ignored')).toBeUndefined();
    // The same for a mutating webhook that is down.
    const mutatorDown = `mutator-down.${suffix}.example.com`;
    await configure('Mutating', [{ name: mutatorDown, service: 'webhook-down', failurePolicy: 'Fail' }]);
    await untilEveryReplica('sees the down mutating webhook', dryRunCreate(ns, widget('probe')), (r) =>
      messageOf(r).includes(mutatorDown),
    );
    expect(await create('w-down-m')).toMatchObject({ code: 500, reason: 'InternalError' });
    await unconfigure('Mutating');
    const slow = `slow.${suffix}.example.com`;
    await configure('Validating', [{ name: slow, path: '/slow', timeoutSeconds: 1, failurePolicy: 'Fail' }]);
    await untilEveryReplica(
      'times the slow webhook out',
      dryRunCreate(ns, widget('probe')),
      (r) => messageOf(r).includes(slow) && messageOf(r).includes('context deadline exceeded'),
    );
    expect((await create('w-slow'))?.message).toMatch(/context deadline exceeded/);
    await unconfigure('Validating');
  }),
);

test(
  'a server-side dry run reaches a webhook with sideEffects NoneOnDryRun, marked as one, and stores nothing',
  withLogTails(async () => {
    // (admissionregistration.k8s.io/v1 admits only None and NoneOnDryRun, so a webhook with side effects,
    // which a dry run must not reach, cannot be configured any more; the unit tests cover the refusal.)
    const hook = `dry-run.${suffix}.example.com`;
    await configure('Validating', [{ name: hook, path: '/validate', sideEffects: 'NoneOnDryRun' }]);
    await untilEveryReplica('has the NoneOnDryRun webhook deny', dryRunCreate(ns, widget('bad-probe')), (r) =>
      deniedBy(r, hook),
    );
    await k(['-n', ns, 'create', '--dry-run=server', '-f', '-'], JSON.stringify(widget('dry-1')));
    const sent = await reviewsOf('dry-1');
    expect(sent).toHaveLength(1);
    expect(sent[0].review.request).toMatchObject({ dryRun: true, options: { dryRun: ['All'] } });
    expect(await k(['-n', ns, 'get', 'widget', 'dry-1', '--ignore-not-found', '-o', 'name'])).toBe('');
  }),
);
