/**
 * Server-side apply's core, checked against the behaviours structured-merge-diff's merge tests and
 * kube-apiserver's field manager specify (written here from those behaviours, not their code): FieldsV1,
 * field sets of Widgets, ownership on update, apply conflicts and force, removal of fields a manager
 * stops applying, keyed lists, sets, and ownership compared across versions.
 */
import { FieldSet, fieldElement, keyElement, valueElement } from '../../../src/widget-server/apply/fieldpath';
import { compare, toFieldSet } from '../../../src/widget-server/apply/typed';
import { merge, removeItems } from '../../../src/widget-server/apply/merge';
import {
  BEFORE_FIRST_APPLY,
  decodeManagedFields,
  encodeManagedFields,
  recordApply,
  recordUpdate,
  type VersionView,
} from '../../../src/widget-server/apply/field-manager';
import { WidgetCodec } from '../../../src/widget-server/api/codec';
import { widgetSchemas } from '../../../src/widget-server/apis/widgets';
import type { Widget } from '../../../src/widget-server/api/types';
import { ApiError } from '../../../src/shared/status-errors';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const GROUP = 'custom.example.com';
const codecs: Record<string, WidgetCodec> = {
  v1: new WidgetCodec(GROUP, 'v1'),
  v1alpha1: new WidgetCodec(GROUP, 'v1alpha1'),
};
const versionOf = (apiVersion: string) => apiVersion.split('/')[1];
const view: VersionView = {
  schema: (apiVersion) => widgetSchemas(versionOf(apiVersion)).object,
  encode: (obj, apiVersion) =>
    JSON.parse(JSON.stringify(codecs[versionOf(apiVersion)].encode(obj as Widget))),
};
const ops = (apiVersion: string) => ({
  merge,
  remove: removeItems,
  toHub: (o: Record<string, unknown>) => codecs[versionOf(apiVersion)].toHub(o),
});
const V1 = `${GROUP}/v1`;
const widget = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Widget =>
  ({ apiVersion: V1, kind: 'Widget', metadata: { name: 'w', namespace: 'ns', ...metadata }, spec }) as Widget;
const who = (manager: string, apiVersion = V1, subresource = '') => ({
  manager,
  apiVersion,
  subresource,
  time: '2026-12-07T00:00:00Z',
});
const owned = (managed: Map<string, Any>, manager: string) =>
  [...managed.values()]
    .filter((m) => m.manager === manager)
    .flatMap((m) => m.set.paths().map((p: string[]) => p.join('/')))
    .sort();

describe('FieldsV1', () => {
  test('round trips, with "." for a node that is also a member, in structured-merge-diff order', () => {
    const s = new FieldSet();
    s.insert([fieldElement('spec'), fieldElement('replicas')]);
    s.insert([fieldElement('status'), fieldElement('conditions'), keyElement({ type: 'Ready' })]);
    s.insert([
      fieldElement('status'),
      fieldElement('conditions'),
      keyElement({ type: 'Ready' }),
      fieldElement('status'),
    ]);
    s.insert([fieldElement('metadata'), fieldElement('finalizers'), valueElement('b')]);
    s.insert([fieldElement('metadata'), fieldElement('finalizers'), valueElement('a')]);
    const json = s.toFieldsV1();
    expect(json).toEqual({
      'f:metadata': { 'f:finalizers': { 'v:"a"': {}, 'v:"b"': {} } },
      'f:spec': { 'f:replicas': {} },
      'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {} } } },
    });
    expect(Object.keys((json['f:metadata'] as Any)['f:finalizers'])).toEqual(['v:"a"', 'v:"b"']);
    expect(FieldSet.fromFieldsV1(json).equals(s)).toBe(true);
  });

  test('malformed FieldsV1 is refused with the path of the fault', () => {
    expect(() =>
      decodeManagedFields([
        { manager: 'm', operation: 'Apply', apiVersion: V1, fieldsType: 'FieldsV1', fieldsV1: { 'x:y': {} } },
      ]),
    ).toThrow(/metadata.managedFields\[0\].fieldsV1: path element "x:y" has an unknown type/);
    expect(() =>
      decodeManagedFields([
        { manager: 'm', operation: 'Merge', apiVersion: V1, fieldsType: 'FieldsV1', fieldsV1: {} },
      ]),
    ).toThrow(/operation: must be Apply or Update/);
    expect(() => decodeManagedFields({})).toThrow(/must be a list/);
  });
});

