/**
 * The documents the server publishes: OpenAPI v2/v3, discovery (aggregated v2 and legacy), /version,
 * the Table and PartialObjectMetadata forms, and the Scale view.
 */
import {
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  versionInfo,
} from '../../../src/widget-server/api/discovery';
import { openApiV2, openApiV3GroupVersion, openApiV3Root } from '../../../src/widget-server/api/openapi';
import { applyScaleToWidget, widgetToScale } from '../../../src/widget-server/api/scale';
import {
  humanDuration,
  partialObjectMetadata,
  partialObjectMetadataList,
  widgetTable,
} from '../../../src/widget-server/api/table';
import type { Widget } from '../../../src/widget-server/api/types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const id = { group: 'custom.example.com', version: 'v1' };
const WIDGET_GVK = { group: 'custom.example.com', version: 'v1', kind: 'Widget' };
const SCALE_GVK = { group: 'autoscaling', version: 'v1', kind: 'Scale' };
const BASE = '/apis/custom.example.com/v1';
const ITEM = `${BASE}/namespaces/{namespace}/widgets/{name}`;
const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

/** Every schema and property has a description, so `kubectl explain` has something to say. */
function undocumented(schemas: Record<string, Any>): string[] {
  const out: string[] = [];
  const walk = (s: Any, p: string) => {
    if (!s.description) out.push(p);
    for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${p}.${k}`);
  };
  for (const [name, s] of Object.entries(schemas)) if (name.includes('.v1.')) walk(s, name);
  return out;
}

describe('OpenAPI v2', () => {
  const doc = openApiV2(id) as Any;

  test('is Swagger 2.0 with kube definition names', () => {
    expect(doc.swagger).toBe('2.0');
    expect(Object.keys(doc.definitions)).toEqual(
      expect.arrayContaining([
        'com.example.custom.v1.Widget',
        'com.example.custom.v1.WidgetList',
        'com.example.custom.v1.WidgetSpec',
        'com.example.custom.v1.WidgetStatus',
        'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
        'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta',
        'io.k8s.apimachinery.pkg.apis.meta.v1.Condition',
        'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions',
        'io.k8s.apimachinery.pkg.apis.meta.v1.Status',
        'io.k8s.api.autoscaling.v1.Scale',
      ]),
    );
    expect(doc.definitions['com.example.custom.v1.Widget']['x-kubernetes-group-version-kind']).toEqual([
      WIDGET_GVK,
    ]);
    expect(doc.definitions['com.example.custom.v1.WidgetList']['x-kubernetes-group-version-kind']).toEqual([
      { ...WIDGET_GVK, kind: 'WidgetList' },
    ]);
    expect(doc.definitions['io.k8s.api.autoscaling.v1.Scale']['x-kubernetes-group-version-kind']).toEqual([
      SCALE_GVK,
    ]);
  });

  test('the spec schema carries the enum, default, bounds and required image', () => {
    const spec = doc.definitions['com.example.custom.v1.WidgetSpec'];
    expect(spec.required).toEqual(['image']);
    expect(spec.properties.color.enum).toEqual([
      'blue',
      'green',
      'red',
      'yellow',
      'purple',
      'orange',
      'black',
      'white',
    ]);
    expect(spec.properties.color.default).toBe('blue');
    expect(spec.properties.replicas).toMatchObject({
      type: 'integer',
      format: 'int32',
      minimum: 0,
      maximum: 100,
    });
    expect(undocumented(doc.definitions)).toEqual([]);
  });

  test('paths for the collection, item, status, scale and all namespaces', () => {
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        `${BASE}/namespaces/{namespace}/widgets`,
        ITEM,
        `${ITEM}/status`,
        `${ITEM}/scale`,
        `${BASE}/widgets`,
      ].sort(),
    );
    const item = doc.paths[ITEM];
    for (const method of ['get', 'put', 'patch', 'delete']) {
      expect(item[method]['x-kubernetes-group-version-kind']).toEqual(WIDGET_GVK);
    }
    expect(item.get['x-kubernetes-action']).toBe('get');
    expect(item.patch['x-kubernetes-action']).toBe('patch');
    expect(item.patch.consumes).toEqual(PATCH_TYPES);
    const patchParams = item.patch.parameters.map((p: Any) => p.name);
    expect(patchParams).toEqual(
      expect.arrayContaining(['body', 'fieldValidation', 'dryRun', 'fieldManager']),
    );
    expect(doc.paths[`${ITEM}/scale`].patch['x-kubernetes-group-version-kind']).toEqual(SCALE_GVK);
    const collection = doc.paths[`${BASE}/namespaces/{namespace}/widgets`];
    expect(collection.get['x-kubernetes-action']).toBe('list');
    expect(collection.post['x-kubernetes-action']).toBe('post');
    expect(collection.delete['x-kubernetes-action']).toBe('deletecollection');
    expect(collection.post.parameters.map((p: Any) => p.name)).toContain('fieldValidation');
    expect(collection.get.parameters.map((p: Any) => p.name)).toEqual(
      expect.arrayContaining([
        'labelSelector',
        'fieldSelector',
        'watch',
        'resourceVersion',
        'limit',
        'continue',
      ]),
    );
  });

  test('the group is the configured one', () => {
    const other = openApiV2({ group: 'widgets.acme.io', version: 'v1' }) as Any;
    expect(other.definitions['io.acme.widgets.v1.Widget']['x-kubernetes-group-version-kind']).toEqual([
      { group: 'widgets.acme.io', version: 'v1', kind: 'Widget' },
    ]);
    expect(Object.keys(other.paths).every((p) => p.startsWith('/apis/widgets.acme.io/v1/'))).toBe(true);
  });
});

describe('OpenAPI v3', () => {
  const doc = openApiV3GroupVersion(id) as Any;

  test('is OpenAPI 3 with components.schemas and GVKs', () => {
    expect(doc.openapi).toMatch(/^3\.0/);
    expect(doc.components.schemas['com.example.custom.v1.Widget']['x-kubernetes-group-version-kind']).toEqual(
      [WIDGET_GVK],
    );
    expect(undocumented(doc.components.schemas)).toEqual([]);
    const json = JSON.stringify(doc);
    for (const m of json.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      expect(doc.components.schemas[m[1]]).toBeDefined();
    }
  });

  test('PATCH lists the patch media types and the fieldValidation query parameter', () => {
    for (const path of [ITEM, `${ITEM}/status`, `${ITEM}/scale`]) {
      const patch = doc.paths[path].patch;
      expect(Object.keys(patch.requestBody.content)).toEqual(PATCH_TYPES);
      const fv = patch.parameters.find((p: Any) => p.name === 'fieldValidation');
      expect(fv).toMatchObject({ in: 'query', schema: { type: 'string' } });
      expect(patch['x-kubernetes-action']).toBe('patch');
    }
    expect(doc.paths[ITEM].patch['x-kubernetes-group-version-kind']).toEqual(WIDGET_GVK);
    expect(doc.paths[`${ITEM}/scale`].get['x-kubernetes-group-version-kind']).toEqual(SCALE_GVK);
  });

  test('the root points at the group/version with its hash', () => {
    expect(openApiV3Root(id, 'ABC123')).toEqual({
      paths: {
        'apis/custom.example.com/v1': {
          serverRelativeURL: '/openapi/v3/apis/custom.example.com/v1?hash=ABC123',
        },
      },
    });
  });
});

describe('discovery', () => {
  test('aggregated discovery v2', () => {
    const doc = aggregatedDiscovery(id) as Any;
    expect(doc.kind).toBe('APIGroupDiscoveryList');
    expect(doc.apiVersion).toBe('apidiscovery.k8s.io/v2');
    expect(doc.items).toHaveLength(1);
    expect(doc.items[0].metadata.name).toBe('custom.example.com');
    const version = doc.items[0].versions[0];
    expect(version).toMatchObject({ version: 'v1', freshness: 'Current' });
    const [widgets] = version.resources;
    expect(widgets).toMatchObject({
      resource: 'widgets',
      responseKind: WIDGET_GVK,
      scope: 'Namespaced',
      singularResource: 'widget',
      shortNames: ['wg'],
      categories: ['all'],
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    });
    const subs = Object.fromEntries(widgets.subresources.map((s: Any) => [s.subresource, s]));
    expect(subs.status).toEqual({
      subresource: 'status',
      responseKind: WIDGET_GVK,
      verbs: ['get', 'patch', 'update'],
    });
    expect(subs.scale).toEqual({
      subresource: 'scale',
      responseKind: SCALE_GVK,
      verbs: ['get', 'patch', 'update'],
    });
  });

  test('legacy APIGroupList, APIGroup and APIResourceList', () => {
    const gv = { groupVersion: 'custom.example.com/v1', version: 'v1' };
    expect(apiGroup(id)).toEqual({
      kind: 'APIGroup',
      apiVersion: 'v1',
      name: 'custom.example.com',
      versions: [gv],
      preferredVersion: gv,
    });
    expect(apiGroupList(id)).toEqual({
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [{ name: 'custom.example.com', versions: [gv], preferredVersion: gv }],
    });
    const list = apiResourceList(id) as Any;
    expect(list).toMatchObject({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'custom.example.com/v1',
    });
    const byName = Object.fromEntries(list.resources.map((r: Any) => [r.name, r]));
    expect(byName.widgets).toMatchObject({
      singularName: 'widget',
      namespaced: true,
      kind: 'Widget',
      shortNames: ['wg'],
      categories: ['all'],
    });
    expect(byName['widgets/status']).toMatchObject({
      namespaced: true,
      kind: 'Widget',
      verbs: ['get', 'patch', 'update'],
    });
    expect(byName['widgets/scale']).toMatchObject({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
  });

  test('/version', () => {
    const v = versionInfo() as Any;
    expect(v).toMatchObject({ major: '0', minor: '1', gitVersion: 'v0.1.0', compiler: 'tsc' });
    expect(v.goVersion).toContain(process.versions.node);
    expect(v.platform).toBe(`${process.platform}/${process.arch}`);
    for (const key of ['gitCommit', 'gitTreeState', 'buildDate']) expect(typeof v[key]).toBe('string');
  });
});

describe('Table and PartialObjectMetadata', () => {
  const w: Widget = {
    apiVersion: 'custom.example.com/v1',
    kind: 'Widget',
    metadata: {
      name: 'w1',
      namespace: 'ns',
      uid: 'u',
      resourceVersion: '7',
      creationTimestamp: '2026-01-01T00:00:00Z',
    },
    spec: { image: 'nginx', replicas: 3, color: 'red' },
    status: { phase: 'Running', availableReplicas: 2 },
  };
  const now = new Date('2026-01-03T04:00:00Z');

  test('columns, cells and list metadata', () => {
    const table = widgetTable([w], {
      includeObject: 'None',
      listMeta: { resourceVersion: '9', continue: 'c' },
      now,
    }) as Any;
    expect(table.kind).toBe('Table');
    expect(table.apiVersion).toBe('meta.k8s.io/v1');
    expect(table.metadata).toEqual({ resourceVersion: '9', continue: 'c' });
    expect(table.columnDefinitions.map((c: Any) => [c.name, c.type, c.format, c.priority])).toEqual([
      ['Name', 'string', 'name', 0],
      ['Replicas', 'integer', '', 0],
      ['Available', 'integer', '', 0],
      ['Color', 'string', '', 1],
      ['Phase', 'string', '', 0],
      ['Age', 'date', '', 0],
    ]);
    for (const c of table.columnDefinitions) expect(c.description).toBeTruthy();
    expect(table.rows).toEqual([{ cells: ['w1', 3, 2, 'red', 'Running', '2d4h'] }]);
  });

  test('includeObject picks what each row carries', () => {
    const meta = widgetTable([w], { includeObject: 'Metadata', listMeta: {}, now }) as Any;
    expect(meta.rows[0].object).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: w.metadata,
    });
    const full = widgetTable([w], { includeObject: 'Object', listMeta: {}, now }) as Any;
    expect(full.rows[0].object).toEqual(w);
  });

  test('noHeaders drops the column definitions; an empty list has no rows', () => {
    const table = widgetTable([], { includeObject: 'None', listMeta: {}, noHeaders: true, now }) as Any;
    expect(table.columnDefinitions).toEqual([]);
    expect(table.rows).toEqual([]);
  });

  test('a widget without status or timestamp prints defaults', () => {
    const bare = { ...w, metadata: { name: 'b' }, spec: { image: 'x' }, status: undefined };
    const table = widgetTable([bare], { includeObject: 'None', listMeta: {}, now }) as Any;
    expect(table.rows[0].cells).toEqual(['b', 0, 0, '', '', '<unknown>']);
  });

  test('PartialObjectMetadataList', () => {
    expect(partialObjectMetadata(w)).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: w.metadata,
    });
    expect(partialObjectMetadataList([], { resourceVersion: '3' })).toEqual({
      kind: 'PartialObjectMetadataList',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion: '3' },
      items: [],
    });
    expect((partialObjectMetadataList([w], {}) as Any).items).toEqual([partialObjectMetadata(w)]);
  });

  test.each([
    [-3000, '<invalid>'],
    [-1500, '0s'],
    [0, '0s'],
    [5e3, '5s'],
    [119e3, '119s'],
    [120e3, '2m'],
    [150e3, '2m30s'],
    [35 * 60e3, '35m'],
    [179 * 60e3, '179m'],
    [5 * 3600e3, '5h'],
    [5 * 3600e3 + 20 * 60e3, '5h20m'],
    [30 * 3600e3, '30h'],
    [3 * 86400e3 + 3600e3, '3d1h'],
    [7 * 86400e3, '7d'],
    [400 * 86400e3, '400d'],
    [3 * 365 * 86400e3 + 10 * 86400e3, '3y10d'],
    [9 * 365 * 86400e3, '9y'],
  ])('humanDuration(%d ms) is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('scale', () => {
  const w: Widget = {
    apiVersion: 'custom.example.com/v1',
    kind: 'Widget',
    metadata: {
      name: 'w1',
      namespace: 'ns',
      uid: 'u',
      resourceVersion: '7',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { a: 'b' },
    },
    spec: { image: 'nginx', replicas: 3 },
    status: { availableReplicas: 2 },
  };

  test('widgetToScale', () => {
    expect(widgetToScale(w)).toEqual({
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: {
        name: 'w1',
        namespace: 'ns',
        uid: 'u',
        resourceVersion: '7',
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      spec: { replicas: 3 },
      status: { replicas: 2, selector: 'app.kubernetes.io/instance=w1' },
    });
    expect(widgetToScale({ ...w, status: undefined }).status.replicas).toBe(0);
  });

  test('applyScaleToWidget sets spec.replicas only', () => {
    const scale = widgetToScale(w);
    scale.spec.replicas = 9;
    const next = applyScaleToWidget(structuredClone(w), scale);
    expect(next).toEqual({ ...w, spec: { image: 'nginx', replicas: 9 } });
  });
});
