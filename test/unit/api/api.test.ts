/**
 * Unit tests of the Widget API's pure functions: selectors, decoding, validation messages, strategic
 * merge patch (including the garbage collector's patches), table rendering and the OpenAPI documents.
 */
import { ApiError, invalid } from '../../../src/shared/status-errors';
import { decodeWidget } from '../../../src/widget-server/api/decode';
import { openApiV2, openApiV3GroupVersion } from '../../../src/widget-server/api/openapi';
import {
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from '../../../src/widget-server/api/selectors';
import { strategicMergePatch } from '../../../src/widget-server/api/strategic-merge-patch';
import { humanDuration, widgetTable } from '../../../src/widget-server/api/table';
import type { Widget } from '../../../src/widget-server/api/types';
import { validateWidgetCreate } from '../../../src/widget-server/api/validation';

const id = { group: 'custom.example.com', version: 'v1' };
const base = {
  apiVersion: 'custom.example.com/v1',
  kind: 'Widget',
  metadata: { name: 'w', namespace: 'ns' },
};

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front' };
  test.each([
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app in (web,db)', true],
    ['app notin (web)', false],
    ['tier', true],
    ['!tier', false],
    ['missing!=x', true],
    ['app=web,tier in (back)', false],
  ])('%s matches: %s', (selector, expected) => {
    expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(expected);
  });

  test('syntax errors are 400s', () => {
    expect(() => parseLabelSelector('app in (')).toThrow(ApiError);
    expect(() => parseLabelSelector('bad key=x')).toThrow(/unable to parse requirement/);
    expect(() => parseFieldSelector('spec.color=blue', ['metadata.name'])).toThrow(
      'field label not supported: spec.color',
    );
  });
});

describe('decoding', () => {
  test('strict, warn and ignore for unknown fields; unknown fields are pruned', () => {
    const body = { ...base, spec: { image: 'x', foo: 1 }, extra: true };
    expect(() => decodeWidget(body, { identity: id, fieldValidation: 'Strict' })).toThrow(
      'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.foo", unknown field "extra"',
    );
    const warned = decodeWidget(body, { identity: id, fieldValidation: 'Warn' });
    expect(warned.warnings).toEqual(['unknown field "spec.foo"', 'unknown field "extra"']);
    expect(warned.widget.spec).toEqual({ image: 'x' });
    expect(decodeWidget(body, { identity: id, fieldValidation: 'Ignore' }).warnings).toEqual([]);
  });

  test('type errors read like Go decoding errors', () => {
    expect(() =>
      decodeWidget(
        { ...base, spec: { image: 'x', replicas: '3' } },
        { identity: id, fieldValidation: 'Warn' },
      ),
    ).toThrow('json: cannot unmarshal string into Go struct field WidgetSpec.spec.replicas of type int32');
    expect(() =>
      decodeWidget({ ...base, apiVersion: 'other/v1' }, { identity: id, fieldValidation: 'Warn' }),
    ).toThrow(
      'the API version in the data (other/v1) does not match the expected API version (custom.example.com/v1)',
    );
  });
});

