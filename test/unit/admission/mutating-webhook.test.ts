/**
 * The MutatingAdmissionWebhook plugin in the registry's admission chain, on the embedded store, against
 * a real HTTPS webhook server started here (its own CA as the caBundle). The server answers each path
 * with a JSON patch: what is stored is the patched object, pruned, defaulted, prepared and validated
 * again, and what validating admission sees; webhooks run in order, each on the previous one's output,
 * in its own version; `reinvocationPolicy: IfNeeded`; patches on DELETE, of an unsupported type, that do
 * not apply or that break the object; the scale subresource; dry runs.
 */
import pino from 'pino';
import { ApiError } from '../../../src/shared/status-errors';
import {
  AdmissionChain,
  type AdmissionAttributes,
  type AdmissionPlugin,
} from '../../../src/widget-server/admission/admission';
import type { NamespaceSource } from '../../../src/widget-server/admission/namespace-informer';
import { CelEvaluator } from '../../../src/widget-server/admission/cel/evaluator';
import type { NamedRuleWithOperations } from '../../../src/widget-server/admission/policy/matching';
import {
  MutatingAdmissionWebhookPlugin,
  type MutatingWebhook,
  type MutatingWebhookConfiguration,
} from '../../../src/widget-server/admission/webhook/mutating-webhook';
import { DEFAULT_GROUP, type Widget } from '../../../src/widget-server/api/types';
import { WidgetRegistry, type WriteOptions } from '../../../src/widget-server/registry/widget-registry';
import { MemoryStorage } from '../../../src/widget-server/storage/memory';
import { startWebhookServer, type Review, type TestWebhookServer } from './webhook-server';

/** What the webhook server received (by path), and where it is. */
let webhook: TestWebhookServer;
let base: string;
let caBundle: string;
let received: TestWebhookServer['received'];

const b64 = (patch: unknown) => Buffer.from(JSON.stringify(patch)).toString('base64');

/** The JSON patch (or other answer) each path gives for the object it is sent. */
function answerFor(path: string, q: URLSearchParams, object: Review | null): Record<string, unknown> {
  const labels = object?.metadata?.labels as Record<string, string> | undefined;
  const addLabel = (key: string, value: string) =>
    labels
      ? [{ op: 'add', path: `/metadata/labels/${key}`, value }]
      : [{ op: 'add', path: '/metadata/labels', value: { [key]: value } }];
  const jsonPatch = (ops: unknown[]) => ({ allowed: true, patchType: 'JSONPatch', patch: b64(ops) });
  switch (path) {
    case '/label':
      return jsonPatch(addLabel(q.get('key')!, q.get('value')!));
    case '/label-if-missing':
      return labels?.[q.get('key')!]
        ? { allowed: true }
        : jsonPatch(addLabel(q.get('key')!, q.get('value')!));
    case '/count-labels':
      // Writes how many labels it saw: a second call after a later webhook's label changes its answer.
      return jsonPatch(
        addLabel('seen', String(Object.keys(labels ?? {}).filter((k) => k !== 'seen').length)),
      );
    case '/set':
      return jsonPatch([{ op: 'add', path: q.get('path')!, value: JSON.parse(q.get('value')!) }]);
    case '/merge-type':
      return { allowed: true, patchType: 'MergePatch', patch: b64({ metadata: { labels: { x: 'y' } } }) };
    case '/not-applying':
      return jsonPatch([{ op: 'remove', path: '/metadata/nothing-here' }]);
    case '/empty-patch':
      return jsonPatch([]);
    case '/allow':
      return { allowed: true, warnings: ['mutator looked'] };
    case '/deny':
      return { allowed: false, status: { code: 403, reason: 'Forbidden', message: 'no mutations today' } };
    default:
      return { allowed: true };
  }
}

beforeAll(async () => {
  webhook = await startWebhookServer((path, query, review) => ({
    response: answerFor(path, query, review.request.object),
  }));
  ({ base, caBundle, received } = webhook);
});

afterAll(async () => {
  await webhook.close();
  await evaluator.close();
});

