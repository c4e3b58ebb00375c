/**
 * Decoding request bodies like kube-apiserver's JSON decoder: apiVersion/kind checks, Go-style type
 * errors, unknown fields under fieldValidation Strict/Warn/Ignore, Scale and DeleteOptions bodies.
 */
import { ApiError } from '../../../src/shared/status-errors';
import { decodeDeleteOptions, decodeScale, decodeWidget } from '../../../src/widget-server/api/decode';

const identity = { group: 'custom.example.com', version: 'v1' };
const base = {
  apiVersion: 'custom.example.com/v1',
  kind: 'Widget',
  metadata: { name: 'w', namespace: 'ns' },
};
const strict = { identity, fieldValidation: 'Strict' as const };

function thrown(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}

describe('decodeWidget', () => {
  test('a valid body decodes unchanged with no warnings', () => {
    const body = {
      ...base,
      metadata: {
        ...base.metadata,
        labels: { a: 'b' },
        annotations: { x: 'y' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: 'u', controller: true }],
        finalizers: ['example.com/f'],
        managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
        generation: 2,
      },
      spec: { image: 'nginx:1.27', replicas: 3, color: 'red' },
      status: {
        phase: 'Running',
        availableReplicas: 3,
        lastUpdated: '2026-01-01T00:00:00Z',
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Ok',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
            observedGeneration: 2,
          },
        ],
      },
    };
    const { widget, warnings } = decodeWidget(structuredClone(body), strict);
    expect(warnings).toEqual([]);
    expect(widget).toEqual(body);
  });

  test('missing metadata and spec become empty objects', () => {
    const { widget } = decodeWidget({ apiVersion: base.apiVersion, kind: 'Widget' }, strict);
    expect(widget.metadata).toEqual({});
    expect(widget.spec).toEqual({});
  });

  test('unknown fields: Strict rejects with every path, Warn warns, Ignore is silent; all prune', () => {
    const body = {
      ...base,
      metadata: { ...base.metadata, bogus: 1, ownerReferences: [{ uid: 'u', extra: true }] },
      spec: { image: 'x', foo: 1 },
      status: { conditions: [{ type: 'A', nope: 'x' }] },
      extra: true,
    };
    const err = thrown(() => decodeWidget(body, strict));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toBe(
      'Widget in version "v1" cannot be handled as a Widget: strict decoding error: ' +
        'unknown field "metadata.bogus", unknown field "metadata.ownerReferences[0].extra", ' +
        'unknown field "spec.foo", unknown field "status.conditions[0].nope", unknown field "extra"',
    );
    const warned = decodeWidget(body, { identity, fieldValidation: 'Warn' });
    expect(warned.warnings).toEqual([
      'unknown field "metadata.bogus"',
      'unknown field "metadata.ownerReferences[0].extra"',
      'unknown field "spec.foo"',
      'unknown field "status.conditions[0].nope"',
      'unknown field "extra"',
    ]);
    expect(warned.widget).toEqual({
      ...base,
      metadata: { ...base.metadata, ownerReferences: [{ uid: 'u' }] },
      spec: { image: 'x' },
      status: { conditions: [{ type: 'A' }] },
    });
    const ignored = decodeWidget(body, { identity, fieldValidation: 'Ignore' });
    expect(ignored.warnings).toEqual([]);
    expect(ignored.widget).toEqual(warned.widget);
  });

  test('nulls are dropped like absent fields', () => {
    const { widget } = decodeWidget({ ...base, spec: { image: 'x', color: null }, status: null }, strict);
    expect(widget.spec).toEqual({ image: 'x' });
    expect('status' in widget).toBe(false);
  });

  test.each([
    [
      { spec: { image: 'x', replicas: '3' } },
      'json: cannot unmarshal string into Go struct field WidgetSpec.spec.replicas of type int32',
    ],
    [
      { spec: { image: 'x', replicas: 1.5 } },
      'json: cannot unmarshal number 1.5 into Go struct field WidgetSpec.spec.replicas of type int32',
    ],
    [
      { spec: { image: 'x', replicas: 3000000000 } },
      'json: cannot unmarshal number 3000000000 into Go struct field WidgetSpec.spec.replicas of type int32',
    ],
    [
      { spec: { image: 7 } },
      'json: cannot unmarshal number into Go struct field WidgetSpec.spec.image of type string',
    ],
    [{ spec: 'x' }, 'json: cannot unmarshal string into Go struct field Widget.spec of type v1.WidgetSpec'],
    [
      { metadata: { name: 'w', labels: { a: 1 } } },
      'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string',
    ],
    [
      { metadata: { name: 'w', labels: ['a'] } },
      'json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string',
    ],
    [
      { metadata: { name: 'w', finalizers: 'a' } },
      'json: cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type []string',
    ],
    [
      { metadata: { name: 'w', ownerReferences: [{ controller: 'yes' }] } },
      'json: cannot unmarshal string into Go struct field OwnerReference.metadata.ownerReferences.controller of type bool',
    ],
    [
      { status: { conditions: [{ observedGeneration: 'x' }] } },
      'json: cannot unmarshal string into Go struct field Condition.status.conditions.observedGeneration of type int64',
    ],
  ])('type error %j', (patch, detail) => {
    const err = thrown(() => decodeWidget({ ...base, ...patch }, { identity, fieldValidation: 'Ignore' }));
    expect(err.code).toBe(400);
    expect(err.message).toBe(`Widget in version "v1" cannot be handled as a Widget: ${detail}`);
  });

  test('apiVersion and kind are required and must match', () => {
    expect(thrown(() => decodeWidget({ apiVersion: base.apiVersion, metadata: {} }, strict)).message).toBe(
      `Object 'Kind' is missing in '{"apiVersion":"custom.example.com/v1","metadata":{}}'`,
    );
    expect(thrown(() => decodeWidget({ kind: 'Widget' }, strict)).message).toBe(
      `Object 'apiVersion' is missing in '{"kind":"Widget"}'`,
    );
    const version = thrown(() => decodeWidget({ ...base, apiVersion: 'custom.example.com/v2' }, strict));
    expect(version.code).toBe(400);
    expect(version.message).toBe(
      'the API version in the data (custom.example.com/v2) does not match the expected API version (custom.example.com/v1)',
    );
    expect(thrown(() => decodeWidget({ ...base, kind: 'Gadget' }, strict)).message).toBe(
      'the kind in the data (Gadget) does not match the expected kind (Widget)',
    );
    for (const body of [[], 'x', 3, null]) {
      const err = thrown(() => decodeWidget(body, strict));
      expect(err.code).toBe(400);
      expect(err.message).toMatch(/^couldn't get version\/kind; json parse error: json: cannot unmarshal/);
    }
  });

  test('the group comes from the identity', () => {
    const other = { group: 'widgets.acme.io', version: 'v1' };
    const { widget } = decodeWidget(
      { ...base, apiVersion: 'widgets.acme.io/v1' },
      { identity: other, fieldValidation: 'Strict' },
    );
    expect(widget.apiVersion).toBe('widgets.acme.io/v1');
    expect(() => decodeWidget(base, { identity: other, fieldValidation: 'Strict' })).toThrow(
      '(widgets.acme.io/v1)',
    );
  });
});

