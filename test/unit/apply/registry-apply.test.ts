/**
 * Server-side apply through the registry (the generic store) on the embedded store: the reset rules per
 * subresource (an apply to the main resource neither changes nor owns status; one to /status changes
 * and owns only status), atomic lists replaced whole, and managedFields kept by every other write.
 */
import { WidgetRegistry, type WriteOptions } from '../../../src/widget-server/registry/widget-registry';
import { MemoryStorage } from '../../../src/widget-server/storage/memory';
import type { Widget } from '../../../src/widget-server/api/types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const GROUP = 'custom.example.com';
const opts = (fieldManager: string): WriteOptions & { force: boolean } => ({
  dryRun: false,
  fieldValidation: 'Strict',
  fieldManager,
  force: false,
});
const config = (extra: Record<string, unknown>) => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Widget',
  metadata: { name: 'w' },
  ...extra,
});
const fieldsOf = (w: Widget, manager: string, subresource?: string) =>
  (w.metadata.managedFields as Any[]).find((e) => e.manager === manager && e.subresource === subresource)
    ?.fieldsV1;

let registry: WidgetRegistry;
beforeEach(() => {
  registry = new WidgetRegistry(new MemoryStorage(), { identity: { group: GROUP, version: 'v1' } });
});

test('an apply to the main resource neither changes nor owns status', async () => {
  const created = await registry.apply(
    'ns',
    'w',
    config({ spec: { image: 'nginx' }, status: { phase: 'Running' } }),
    opts('deployer'),
  );
  expect(created.created).toBe(true);
  expect(created.object.status?.phase).toBe('Pending');
  expect(fieldsOf(created.object, 'deployer')).toEqual({ 'f:spec': { 'f:image': {} } });
});

test('an apply to /status changes and owns only status', async () => {
  await registry.apply('ns', 'w', config({ spec: { image: 'nginx' } }), opts('deployer'));
  const applied = await registry.apply(
    'ns',
    'w',
    config({ spec: { image: 'httpd' }, status: { phase: 'Running', availableReplicas: 1 } }),
    opts('controller'),
    'status',
  );
  expect(applied.object.spec.image).toBe('nginx');
  expect(applied.object.status).toMatchObject({ phase: 'Running', availableReplicas: 1 });
  expect(fieldsOf(applied.object, 'controller', 'status')).toEqual({
    'f:status': { 'f:availableReplicas': {}, 'f:phase': {} },
  });
  await expect(
    registry.apply(
      'ns',
      'missing',
      { ...config({}), metadata: { name: 'missing' } },
      opts('controller'),
      'status',
    ),
  ).rejects.toMatchObject({
    code: 404,
  });
});

test('updates, patches and the scale subresource keep managedFields; a no-op write changes nothing', async () => {
  const { object } = await registry.create('ns', config({ spec: { image: 'nginx' } }), opts('creator'));
  // The creator owns what it sent with its defaults, as kube-apiserver records a create.
  expect(fieldsOf(object, 'creator')).toEqual({
    'f:spec': { '.': {}, 'f:color': {}, 'f:image': {}, 'f:replicas': {} },
  });
  const patched = await registry.patch(
    'ns',
    'w',
    'application/merge-patch+json',
    '{"spec":{"color":"red"}}',
    opts('painter'),
  );
  expect(fieldsOf(patched.object, 'painter')).toEqual({ 'f:spec': { 'f:color': {} } });
  const scaled = await registry.patchScale(
    'ns',
    'w',
    'application/merge-patch+json',
    '{"spec":{"replicas":4}}',
    opts('scaler'),
  );
  expect(scaled.object.spec.replicas).toBe(4);
  const after = await registry.get('ns', 'w');
  expect(fieldsOf(after, 'scaler', 'scale')).toEqual({ 'f:spec': { 'f:replicas': {} } });
  const again = await registry.patch(
    'ns',
    'w',
    'application/merge-patch+json',
    '{"spec":{"color":"red"}}',
    opts('painter'),
  );
  expect(again.object.metadata.resourceVersion).toBe(after.metadata.resourceVersion);
});

/** An update by `editor` that sends `object` with one Apply entry for `manager` owning `fieldsV1`. */
const updateWithManagedFields = (object: Widget, manager: string, fieldsV1: Record<string, unknown>) =>
  registry.update(
    'ns',
    'w',
    {
      ...object,
      metadata: {
        ...object.metadata,
        managedFields: [
          { manager, operation: 'Apply', apiVersion: `${GROUP}/v1`, fieldsType: 'FieldsV1', fieldsV1 },
        ],
      },
    },
    opts('editor'),
  );

test('a request that sends valid managedFields sets them; malformed ones are ignored', async () => {
  const { object } = await registry.create('ns', config({ spec: { image: 'nginx' } }), opts('creator'));
  const replaced = await updateWithManagedFields(object, 'adopted', { 'f:spec': { 'f:image': {} } });
  expect((replaced.object.metadata.managedFields as Any[]).map((e) => e.manager)).toEqual(['adopted']);
  const bad = await registry.update(
    'ns',
    'w',
    {
      ...replaced.object,
      metadata: { ...replaced.object.metadata, managedFields: [{ manager: 'x', operation: 'Merge' }] },
    },
    opts('editor'),
  );
  expect((bad.object.metadata.managedFields as Any[]).map((e) => e.manager)).toEqual(['adopted']);
});

test('managedFields a request sends are stored re-encoded, never as sent', async () => {
  const { object } = await registry.create('ns', config({ spec: { image: 'nginx' } }), opts('creator'));
  // Valid, but not canonical: members out of order, a redundant "." and content inside it.
  const sent = { 'f:spec': { 'f:replicas': {}, '.': { junk: 1 }, 'f:image': {} } };
  const replaced = await updateWithManagedFields(object, 'adopted', sent);
  const stored = fieldsOf(replaced.object, 'adopted');
  expect(stored).toEqual({ 'f:spec': { '.': {}, 'f:image': {}, 'f:replicas': {} } });
  expect(Object.keys(stored['f:spec'])).toEqual(['.', 'f:image', 'f:replicas']);
  // Sending back what was read keeps it as it is (the stored entries are reused, not re-encoded).
  const again = await registry.update('ns', 'w', replaced.object, opts('editor'));
  expect(again.object.metadata.managedFields).toEqual(replaced.object.metadata.managedFields);
});

test('objects read share their managedFields frozen; everything else is a copy of its own', async () => {
  await registry.create(
    'ns',
    config({ spec: { image: 'nginx' }, metadata: { name: 'w', labels: { a: 'b' } } }),
    opts('creator'),
  );
  const first = (await registry.get('ns', 'w')) as Widget;
  const second = (await registry.get('ns', 'w')) as Widget;
  expect(Object.isFrozen(first.metadata.managedFields)).toBe(true);
  expect(() => ((first.metadata.managedFields as Any[])[0].manager = 'someone')).toThrow(TypeError);
  first.metadata.labels!.a = 'changed';
  first.spec.image = 'changed';
  expect(second.metadata.labels!.a).toBe('b');
  expect(second.spec.image).toBe('nginx');
  expect(((await registry.get('ns', 'w')) as Widget).spec.image).toBe('nginx');
});
