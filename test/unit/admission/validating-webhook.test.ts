/**
 * The ValidatingAdmissionWebhook plugin against a real HTTPS webhook server started here (its own CA,
 * given to the plugin as the webhook's caBundle): the AdmissionReview it receives, allow and deny with
 * kube-apiserver's message and the webhook's code, warnings, failurePolicy Fail and Ignore for a webhook
 * that is down, too slow or not trusted, dry runs and sideEffects, and matchConditions.
 */
import pino from 'pino';
import type { AdmissionAttributes } from '../../../src/widget-server/admission/admission';
import type { NamespaceSource } from '../../../src/widget-server/admission/namespace-informer';
import { CelEvaluator } from '../../../src/widget-server/admission/cel/evaluator';
import {
  ValidatingAdmissionWebhookPlugin,
  type ValidatingWebhook,
  type ValidatingWebhookConfiguration,
} from '../../../src/widget-server/admission/webhook/validating-webhook';
import { createCA } from '../../../src/shared/pki';
import { GROUP, refusal, widgetAttributes } from './widget-attributes';
import { startWebhookServer, type TestWebhookServer } from './webhook-server';

/** A CA that did not sign the webhook's certificate. */
const otherCa = createCA({ commonName: 'someone-else', validityMs: 3600_000 });

/** How the webhook server answers each path. */
let webhook: TestWebhookServer;
let base: string;
let caBundle: string;
let received: TestWebhookServer['received'];

beforeAll(async () => {
  webhook = await startWebhookServer((path) => {
    if (path === '/allow') return { response: { allowed: true, warnings: ['looked at it'] } };
    if (path === '/deny')
      return {
        response: {
          allowed: false,
          status: { code: 403, reason: 'Forbidden', message: 'names starting with bad- are not allowed' },
        },
      };
    if (path === '/deny-bare') return { response: { allowed: false } };
    if (path === '/patching') return { response: { allowed: true, patchType: 'JSONPatch', patch: 'W10=' } };
    if (path === '/wrong-uid') return { raw: JSON.stringify({ response: { uid: 'other', allowed: true } }) };
    if (path === '/slow') return { response: { allowed: true }, delayMs: 2500 };
    return { status: 404 };
  });
  ({ base, caBundle, received } = webhook);
});

afterAll(async () => {
  await webhook.close();
  await evaluator.close();
});

let configurations: ValidatingWebhookConfiguration[] = [];
const evaluator = new CelEvaluator(2000);
const namespaces: NamespaceSource = {
  hasSynced: true,
  get: (name) => ({ metadata: { name, labels: { env: name } } }),
  lookup: async () => undefined,
};
const plugin = new ValidatingAdmissionWebhookPlugin({
  configurations: { list: () => configurations, on: () => undefined },
  namespaces,
  evaluator,
  logger: pino({ level: 'silent' }),
  metrics: {
    step: () => undefined,
    controller: () => undefined,
    webhook: (name, type, operation, outcome) => metrics.push({ name, type, operation, ...outcome }),
    webhookFailOpen: (name, type) => metrics.push({ name, type, failOpen: true }),
  },
});
const metrics: Array<Record<string, unknown>> = [];

beforeEach(() => {
  metrics.length = 0;
  received.length = 0;
  configurations = [];
});

function hook(name: string, path: string, over: Partial<ValidatingWebhook> = {}): ValidatingWebhook {
  return {
    name,
    clientConfig: { url: `${base}${path}`, caBundle: caBundle },
    rules: [
      {
        apiGroups: [GROUP],
        apiVersions: ['v1alpha1'],
        operations: ['CREATE', 'UPDATE'],
        resources: ['widgets'],
      },
    ],
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    ...over,
  };
}

const attributes = (over: Partial<AdmissionAttributes> = {}) =>
  widgetAttributes({
    name: 'bad-1',
    object: { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'bad-1' }, spec: { replicas: 2 } },
    userInfo: { name: 'alice', groups: ['devs'] },
    ...over,
  });
const outcome = (a: AdmissionAttributes) => refusal(plugin, a);

test('the webhook gets an AdmissionReview v1 of the object in the version its rule matched; warnings pass on', async () => {
  configurations = [
    { metadata: { name: 'c' }, webhooks: [hook('allow.example.com', '/allow', { timeoutSeconds: 5 })] },
  ];
  const a = attributes();
  expect(await outcome(a)).toBeUndefined();
  expect(a.warnings).toEqual(['looked at it']);
  expect(received).toHaveLength(1);
  expect(received[0]).toMatchObject({ path: '/allow', query: '?timeout=5s' });
  expect(received[0].review).toMatchObject({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      kind: { group: GROUP, version: 'v1alpha1', kind: 'Widget' },
      resource: { group: GROUP, version: 'v1alpha1', resource: 'widgets' },
      requestKind: { group: GROUP, version: 'v1', kind: 'Widget' },
      name: 'bad-1',
      namespace: 'prod',
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['devs'] },
      object: { apiVersion: `${GROUP}/v1alpha1`, spec: { size: 2 } },
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  });
});

