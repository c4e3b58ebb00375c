/**
 * ValidatingAdmissionWebhook end to end: a ValidatingWebhookConfiguration created with kubectl in the
 * bed's kube-apiserver, widgets written through kube-apiserver into the sample AggregatedAPI `widgets`,
 * whose server (the image built from this checkout) calls the webhook itself. The webhook is a real
 * HTTPS server started here, on the bed's node address that pods reach, with a CA of its own given as
 * the caBundle. It denies names starting with `bad-` and records what it is sent. Also: the webhook down
 * under failurePolicy Fail and Ignore, a webhook past its timeoutSeconds, and a server-side dry run.
 */
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { createCA, issueServingCert } from '../../src/shared/pki';
import {
  createWidgetThroughKube,
  ensureClusterUp,
  eventually,
  installSampleWidgetsApi,
  k,
  removeSampleWidgetsApi,
  withLogTails,
} from './cluster';

jest.setTimeout(20 * 60 * 1000);

const GROUP = 'custom.example.com';
/** The bed node's address (test/cluster/cluster.sh), which pods reach. */
const NODE_IP = process.env.CLUSTER_NODE_IP ?? '172.30.255.1';
const suffix = randomBytes(3).toString('hex');
const ns = `vwh-${suffix}`;
const SUITE_LABEL = `vwh-suite-${suffix}`;
const configName = `widgets-${suffix}`;

const ca = createCA({ commonName: `webhook-ca-${suffix}`, validityMs: 3600_000 });
const serving = issueServingCert(ca, {
  commonName: 'webhook',
  dnsNames: [],
  ipAddresses: [NODE_IP],
  validityMs: 3600_000,
});
const caBundle = Buffer.from(ca.certPem).toString('base64');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const reviews: Array<Record<string, any>> = [];
let server: https.Server;
let port = 0;
let api: CustomObjectsApi;
let installedSample = false;

const widget = (name: string) => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Widget',
  metadata: { name },
  spec: { image: 'nginx:1.27', replicas: 1 },
});
const create = (name: string, dryRun = false) => createWidgetThroughKube(api, ns, widget(name), dryRun);

/** The configuration: one webhook at `path`, selecting this suite's namespace's widget creates. */
async function configure(
  webhooks: Array<{ name: string; path?: string; url?: string; [more: string]: unknown }>,
) {
  const doc = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: configName },
    webhooks: webhooks.map(({ name, path, url, ...more }) => ({
      name,
      clientConfig: { url: url ?? `https://${NODE_IP}:${port}${path}`, caBundle },
      rules: [{ apiGroups: [GROUP], apiVersions: ['v1'], operations: ['CREATE'], resources: ['widgets'] }],
      namespaceSelector: { matchLabels: { suite: SUITE_LABEL } },
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      ...more,
    })),
  };
  await k(['apply', '-f', '-'], JSON.stringify(doc));
}

beforeAll(async () => {
  server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString());
      reviews.push(review);
      const name = String(review.request?.name ?? '');
      const answer = (response: Record<string, unknown>) =>
        res.end(JSON.stringify({ ...review, response: { uid: review.request.uid, ...response } }));
      if (req.url?.startsWith('/slow')) return setTimeout(() => answer({ allowed: true }), 3000);
      if (name.startsWith('bad-'))
        return answer({
          allowed: false,
          status: { code: 403, reason: 'Forbidden', message: 'names starting with bad- are not allowed' },
        });
      answer({ allowed: true, warnings: [`checked ${name}`] });
    });
  });
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  port = (server.address() as AddressInfo).port;
  const kubeconfig = ensureClusterUp();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  api = kc.makeApiClient(CustomObjectsApi);
  installedSample = await installSampleWidgetsApi();
  await k(['create', 'namespace', ns]);
  await k(['label', 'namespace', ns, `suite=${SUITE_LABEL}`]);
});