describe('field sets and comparisons of Widgets', () => {
  const schema = widgetSchemas('v1').object;

  test('leaves, keyed list items, set members and free-form map entries are the fields', () => {
    const w = {
      metadata: { labels: { app: 'x' }, finalizers: ['a'] },
      spec: { image: 'nginx', replicas: 2 },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    };
    expect(
      toFieldSet(schema, w)
        .paths()
        .map((p) => p.join('/'))
        .sort(),
    ).toEqual(
      [
        'f:metadata/f:labels/f:app',
        'f:metadata/f:finalizers/v:"a"',
        'f:spec/f:image',
        'f:spec/f:replicas',
        'f:status/f:conditions/k:{"type":"Ready"}',
        'f:status/f:conditions/k:{"type":"Ready"}/f:type',
        'f:status/f:conditions/k:{"type":"Ready"}/f:status',
      ].sort(),
    );
  });

  test('a comparison names what was added, modified and removed', () => {
    const c = compare(schema, { spec: { image: 'a', replicas: 1 } }, { spec: { image: 'b', color: 'red' } });
    expect(c.modified.paths().map((p) => p.join('/'))).toEqual(['f:spec/f:image']);
    expect(c.added.paths().map((p) => p.join('/'))).toEqual(['f:spec/f:color']);
    expect(c.removed.paths().map((p) => p.join('/'))).toEqual(['f:spec/f:replicas']);
  });
});

describe('ownership on update', () => {
  test('a create owns every field it set, never the system metadata', () => {
    const managed = recordUpdate(
      view,
      new Map(),
      who('kubectl-create'),
      undefined,
      widget({ image: 'nginx', replicas: 1 }, { labels: { a: '1' } }),
    );
    // As for a custom resource, the maps a create adds are members too (`.` in FieldsV1).
    expect(owned(managed, 'kubectl-create')).toEqual([
      'f:metadata/f:labels',
      'f:metadata/f:labels/f:a',
      'f:spec',
      'f:spec/f:image',
      'f:spec/f:replicas',
    ]);
    const [entry] = encodeManagedFields(managed);
    expect(entry).toMatchObject({
      manager: 'kubectl-create',
      operation: 'Update',
      apiVersion: V1,
      fieldsType: 'FieldsV1',
      time: '2026-12-07T00:00:00Z',
    });
  });

  test('another manager changing a field takes it over; removing a field frees it', () => {
    const v0 = widget({ image: 'nginx', replicas: 1 });
    let managed = recordUpdate(view, new Map(), who('a'), undefined, v0);
    const v1 = widget({ image: 'nginx', replicas: 3 });
    managed = recordUpdate(view, managed, who('b'), v0, v1);
    expect(owned(managed, 'a')).toEqual(['f:spec', 'f:spec/f:image']);
    expect(owned(managed, 'b')).toEqual(['f:spec/f:replicas']);
    const v2 = widget({ image: 'nginx' });
    managed = recordUpdate(view, managed, who('c'), v1, v2);
    expect(owned(managed, 'b')).toEqual([]);
    expect(encodeManagedFields(managed).map((e) => e.manager)).toEqual(['a']);
  });
});