test("a denial is kube-apiserver's: the webhook's code and reason, its message prefixed", async () => {
  configurations = [
    {
      metadata: { name: 'c' },
      webhooks: [hook('allow.example.com', '/allow'), hook('deny.example.com', '/deny')],
    },
  ];
  expect((await outcome(attributes()))?.toStatus()).toMatchObject({
    code: 403,
    reason: 'Forbidden',
    message:
      'admission webhook "deny.example.com" denied the request: names starting with bad- are not allowed',
  });
  configurations = [{ metadata: { name: 'c' }, webhooks: [hook('bare.example.com', '/deny-bare')] }];
  // kube-apiserver's webhook metrics: both calls, the denial with its code.
  expect(metrics).toEqual(
    expect.arrayContaining([
      { name: 'allow.example.com', type: 'validating', operation: 'CREATE', rejected: false, code: 200 },
      {
        name: 'deny.example.com',
        type: 'validating',
        operation: 'CREATE',
        rejected: true,
        code: 403,
        errorType: 'no_error',
      },
    ]),
  );
  const bare = (await outcome(attributes()))?.toStatus();
  expect(bare).toMatchObject({
    code: 400,
    message: 'admission webhook "bare.example.com" denied the request without explanation',
  });
  expect(bare).not.toHaveProperty('reason');
});

test('a webhook down, too slow, untrusted or answering wrongly fails the request under Fail, not under Ignore', async () => {
  const cases: Array<[ValidatingWebhook, RegExp]> = [
    [
      hook('down.example.com', '/allow', {
        clientConfig: {
          url: 'https://127.0.0.1:1/allow',
          caBundle: caBundle,
        },
      }),
      /ECONNREFUSED/,
    ],
    [hook('slow.example.com', '/slow', { timeoutSeconds: 1 }), /context deadline exceeded \(1s\)/],
    [
      hook('untrusted.example.com', '/allow', {
        clientConfig: { url: `${base}/allow`, caBundle: Buffer.from(otherCa.certPem).toString('base64') },
      }),
      /certificate/,
    ],
    [hook('uid.example.com', '/wrong-uid'), /expected response.uid=/],
    [hook('patching.example.com', '/patching'), /validating webhook may not return response.patch$/],
  ];
  for (const [h, why] of cases) {
    configurations = [{ metadata: { name: 'c' }, webhooks: [h] }];
    const err = (await outcome(attributes()))?.toStatus();
    expect(err).toMatchObject({ code: 500, reason: 'InternalError' });
    expect(err?.message).toMatch(
      new RegExp(`^Internal error occurred: failed calling webhook "${h.name}": `),
    );
    expect(err?.message).toMatch(why);
    configurations = [{ metadata: { name: 'c' }, webhooks: [{ ...h, failurePolicy: 'Ignore' }] }];
    metrics.length = 0;
    expect(await outcome(attributes())).toBeUndefined();
    expect(metrics).toEqual([
      {
        name: h.name,
        type: 'validating',
        operation: 'CREATE',
        rejected: false,
        code: 500,
        errorType: 'calling_webhook_error',
      },
      { name: h.name, type: 'validating', failOpen: true },
    ]);
  }
});

test('a dry run is refused by a webhook with side effects, and sent to one without', async () => {
  configurations = [
    { metadata: { name: 'c' }, webhooks: [hook('effects.example.com', '/allow', { sideEffects: 'Some' })] },
  ];
  expect((await outcome(attributes({ dryRun: true })))?.toStatus()).toMatchObject({
    code: 400,
    message: 'admission webhook "effects.example.com" does not support dry run',
  });
  expect(received).toHaveLength(0);
  configurations = [
    {
      metadata: { name: 'c' },
      webhooks: [hook('none.example.com', '/allow', { sideEffects: 'NoneOnDryRun' })],
    },
  ];
  expect(await outcome(attributes({ dryRun: true }))).toBeUndefined();
  expect(received[0].review.request).toMatchObject({ dryRun: true, options: { dryRun: ['All'] } });
});

test('rules, selectors and matchConditions decide which webhooks are called', async () => {
  configurations = [
    {
      metadata: { name: 'c' },
      webhooks: [
        hook('dev-only.example.com', '/deny', { namespaceSelector: { matchLabels: { env: 'dev' } } }),
        hook('deletes-only.example.com', '/deny', {
          rules: [{ apiGroups: ['*'], apiVersions: ['*'], operations: ['DELETE'], resources: ['*'] }],
        }),
        hook('big-only.example.com', '/deny', {
          matchConditions: [{ name: 'big', expression: 'object.spec.size > 5' }],
        }),
      ],
    },
  ];
  expect(await outcome(attributes())).toBeUndefined();
  expect(received).toHaveLength(0);
  expect((await outcome(attributes({ namespace: 'dev' })))?.message).toMatch(/"dev-only.example.com" denied/);
  // A match condition that cannot be evaluated fails closed with 403 under Fail, and skips under Ignore.
  const broken = hook('broken.example.com', '/allow', {
    matchConditions: [{ name: 'oops', expression: 'object.nope' }],
  });
  configurations = [{ metadata: { name: 'c' }, webhooks: [broken] }];
  expect((await outcome(attributes()))?.toStatus()).toMatchObject({
    code: 403,
    reason: 'Forbidden',
    message: expect.stringMatching(
      /^widgets.custom.example.com "bad-1" is forbidden: matchCondition 'oops' resulted in error/,
    ),
  });
  configurations = [{ metadata: { name: 'c' }, webhooks: [{ ...broken, failurePolicy: 'Ignore' }] }];
  expect(await outcome(attributes())).toBeUndefined();
  expect(received).toHaveLength(1);
});