afterAll(async () => {
  await k(['delete', 'validatingwebhookconfiguration', configName, '--ignore-not-found']).catch(
    () => undefined,
  );
  await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  await removeSampleWidgetsApi(installedSample);
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

test(
  "the server calls the webhook for writes through kube-apiserver; its denial is kube-apiserver's",
  withLogTails(async () => {
    const hook = `deny-bad.${suffix}.example.com`;
    await configure([{ name: hook, path: '/validate' }]);
    await eventually(
      'the server to call the webhook',
      async () => String((await create('bad-probe', true))?.message ?? '').includes(hook),
      60_000,
    );
    expect(await create('bad-1')).toMatchObject({
      kind: 'Status',
      code: 403,
      reason: 'Forbidden',
      message: `admission webhook "${hook}" denied the request: names starting with bad- are not allowed`,
    });
    reviews.length = 0;
    expect(await create('good-1')).toBeUndefined();
    // What the webhook was sent: the request as the aggregator passed it, the user kube-apiserver authenticated.
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        kind: { group: GROUP, version: 'v1', kind: 'Widget' },
        resource: { group: GROUP, version: 'v1', resource: 'widgets' },
        name: 'good-1',
        namespace: ns,
        operation: 'CREATE',
        userInfo: { username: expect.any(String), groups: expect.arrayContaining(['system:authenticated']) },
        object: { metadata: { name: 'good-1', namespace: ns }, spec: { image: 'nginx:1.27' } },
        dryRun: false,
      },
    });
    expect((await k(['-n', ns, 'get', 'widgets', '-o', 'name'])).trim()).toBe(`widget.${GROUP}/good-1`);
  }),
);

test(
  'a webhook down fails the write under Fail (500) and not under Ignore; one past its timeout fails it too',
  withLogTails(async () => {
    const down = `down.${suffix}.example.com`;
    await configure([{ name: down, url: `https://${NODE_IP}:1/validate`, failurePolicy: 'Fail' }]);
    await eventually(
      'the server to see the down webhook',
      async () => String((await create('probe', true))?.message ?? '').includes(down),
      60_000,
    );
    const status = await create('w-down');
    expect(status).toMatchObject({ code: 500, reason: 'InternalError' });
    expect(status?.message).toMatch(
      new RegExp(`^Internal error occurred: failed calling webhook "${down}": `),
    );
    await configure([{ name: down, url: `https://${NODE_IP}:1/validate`, failurePolicy: 'Ignore' }]);
    await eventually(
      'the server to ignore the down webhook',
      async () => (await create('probe', true)) === undefined,
      60_000,
    );
    expect(await create('w-ignored')).toBeUndefined();
    const slow = `slow.${suffix}.example.com`;
    await configure([{ name: slow, path: '/slow', timeoutSeconds: 1, failurePolicy: 'Fail' }]);
    await eventually(
      'the server to time the slow webhook out',
      async () => String((await create('probe', true))?.message ?? '').includes(slow),
      60_000,
    );
    expect((await create('w-slow'))?.message).toMatch(/context deadline exceeded/);
  }),
);

test(
  'a server-side dry run reaches a webhook with sideEffects NoneOnDryRun, marked as one, and stores nothing',
  withLogTails(async () => {
    // (admissionregistration.k8s.io/v1 admits only None and NoneOnDryRun, so a webhook with side effects,
    // which a dry run must not reach, cannot be configured any more; the unit test covers the refusal.)
    const hook = `dry-run.${suffix}.example.com`;
    await configure([{ name: hook, path: '/validate', sideEffects: 'NoneOnDryRun' }]);
    await eventually(
      'the server to call the NoneOnDryRun webhook',
      async () => String((await create('bad-probe', true))?.message ?? '').includes(hook),
      60_000,
    );
    reviews.length = 0;
    expect(await create('dry-1', true)).toBeUndefined();
    expect(reviews).toHaveLength(1);
    expect(reviews[0].request).toMatchObject({ name: 'dry-1', dryRun: true, options: { dryRun: ['All'] } });
    expect((await k(['-n', ns, 'get', 'widgets', '-o', 'name'])).trim()).not.toContain('dry-1');
  }),
);