const evaluator = new CelEvaluator(2000);
const namespaces: NamespaceSource = {
  hasSynced: true,
  get: (name) => ({ metadata: { name } }),
  lookup: async () => undefined,
};
let configurations: MutatingWebhookConfiguration[] = [];
/** What validating admission saw (a copy of the object), to show it follows mutation. */
const validated: Array<Record<string, unknown> | undefined> = [];
const validatingRecorder: AdmissionPlugin = {
  name: 'recorder',
  handles: () => true,
  validate: async (a: AdmissionAttributes) => {
    validated.push(structuredClone(a.object));
  },
};
const opts: WriteOptions = { dryRun: false, fieldValidation: 'Strict', user: { name: 'alice', groups: [] } };
let storage: MemoryStorage;
let registry: WidgetRegistry;

beforeEach(() => {
  received.length = 0;
  validated.length = 0;
  configurations = [];
  storage = new MemoryStorage();
  const plugin = new MutatingAdmissionWebhookPlugin({
    configurations: { list: () => configurations, on: () => undefined },
    namespaces,
    evaluator,
    logger: pino({ level: 'silent' }),
  });
  registry = new WidgetRegistry(storage, {
    identity: { group: DEFAULT_GROUP, version: 'v1' },
    admission: new AdmissionChain([plugin, validatingRecorder]),
  });
});
afterEach(async () => {
  await storage.close();
});

function hook(
  name: string,
  path: string,
  over: Partial<MutatingWebhook> & { version?: string; resources?: string[]; operations?: string[] } = {},
): MutatingWebhook {
  const { version = 'v1', resources = ['widgets'], operations = ['CREATE', 'UPDATE'], ...rest } = over;
  return {
    name,
    clientConfig: { url: `${base}${path}`, caBundle: caBundle },
    rules: [
      {
        apiGroups: [DEFAULT_GROUP],
        apiVersions: [version],
        operations: operations as NamedRuleWithOperations['operations'],
        resources,
      },
    ],
    matchPolicy: 'Equivalent',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    ...rest,
  };
}
const configure = (...webhooks: MutatingWebhook[]) => {
  configurations = [{ metadata: { name: 'mutators' }, webhooks }];
};
const widget = (name: string, spec: Record<string, unknown> = { image: 'nginx:1', replicas: 2 }) => ({
  apiVersion: `${DEFAULT_GROUP}/v1`,
  kind: 'Widget',
  metadata: { name },
  spec,
});
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => {
      if (!(e instanceof ApiError)) throw e;
      return e;
    },
  );

test('a create is stored as the webhook patched it, and validating admission sees the patched object', async () => {
  configure(hook('labeler.example.com', '/label?key=team&value=blue'));
  const created = await registry.create('ns', widget('w1'), opts);
  expect(created.object.metadata.labels).toEqual({ team: 'blue' });
  expect((await registry.get('ns', 'w1')).metadata.labels).toEqual({ team: 'blue' });
  expect(validated[0]).toMatchObject({ metadata: { labels: { team: 'blue' } } });
  // The creator owns what it sent; the webhook's label is not attributed to anyone.
  const fields = JSON.stringify(created.object.metadata.managedFields);
  expect(fields).toContain('f:spec');
  expect(fields).not.toContain('f:team');
  expect(received[0].review.request).toMatchObject({ operation: 'CREATE', name: 'w1', namespace: 'ns' });
});

test('each webhook gets the previous one’s output, in the version its rule matched', async () => {
  configure(
    hook('a.example.com', '/label?key=a&value=1'),
    // v1alpha1 calls replicas `size`: this webhook patches it there.
    hook('b.example.com', '/set?path=/spec/size&value=5', { version: 'v1alpha1' }),
    hook('c.example.com', '/label?key=c&value=3'),
  );
  const created = await registry.create('ns', widget('w1'), opts);
  expect(received.map((r) => r.path)).toEqual(['/label', '/set', '/label']);
  const [, second, third] = received.map((r) => r.review.request);
  expect(second.kind.version).toBe('v1alpha1');
  expect(second.object).toMatchObject({ apiVersion: `${DEFAULT_GROUP}/v1alpha1`, spec: { size: 2 } });
  expect(second.object.metadata.labels).toEqual({ a: '1' });
  expect(third.object).toMatchObject({ spec: { replicas: 5 }, metadata: { labels: { a: '1' } } });
  expect(created.object.spec.replicas).toBe(5);
  expect(created.object.metadata.labels).toEqual({ a: '1', c: '3' });
});