describe('apply', () => {
  const apply = (
    managed: Map<string, Any>,
    manager: string,
    live: Widget | undefined,
    config: Any,
    force = false,
    apiVersion = V1,
  ) =>
    recordApply(
      view,
      managed,
      who(manager, apiVersion),
      live,
      { apiVersion, kind: 'Widget', metadata: { name: 'w' }, ...config },
      force,
      ops(apiVersion),
    );

  test('owns exactly what it applies; re-applying the same is stable', () => {
    const first = apply(new Map(), 'deployer', undefined, { spec: { image: 'nginx', replicas: 2 } });
    expect(owned(first.managed, 'deployer')).toEqual(['f:spec/f:image', 'f:spec/f:replicas']);
    const live = codecs.v1.toHub(structuredClone(first.object));
    const again = apply(first.managed, 'deployer', live, { spec: { image: 'nginx', replicas: 2 } });
    expect(encodeManagedFields(again.managed)).toEqual(encodeManagedFields(first.managed));
  });

  test('a field another manager set differently is a conflict naming the field and the manager; force takes it', () => {
    const first = apply(new Map(), 'deployer', undefined, { spec: { image: 'nginx', replicas: 2 } });
    const live = codecs.v1.toHub(structuredClone(first.object));
    const scaled = { ...live, spec: { ...live.spec, replicas: 5 } } as Widget;
    const managed = recordUpdate(view, first.managed, who('kubectl-scale', V1, 'scale'), live, scaled);
    let err: unknown;
    try {
      apply(managed, 'deployer', scaled, { spec: { image: 'nginx', replicas: 2 } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    const status = (err as ApiError).toStatus();
    expect(status).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(status.message).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-scale" with subresource "scale" using custom.example.com/v1 at 2026-12-07T00:00:00Z: .spec.replicas',
    );
    expect(status.details!.causes).toEqual([
      {
        reason: 'FieldManagerConflict',
        message:
          'conflict with "kubectl-scale" with subresource "scale" using custom.example.com/v1 at 2026-12-07T00:00:00Z',
        field: '.spec.replicas',
      },
    ]);
    const forced = apply(managed, 'deployer', scaled, { spec: { image: 'nginx', replicas: 2 } }, true);
    expect((forced.object.spec as Any).replicas).toBe(2);
    expect(owned(forced.managed, 'kubectl-scale')).toEqual([]);
    expect(owned(forced.managed, 'deployer')).toEqual(['f:spec/f:image', 'f:spec/f:replicas']);
  });

  test('applying the value another manager already set is no conflict: both own it', () => {
    const first = apply(new Map(), 'a', undefined, { spec: { image: 'nginx', replicas: 2 } });
    const live = codecs.v1.toHub(structuredClone(first.object));
    const second = apply(first.managed, 'b', live, { spec: { replicas: 2 } });
    expect(owned(second.managed, 'a')).toEqual(['f:spec/f:image', 'f:spec/f:replicas']);
    expect(owned(second.managed, 'b')).toEqual(['f:spec/f:replicas']);
  });

  test('a field it stops applying is removed, unless another manager owns it', () => {
    const first = apply(new Map(), 'a', undefined, {
      metadata: { name: 'w', labels: { keep: '1', drop: '1', shared: '1' } },
      spec: { image: 'nginx' },
    });
    let live = codecs.v1.toHub(structuredClone(first.object));
    const other = apply(first.managed, 'b', live, { metadata: { name: 'w', labels: { shared: '1' } } });
    live = codecs.v1.toHub(structuredClone(other.object));
    const next = apply(other.managed, 'a', live, {
      metadata: { name: 'w', labels: { keep: '1' } },
      spec: { image: 'nginx' },
    });
    expect((next.object.metadata as Any).labels).toEqual({ keep: '1', shared: '1' });
  });

  test('a map it owned as a whole stays while fields below it are still applied', () => {
    const first = apply(new Map(), 'a', undefined, { spec: { image: 'nginx', replicas: 2 } });
    // As kubectl's upgrade from client-side apply leaves it: the entry owns `spec` itself too.
    const entries = encodeManagedFields(first.managed);
    (entries[0].fieldsV1 as Any)['f:spec']['.'] = {};
    const live = codecs.v1.toHub(structuredClone(first.object));
    const again = apply(decodeManagedFields(entries), 'a', live, { spec: { image: 'nginx', replicas: 2 } });
    expect(again.object.spec).toEqual({ image: 'nginx', replicas: 2, color: 'blue' });
  });

  test('keyed lists merge by key and sets by value; atomic lists are replaced', () => {
    const schema = widgetSchemas('v1').object;
    const merged = merge(
      schema,
      {
        metadata: { finalizers: ['a', 'b'] },
        status: {
          conditions: [
            { type: 'Ready', status: 'False' },
            { type: 'Synced', status: 'True' },
          ],
        },
      },
      { metadata: { finalizers: ['c'] }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    ) as Any;
    expect(merged.metadata.finalizers).toEqual(['a', 'b', 'c']);
    // A list without a list type is atomic: the configuration's replaces the live one whole.
    const atomic = merge(
      schema,
      { metadata: { managedFields: [{ a: 1 }, { b: 2 }] } },
      { metadata: { managedFields: [{ c: 3 }] } },
    ) as Any;
    expect(atomic.metadata.managedFields).toEqual([{ c: 3 }]);
    expect(merged.status.conditions).toEqual([
      { type: 'Ready', status: 'True' },
      { type: 'Synced', status: 'True' },
    ]);
    const removed = removeItems(
      schema,
      merged,
      FieldSet.fromFieldsV1({ 'f:metadata': { 'f:finalizers': { 'v:"b"': {} } } }),
    ) as Any;
    expect(removed.metadata.finalizers).toEqual(['a', 'c']);
    // What removal empties goes with it, as structured-merge-diff leaves it null and kube-apiserver omits it.
    const emptied = removeItems(
      schema,
      { metadata: { name: 'w', labels: { a: '1' }, finalizers: ['a'] }, spec: { image: 'nginx' } },
      FieldSet.fromFieldsV1({ 'f:metadata': { 'f:labels': { 'f:a': {} }, 'f:finalizers': { 'v:"a"': {} } } }),
    ) as Any;
    expect(emptied).toEqual({ metadata: { name: 'w' }, spec: { image: 'nginx' } });
    expect(Object.keys(emptied.metadata)).toEqual(['name']);
    // An empty map nobody removed anything from stays.
    expect(
      removeItems(
        schema,
        { metadata: { labels: {} }, spec: { image: 'x' } },
        FieldSet.fromFieldsV1({ 'f:spec': { 'f:image': {} } }),
      ),
    ).toEqual({ metadata: { labels: {} } });
  });

  test("ownership is compared in each manager's version: spec.size at v1alpha1 is spec.replicas at v1", () => {
    const first = apply(
      new Map(),
      'alpha-client',
      undefined,
      { spec: { image: 'nginx', size: 2 } },
      false,
      `${GROUP}/v1alpha1`,
    );
    expect(owned(first.managed, 'alpha-client')).toEqual(['f:spec/f:image', 'f:spec/f:size']);
    const live = codecs.v1alpha1.toHub(structuredClone(first.object));
    expect(live.spec.replicas).toBe(2);
    expect(() => apply(first.managed, 'v1-client', live, { spec: { replicas: 4 } })).toThrow(
      /conflict with "alpha-client": .spec.size/,
    );
  });

  test('an object without managed fields gives what it has to before-first-apply', () => {
    const live = widget({ image: 'nginx', replicas: 3 });
    const applied = apply(new Map(), 'a', live, { spec: { image: 'nginx' } });
    expect(owned(applied.managed, BEFORE_FIRST_APPLY)).toEqual([
      'f:spec',
      'f:spec/f:image',
      'f:spec/f:replicas',
    ]);
  });
});
