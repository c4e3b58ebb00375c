/**
 * Widget validation with apimachinery's field paths and messages: ObjectMeta, spec, immutable fields on
 * update, status conditions (metav1.Condition) and Scale.
 */
import { fieldErrorMessage, invalid, type FieldError } from '../../../src/shared/status-errors';
import { applyWidgetDefaults } from '../../../src/widget-server/api/defaults';
import type { Scale, Widget } from '../../../src/widget-server/api/types';
import {
  validateObjectMeta,
  validateScale,
  validateWidgetCreate,
  validateWidgetStatus,
  validateWidgetUpdate,
} from '../../../src/widget-server/api/validation';

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

function widget(over: Partial<Widget> = {}): Widget {
  return {
    apiVersion: 'custom.example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'ns' },
    spec: { image: 'nginx', replicas: 1, color: 'blue' },
    ...over,
  };
}

const render = (errs: FieldError[]) => errs.map((e) => `${e.field}: ${fieldErrorMessage(e)}`);

describe('validateObjectMeta', () => {
  test('a plain name and namespace are valid', () => {
    expect(validateObjectMeta({ name: 'a.b-c', namespace: 'ns-1' }, true)).toEqual([]);
  });

  test('name and generateName', () => {
    expect(render(validateObjectMeta({ namespace: 'ns' }, true))).toEqual([
      'metadata.name: Required value: name or generateName is required',
    ]);
    expect(render(validateObjectMeta({ name: 'Bad_Name', namespace: 'ns' }, true))).toEqual([
      `metadata.name: Invalid value: "Bad_Name": ${SUBDOMAIN_MSG}`,
    ]);
    const long = 'a'.repeat(254);
    expect(render(validateObjectMeta({ name: long, namespace: 'ns' }, true))).toEqual([
      `metadata.name: Invalid value: "${long}": must be no more than 253 characters`,
    ]);
    // The trailing dash of a prefix is allowed: the server appends random characters.
    expect(validateObjectMeta({ name: 'w-abcde', generateName: 'w-', namespace: 'ns' }, true)).toEqual([]);
    expect(render(validateObjectMeta({ name: 'x', generateName: 'W-', namespace: 'ns' }, true))).toEqual([
      `metadata.generateName: Invalid value: "W-": ${SUBDOMAIN_MSG}`,
    ]);
  });

  test('namespace is a DNS label, required when namespaced and forbidden otherwise', () => {
    expect(render(validateObjectMeta({ name: 'w' }, true))).toEqual(['metadata.namespace: Required value']);
    expect(render(validateObjectMeta({ name: 'w', namespace: 'a.b' }, true))).toEqual([
      `metadata.namespace: Invalid value: "a.b": ${LABEL_MSG}`,
    ]);
    expect(render(validateObjectMeta({ name: 'w', namespace: 'n'.repeat(64) }, true))[0]).toMatch(
      /must be no more than 63 characters$/,
    );
    expect(render(validateObjectMeta({ name: 'w', namespace: 'ns' }, false))).toEqual([
      'metadata.namespace: Forbidden: not allowed on this type',
    ]);
  });

  test('labels: qualified-name keys and short values', () => {
    const errs = validateObjectMeta(
      {
        name: 'w',
        namespace: 'ns',
        labels: {
          ok: 'fine',
          'example.com/ok': '',
          '-bad': 'x',
          'a/b/c': 'x',
          good: '-bad-',
          long: 'v'.repeat(64),
        },
      },
      true,
    );
    expect(render(errs)).toEqual([
      `metadata.labels: Invalid value: "-bad": ${QUALIFIED_MSG}`,
      `metadata.labels: Invalid value: "a/b/c": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
      `metadata.labels: Invalid value: "-bad-": ${LABEL_VALUE_MSG}`,
      `metadata.labels: Invalid value: "${'v'.repeat(64)}": must be no more than 63 characters`,
    ]);
    expect(
      render(validateObjectMeta({ name: 'w', namespace: 'ns', labels: { 'Bad_Prefix/x': 'y' } }, true)),
    ).toEqual([`metadata.labels: Invalid value: "Bad_Prefix/x": prefix part ${SUBDOMAIN_MSG}`]);
    expect(render(validateObjectMeta({ name: 'w', namespace: 'ns', labels: { 'p/': 'y' } }, true))).toEqual([
      'metadata.labels: Invalid value: "p/": name part must be non-empty',
      `metadata.labels: Invalid value: "p/": ${QUALIFIED_MSG}`,
    ]);
  });

  test('annotations: keys are qualified names (case-insensitive) and the total is at most 256 KiB', () => {
    expect(
      validateObjectMeta({ name: 'w', namespace: 'ns', annotations: { 'Example.COM/Key': 'v' } }, true),
    ).toEqual([]);
    const big = validateObjectMeta(
      { name: 'w', namespace: 'ns', annotations: { a: 'x'.repeat(262144) } },
      true,
    );
    expect(render(big)).toEqual(['metadata.annotations: Too long: may not be more than 262144 bytes']);
    expect(
      render(validateObjectMeta({ name: 'w', namespace: 'ns', annotations: { _x: 'v' } }, true)),
    ).toEqual([`metadata.annotations: Invalid value: "_x": ${QUALIFIED_MSG}`]);
  });

  test('ownerReferences: required fields and at most one controller', () => {
    const errs = validateObjectMeta(
      {
        name: 'w',
        namespace: 'ns',
        ownerReferences: [
          { apiVersion: 'apps/', kind: '', name: '', uid: '' },
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'a', uid: '1', controller: true },
          { apiVersion: 'apps/v1', kind: 'Deployment', name: 'b', uid: '2', controller: true },
        ],
      },
      true,
    );
    expect(render(errs)).toEqual([
      'metadata.ownerReferences.apiVersion: Invalid value: "apps/": version must not be empty',
      'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
      'metadata.ownerReferences.name: Invalid value: "": name must not be empty',
      'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
      expect.stringMatching(
        /^metadata.ownerReferences: Invalid value: .*: Only one reference can have Controller set to true. Found "true" in references for ConfigMap\/a and Deployment\/b$/,
      ),
    ]);
  });

  test('finalizers are qualified names; orphan and foregroundDeletion exclude each other', () => {
    expect(
      validateObjectMeta({ name: 'w', namespace: 'ns', finalizers: ['example.com/f', 'orphan'] }, true),
    ).toEqual([]);
    expect(
      render(validateObjectMeta({ name: 'w', namespace: 'ns', finalizers: ['bad finalizer'] }, true)),
    ).toEqual([`metadata.finalizers: Invalid value: "bad finalizer": ${QUALIFIED_MSG}`]);
    expect(
      render(
        validateObjectMeta(
          { name: 'w', namespace: 'ns', finalizers: ['orphan', 'foregroundDeletion'] },
          true,
        ),
      ),
    ).toEqual([
      'metadata.finalizers: Invalid value: ["orphan","foregroundDeletion"]: finalizer orphan and foregroundDeletion cannot be both set',
    ]);
  });
});

describe('validateWidgetCreate', () => {
  test('a defaulted widget is valid', () => {
    const w = widget({ spec: { image: 'nginx' } });
    applyWidgetDefaults(w);
    expect(w.spec).toEqual({ image: 'nginx', color: 'blue', replicas: 1 });
    expect(validateWidgetCreate(w)).toEqual([]);
  });

  test('defaults keep explicit values, including zero replicas', () => {
    const w = widget({ spec: { image: 'nginx', replicas: 0, color: 'red' } });
    applyWidgetDefaults(w);
    expect(w.spec).toEqual({ image: 'nginx', replicas: 0, color: 'red' });
  });

  test('spec errors and the 422 they make', () => {
    const w = widget({
      metadata: { name: 'w', namespace: 'ns' },
      spec: { image: '', replicas: -1, color: 'pink' as never },
    });
    const errs = validateWidgetCreate(w);
    expect(render(errs)).toEqual([
      'spec.image: Required value',
      'spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      'spec.color: Unsupported value: "pink": supported values: "blue", "green", "red", "yellow", "purple", "orange", "black", "white"',
    ]);
    const status = invalid('custom.example.com', 'Widget', 'w', errs).toStatus();
    expect(status.code).toBe(422);
    expect(status.reason).toBe('Invalid');
    expect(status.details).toMatchObject({ name: 'w', group: 'custom.example.com', kind: 'Widget' });
    expect(status.details!.causes![1]).toEqual({
      reason: 'FieldValueInvalid',
      message: 'Invalid value: -1: must be greater than or equal to 0',
      field: 'spec.replicas',
    });
    expect(render(validateWidgetCreate(widget({ spec: { image: 'x', replicas: 101 } })))).toEqual([
      'spec.replicas: Invalid value: 101: must be less than or equal to 100',
    ]);
    expect(validateWidgetCreate(widget({ spec: { image: 'x', replicas: 100 } }))).toEqual([]);
    expect(validateWidgetCreate(widget({ spec: { image: 'x', replicas: 0 } }))).toEqual([]);
  });

  test('missing name', () => {
    expect(render(validateWidgetCreate(widget({ metadata: { namespace: 'ns' } })))).toEqual([
      'metadata.name: Required value: name or generateName is required',
    ]);
  });

  test.each([
    'nginx',
    'nginx:1.27',
    'library/nginx:latest',
    'docker.io/library/nginx',
    'registry.example.com:5000/team/app:v1',
    'localhost:5000/a_b/c__d/e-f:1.0',
    `busybox@sha256:${'a'.repeat(64)}`,
    `ghcr.io/org/app:v2@sha256:${'0'.repeat(64)}`,
  ])('image %s is a valid reference', (image) => {
    expect(validateWidgetCreate(widget({ spec: { image } }))).toEqual([]);
  });

  test.each(['Nginx', 'nginx:', 'a//b', 'x@sha256:12', 'has space', ':tag', 'a/', `x:${'t'.repeat(129)}`])(
    'image %s is invalid',
    (image) => {
      const errs = validateWidgetCreate(widget({ spec: { image } }));
      expect(errs).toHaveLength(1);
      expect(errs[0]).toMatchObject({ type: 'FieldValueInvalid', field: 'spec.image', value: image });
    },
  );
});

describe('validateWidgetUpdate', () => {
  const old = widget({
    metadata: { name: 'w', namespace: 'ns', uid: 'u1', creationTimestamp: '2026-01-01T00:00:00Z' },
  });

  test('unchanged metadata is valid', () => {
    expect(validateWidgetUpdate(structuredClone(old), old)).toEqual([]);
  });

  test('name, namespace, uid and creationTimestamp are immutable', () => {
    const next = widget({
      metadata: { name: 'w2', namespace: 'other', uid: 'u2', creationTimestamp: '2026-02-01T00:00:00Z' },
    });
    expect(render(validateWidgetUpdate(next, old))).toEqual([
      'metadata.name: Invalid value: "w2": field is immutable',
      'metadata.namespace: Invalid value: "other": field is immutable',
      'metadata.uid: Invalid value: "u2": field is immutable',
      'metadata.creationTimestamp: Invalid value: "2026-02-01T00:00:00Z": field is immutable',
    ]);
  });

  test('create rules still apply', () => {
    const next = structuredClone(old);
    next.spec.replicas = 1000;
    expect(render(validateWidgetUpdate(next, old))).toEqual([
      'spec.replicas: Invalid value: 1000: must be less than or equal to 100',
    ]);
  });
});

describe('validateWidgetStatus', () => {
  const cond = {
    type: 'Ready',
    status: 'True' as const,
    reason: 'AllGood',
    message: 'ok',
    lastTransitionTime: '2026-01-01T00:00:00Z',
  };

  test('a good status is valid', () => {
    expect(
      validateWidgetStatus(
        widget({
          status: {
            phase: 'Running',
            availableReplicas: 1,
            conditions: [cond, { ...cond, type: 'example.com/Synced' }],
          },
        }),
      ),
    ).toEqual([]);
    expect(validateWidgetStatus(widget())).toEqual([]);
  });

  test('phase enum and availableReplicas', () => {
    expect(
      render(validateWidgetStatus(widget({ status: { phase: 'Dancing' as never, availableReplicas: -2 } }))),
    ).toEqual([
      'status.phase: Unsupported value: "Dancing": supported values: "Pending", "Running", "Failed"',
      'status.availableReplicas: Invalid value: -2: must be greater than or equal to 0',
    ]);
  });

  test('conditions follow metav1 rules', () => {
    const errs = validateWidgetStatus(
      widget({
        status: {
          conditions: [
            cond,
            { ...cond, status: 'Maybe' as never, reason: 'bad reason', observedGeneration: -1 },
            { ...cond, type: 'Bad Type', reason: '', lastTransitionTime: '' },
            { ...cond, type: 'Other', message: 'm'.repeat(32769), reason: `R${'r'.repeat(1024)}` },
          ],
        },
      }),
    );
    expect(render(errs)).toEqual([
      'status.conditions[1].type: Duplicate value: "Ready"',
      'status.conditions[1].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown"',
      'status.conditions[1].observedGeneration: Invalid value: -1: must be greater than or equal to zero',
      `status.conditions[1].reason: Invalid value: "bad reason": a condition reason must start with alphabetic character, optionally followed by a string of alphanumeric characters or '_,:', and must end with an alphanumeric character or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName',  or 'ReasonA,ReasonB',  or 'ReasonA:ReasonB', regex used for validation is '[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?')`,
      `status.conditions[2].type: Invalid value: "Bad Type": ${QUALIFIED_MSG}`,
      'status.conditions[2].lastTransitionTime: Required value: must be set',
      'status.conditions[2].reason: Required value: must be set',
      'status.conditions[3].reason: Too long: may not be more than 1024 bytes',
      'status.conditions[3].message: Too long: may not be more than 32768 bytes',
    ]);
  });

  test.each(['A', 'Ready_', 'ReasonA,ReasonB', 'ReasonA:ReasonB', 'x1'])('reason %s is valid', (reason) => {
    expect(validateWidgetStatus(widget({ status: { conditions: [{ ...cond, reason }] } }))).toEqual([]);
  });

  test.each(['1abc', 'a-b', 'ends:', 'a b'])('reason %s is invalid', (reason) => {
    const errs = validateWidgetStatus(widget({ status: { conditions: [{ ...cond, reason }] } }));
    expect(errs.map((e) => e.field)).toEqual(['status.conditions[0].reason']);
  });
});

describe('validateScale', () => {
  const scale = (replicas: number): Scale => ({
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: 'w' },
    spec: { replicas },
    status: { replicas: 0 },
  });
  test('replicas 0..100 on spec.replicas', () => {
    expect(validateScale(scale(0))).toEqual([]);
    expect(validateScale(scale(100))).toEqual([]);
    expect(render(validateScale(scale(-1)))).toEqual([
      'spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    ]);
    expect(render(validateScale(scale(101)))).toEqual([
      'spec.replicas: Invalid value: 101: must be less than or equal to 100',
    ]);
  });
});

describe('spec.resources', () => {
  const withResources = (resources: Widget['spec']['resources']) =>
    render(validateWidgetCreate(widget({ spec: { image: 'nginx', replicas: 1, color: 'blue', resources } })));

  test('quantities of cpu, memory and ephemeral-storage, requests within limits, are valid', () => {
    expect(
      withResources({
        requests: { cpu: '250m', memory: '64Mi', 'ephemeral-storage': '1Gi' },
        limits: { cpu: '1', memory: '0.5Gi' },
      }),
    ).toEqual([]);
    expect(withResources({ requests: { cpu: '1000m' }, limits: { cpu: '1' } })).toEqual([]);
  });

  test("kube-apiserver's messages for a bad name, a bad quantity, a negative one and a request over its limit", () => {
    expect(withResources({ requests: { gpu: '1' } })).toEqual([
      'spec.resources.requests[gpu]: Unsupported value: "gpu": supported values: "cpu", "memory", "ephemeral-storage"',
    ]);
    expect(withResources({ limits: { cpu: 'lots' } })).toEqual([
      'spec.resources.limits[cpu]: Invalid value: "lots": quantities must match the regular expression \'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$\'',
    ]);
    expect(withResources({ requests: { memory: '-1Mi' } })).toEqual([
      'spec.resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0',
    ]);
    expect(withResources({ requests: { cpu: '2' }, limits: { cpu: '1500m' } })).toEqual([
      'spec.resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1500m',
    ]);
  });
});