test('a patched object is decoded as a request body: unknown fields dropped, defaults applied, then validated', async () => {
  configure(
    hook('unknown.example.com', '/set?path=/spec/bogus&value=1'),
    hook('uncolor.example.com', '/set?path=/spec/color&value=null'),
  );
  const created = await registry.create('ns', widget('w1'), opts);
  expect(created.object.spec).not.toHaveProperty('bogus');
  // A null is dropped and the default comes back, as for a request body.
  expect(created.object.spec.color).toBe('blue');

  configure(hook('negative.example.com', '/set?path=/spec/replicas&value=-3'));
  const invalid = await failure(registry.create('ns', widget('w2'), opts));
  expect(invalid.code).toBe(422);
  expect(invalid.message).toContain('spec.replicas');

  configure(hook('wrong-type.example.com', '/set?path=/spec/replicas&value="three"'));
  const broken = await failure(registry.create('ns', widget('w3'), opts));
  expect(broken.code).toBe(500);
  expect(broken.message).toMatch(
    /^Internal error occurred: admission webhook "wrong-type.example.com" returned a patch that cannot be applied/,
  );
  await expect(registry.get('ns', 'w2')).rejects.toMatchObject({ code: 404 });
  await expect(registry.get('ns', 'w3')).rejects.toMatchObject({ code: 404 });
});

test('updates, patches and status writes are mutated and prepared again: status stays the status strategy’s', async () => {
  await registry.create('ns', widget('w1'), opts);
  configure(
    hook('labeler.example.com', '/label?key=touched&value=yes'),
    hook('status-labeler.example.com', '/label?key=on-status&value=yes', { resources: ['widgets/status'] }),
    hook('status-writer.example.com', '/set?path=/status/phase&value="Failed"', {
      operations: ['UPDATE'],
      resources: ['widgets', 'widgets/status'],
    }),
  );
  const patched = await registry.patch(
    'ns',
    'w1',
    'application/merge-patch+json',
    '{"spec":{"replicas":3}}',
    opts,
  );
  expect(patched.object.spec.replicas).toBe(3);
  expect(patched.object.metadata.labels).toEqual({ touched: 'yes' });
  // The main resource's update strategy keeps the status: the webhook's change of it is dropped.
  expect(patched.object.status?.phase).toBe('Pending');
  const status = await registry.patch(
    'ns',
    'w1',
    'application/merge-patch+json',
    '{"status":{"phase":"Running"}}',
    opts,
    'status',
  );
  // On the status subresource only the status counts: the label webhook's change is dropped there.
  expect(status.object.status?.phase).toBe('Failed');
  expect(status.object.metadata.labels).toEqual({ touched: 'yes' });
});

test('a webhook may not rename the object it is given on update', async () => {
  await registry.create('ns', widget('w1'), opts);
  configure(
    hook('renamer.example.com', '/set?path=/metadata/name&value="other"', { operations: ['UPDATE'] }),
  );
  const err = await failure(
    registry.patch('ns', 'w1', 'application/merge-patch+json', '{"spec":{"replicas":3}}', opts),
  );
  expect(err.code).toBe(422);
  expect(err.message).toContain('metadata.name');
  expect((await registry.get('ns', 'w1')).spec.replicas).toBe(2);
});

test('reinvocationPolicy IfNeeded calls a webhook again when a later one changed the object', async () => {
  configure(
    hook('counter.example.com', '/count-labels', { reinvocationPolicy: 'IfNeeded' }),
    hook('labeler.example.com', '/label-if-missing?key=team&value=blue'),
  );
  const created = await registry.create('ns', widget('w1'), opts);
  // Round 0: counter (0 labels), labeler adds team; round 1: counter again (1 label) and not the labeler.
  expect(received.map((r) => r.path)).toEqual(['/count-labels', '/label-if-missing', '/count-labels']);
  expect(created.object.metadata.labels).toEqual({ seen: '1', team: 'blue' });

  received.length = 0;
  configure(
    hook('counter.example.com', '/count-labels', { reinvocationPolicy: 'Never' }),
    hook('labeler.example.com', '/label-if-missing?key=team&value=blue'),
  );
  const once = await registry.create('ns', widget('w2'), opts);
  expect(received.map((r) => r.path)).toEqual(['/count-labels', '/label-if-missing']);
  expect(once.object.metadata.labels).toEqual({ seen: '0', team: 'blue' });

  // Nothing changed after the IfNeeded webhook: no second round.
  received.length = 0;
  configure(
    hook('labeler.example.com', '/label-if-missing?key=team&value=blue'),
    hook('counter.example.com', '/count-labels', { reinvocationPolicy: 'IfNeeded' }),
  );
  await registry.create('ns', widget('w3'), opts);
  expect(received.map((r) => r.path)).toEqual(['/label-if-missing', '/count-labels']);
});