describe('decodeScale', () => {
  const scale = {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: 'w', namespace: 'ns', resourceVersion: '5' },
    spec: { replicas: 4 },
    status: { replicas: 2, selector: 'a=b' },
  };

  test('decodes an autoscaling/v1 Scale', () => {
    expect(decodeScale(structuredClone(scale), { fieldValidation: 'Strict' })).toEqual({
      scale,
      warnings: [],
    });
  });

  test('unknown fields and type errors follow the Widget rules', () => {
    const body = { ...scale, spec: { replicas: 1, surge: 2 } };
    expect(() => decodeScale(body, { fieldValidation: 'Strict' })).toThrow(
      'Scale in version "v1" cannot be handled as a Scale: strict decoding error: unknown field "spec.surge"',
    );
    const warned = decodeScale(body, { fieldValidation: 'Warn' });
    expect(warned.warnings).toEqual(['unknown field "spec.surge"']);
    expect(warned.scale.spec).toEqual({ replicas: 1 });
    expect(() => decodeScale({ ...scale, spec: { replicas: 'x' } }, { fieldValidation: 'Ignore' })).toThrow(
      'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string into Go struct field ScaleSpec.spec.replicas of type int32',
    );
    expect(() =>
      decodeScale({ ...scale, apiVersion: 'autoscaling/v2' }, { fieldValidation: 'Ignore' }),
    ).toThrow(
      'the API version in the data (autoscaling/v2) does not match the expected API version (autoscaling/v1)',
    );
  });

  test('a minimal Scale gets empty spec and status', () => {
    const { scale: s } = decodeScale(
      { apiVersion: 'autoscaling/v1', kind: 'Scale' },
      { fieldValidation: 'Strict' },
    );
    expect(s.metadata).toEqual({});
    expect(s.spec).toEqual({});
    expect(s.status).toEqual({ replicas: 0 });
  });
});

describe('decodeDeleteOptions', () => {
  test('no body is empty options', () => {
    expect(decodeDeleteOptions(undefined)).toEqual({});
    expect(decodeDeleteOptions(null)).toEqual({});
  });

  test('accepts v1, meta.k8s.io/v1 or no apiVersion', () => {
    for (const apiVersion of ['v1', 'meta.k8s.io/v1', undefined]) {
      expect(
        decodeDeleteOptions({
          kind: 'DeleteOptions',
          apiVersion,
          propagationPolicy: 'Foreground',
          gracePeriodSeconds: 0,
          preconditions: { uid: 'u', resourceVersion: '3' },
          dryRun: ['All'],
        }),
      ).toMatchObject({
        propagationPolicy: 'Foreground',
        gracePeriodSeconds: 0,
        preconditions: { uid: 'u', resourceVersion: '3' },
        dryRun: ['All'],
      });
    }
    expect(decodeDeleteOptions({ orphanDependents: true })).toEqual({ orphanDependents: true });
  });

  test.each([
    [{ kind: 'Widget' }, 'the kind in the data (Widget) does not match the expected kind (DeleteOptions)'],
    [
      { apiVersion: 'apps/v1' },
      'the API version in the data (apps/v1) does not match the expected API version (v1)',
    ],
    [
      { propagationPolicy: 'Sideways' },
      'propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan", "nil"',
    ],
    [
      { propagationPolicy: 'Orphan', orphanDependents: true },
      'propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set',
    ],
    [{ dryRun: ['Some'] }, 'dryRun: Unsupported value: "Some": supported values: "All"'],
    [
      { gracePeriodSeconds: '5' },
      'DeleteOptions in version "v1" cannot be handled as a DeleteOptions: json: cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds of type int64',
    ],
    [
      { preconditions: { uid: 5 } },
      'DeleteOptions in version "v1" cannot be handled as a DeleteOptions: json: cannot unmarshal number into Go struct field Preconditions.preconditions.uid of type string',
    ],
    [
      [],
      'DeleteOptions in version "v1" cannot be handled as a DeleteOptions: json: cannot unmarshal array into Go value of type v1.DeleteOptions',
    ],
  ])('%j is a 400', (body, message) => {
    const err = thrown(() => decodeDeleteOptions(body));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toBe(message);
  });
});