describe('validation', () => {
  test('spec and metadata errors carry kube-apiserver field paths and messages', () => {
    const w = {
      ...base,
      metadata: { name: 'Bad_Name', namespace: 'ns' },
      spec: { image: 'UPPER CASE', replicas: 101, color: 'pink' },
    } as unknown as Widget;
    const errs = validateWidgetCreate(w);
    expect(errs.map((e) => e.field)).toEqual(['metadata.name', 'spec.image', 'spec.replicas', 'spec.color']);
    const status = invalid('custom.example.com', 'Widget', 'Bad_Name', errs).toStatus();
    expect(status.code).toBe(422);
    expect(status.message).toMatch(
      /^Widget.custom.example.com "Bad_Name" is invalid: \[metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    expect(status.details!.causes![3]).toEqual({
      reason: 'FieldValueNotSupported',
      field: 'spec.color',
      message:
        'Unsupported value: "pink": supported values: "blue", "green", "red", "yellow", "purple", "orange", "black", "white"',
    });
  });

  test('image references', () => {
    const ok = [
      'nginx',
      'nginx:1.27',
      'registry.example.com:5000/team/app:v1',
      `busybox@sha256:${'a'.repeat(64)}`,
    ];
    for (const image of ok)
      expect(validateWidgetCreate({ ...base, spec: { image } } as unknown as Widget)).toEqual([]);
    for (const image of ['Nginx', 'nginx:', 'a//b', 'x@sha256:12']) {
      expect(validateWidgetCreate({ ...base, spec: { image } } as unknown as Widget)[0]?.field).toBe(
        'spec.image',
      );
    }
  });
});

describe('strategic merge patch', () => {
  const original = {
    metadata: {
      finalizers: ['orphan', 'example.com/keep'],
      ownerReferences: [
        { uid: 'u1', name: 'a' },
        { uid: 'u2', name: 'b' },
      ],
      labels: { a: '1', b: '2' },
    },
    status: { conditions: [{ type: 'Ready', status: 'False' }] },
  };

  test("the garbage collector's ownerReference removal", () => {
    const out = strategicMergePatch(original, {
      metadata: { ownerReferences: [{ $patch: 'delete', uid: 'u1' }], uid: 'x' },
    });
    expect((out.metadata as { ownerReferences: unknown[] }).ownerReferences).toEqual([
      { uid: 'u2', name: 'b' },
    ]);
  });

  test('finalizers merge as a set and $deleteFromPrimitiveList removes', () => {
    const added = strategicMergePatch(original, { metadata: { finalizers: ['example.com/new', 'orphan'] } });
    expect((added.metadata as { finalizers: string[] }).finalizers).toEqual([
      'orphan',
      'example.com/keep',
      'example.com/new',
    ]);
    const removed = strategicMergePatch(original, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['orphan'] },
    });
    expect((removed.metadata as { finalizers: string[] }).finalizers).toEqual(['example.com/keep']);
  });

  test('conditions merge by type; maps merge; null deletes; $patch replace', () => {
    const out = strategicMergePatch(original, {
      metadata: { labels: { a: null, c: '3' } },
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'Synced', status: 'True' },
        ],
      },
    });
    expect((out.metadata as { labels: object }).labels).toEqual({ b: '2', c: '3' });
    expect((out.status as { conditions: unknown[] }).conditions).toEqual([
      { type: 'Ready', status: 'True' },
      { type: 'Synced', status: 'True' },
    ]);
    const replaced = strategicMergePatch(original, { metadata: { labels: { $patch: 'replace', z: '9' } } });
    expect((replaced.metadata as { labels: object }).labels).toEqual({ z: '9' });
    expect(() => strategicMergePatch(original, { metadata: { $patch: 'explode' } })).toThrow(ApiError);
  });
});

describe('printing and OpenAPI', () => {
  test('human durations as kubectl prints them', () => {
    expect(
      [5e3, 150e3, 35 * 60e3, 5 * 3600e3, 30 * 3600e3, 3 * 86400e3 + 3600e3, 400 * 86400e3].map(
        humanDuration,
      ),
    ).toEqual(['5s', '2m30s', '35m', '5h', '30h', '3d1h', '400d']);
  });

  test('table rows follow the columns', () => {
    const w = {
      ...base,
      metadata: { ...base.metadata, creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { image: 'x', replicas: 3, color: 'red' },
      status: { phase: 'Running', availableReplicas: 2 },
    } as unknown as Widget;
    const table = widgetTable([w], {
      includeObject: 'None',
      listMeta: {},
      now: new Date('2026-01-01T00:00:10Z'),
    }) as { rows: Array<{ cells: unknown[]; object?: unknown }> };
    expect(table.rows[0]).toEqual({ cells: ['w', 3, 2, 'red', 'Running', '10s'] });
  });

  test('documents advertise field validation, patch types and GVKs', () => {
    const v3 = openApiV3GroupVersion(id) as {
      paths: Record<
        string,
        Record<string, { parameters: Array<{ name: string }>; requestBody?: { content: object } }>
      >;
    };
    const item = v3.paths['/apis/custom.example.com/v1/namespaces/{namespace}/widgets/{name}'];
    expect(item.patch.parameters.map((p) => p.name)).toContain('fieldValidation');
    expect(Object.keys(item.patch.requestBody!.content)).toContain('application/strategic-merge-patch+json');
    const v2 = openApiV2(id) as {
      definitions: Record<string, { 'x-kubernetes-group-version-kind'?: unknown }>;
    };
    expect(v2.definitions['com.example.custom.v1.Widget']['x-kubernetes-group-version-kind']).toEqual([
      { group: 'custom.example.com', version: 'v1', kind: 'Widget' },
    ]);
  });
});