test('patches that kube-apiserver cannot use: unsupported type (failurePolicy decides), not applying, on DELETE', async () => {
  configure(hook('merge.example.com', '/merge-type'));
  const unsupported = await failure(registry.create('ns', widget('w1'), opts));
  expect(unsupported.code).toBe(500);
  expect(unsupported.message).toBe(
    'Internal error occurred: failed calling webhook "merge.example.com": unsupported patch type "MergePatch"',
  );
  configure(hook('merge.example.com', '/merge-type', { failurePolicy: 'Ignore' }));
  expect((await registry.create('ns', widget('w1'), opts)).object.metadata.labels).toBeUndefined();

  // A patch that does not apply is the server's error whatever the failure policy.
  configure(hook('broken.example.com', '/not-applying', { failurePolicy: 'Ignore' }));
  const notApplying = await failure(registry.create('ns', widget('w2'), opts));
  expect(notApplying.code).toBe(500);

  configure(hook('deleter.example.com', '/label?key=a&value=b', { operations: ['DELETE'] }));
  const onDelete = await failure(registry.delete('ns', 'w1', {}, opts));
  expect(onDelete).toMatchObject({
    code: 500,
    message:
      'Internal error occurred: admission webhook "deleter.example.com" attempted to modify the object, which is not supported for this operation',
  });
  await registry.get('ns', 'w1');
  // An empty patch is no change.
  configure(hook('empty.example.com', '/empty-patch', { operations: ['DELETE'] }));
  expect((await registry.delete('ns', 'w1', {}, opts)).deleted).toBe(true);
});

test('denials and warnings are as for validating webhooks', async () => {
  configure(hook('denier.example.com', '/deny'));
  const denied = await failure(registry.create('ns', widget('w1'), opts));
  expect(denied).toMatchObject({
    code: 403,
    message: 'admission webhook "denier.example.com" denied the request: no mutations today',
  });
  configure(hook('looker.example.com', '/allow', { operations: ['CREATE', 'DELETE'] }));
  expect((await registry.create('ns', widget('w1'), opts)).warnings).toEqual(['mutator looked']);
  // Deletes pass admission's warnings on too, one by one and for a collection.
  expect((await registry.delete('ns', 'w1', {}, opts)).warnings).toEqual(['mutator looked']);
  await registry.create('ns', widget('w2'), opts);
  await registry.create('ns', widget('w3'), opts);
  const collection = await registry.deleteCollection(
    'ns',
    { watch: false, allowWatchBookmarks: false },
    {},
    opts,
  );
  expect(collection.list.items).toHaveLength(2);
  expect(collection.warnings).toEqual(['mutator looked', 'mutator looked']);
});

test('the scale subresource: the webhook patches the Scale, and the widget gets its replicas', async () => {
  await registry.create('ns', widget('w1'), opts);
  configure(
    hook('scaler.example.com', '/set?path=/spec/replicas&value=7', {
      resources: ['widgets/scale'],
      operations: ['UPDATE'],
    }),
  );
  const scale = await registry.patchScale(
    'ns',
    'w1',
    'application/merge-patch+json',
    '{"spec":{"replicas":4}}',
    opts,
  );
  expect(received[0].review.request).toMatchObject({
    kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
    subResource: 'scale',
    object: { spec: { replicas: 4 } },
  });
  expect(scale.object.spec.replicas).toBe(7);
  expect(((await registry.get('ns', 'w1')) as Widget).spec.replicas).toBe(7);
});

test('a dry run calls only webhooks without side effects, returns the patched object and stores nothing', async () => {
  configure(hook('labeler.example.com', '/label?key=team&value=blue'));
  const preview = await registry.create('ns', widget('w1'), { ...opts, dryRun: true });
  expect(preview.object.metadata.labels).toEqual({ team: 'blue' });
  expect(received[0].review.request.dryRun).toBe(true);
  await expect(registry.get('ns', 'w1')).rejects.toMatchObject({ code: 404 });
  configure(hook('effects.example.com', '/label?key=team&value=blue', { sideEffects: 'Some' }));
  const refused = await failure(registry.create('ns', widget('w1'), { ...opts, dryRun: true }));
  expect(refused).toMatchObject({
    code: 400,
    message: 'admission webhook "effects.example.com" does not support dry run',
  });
});
