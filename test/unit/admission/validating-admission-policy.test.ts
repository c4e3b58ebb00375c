/**
 * The ValidatingAdmissionPolicy plugin against kube-apiserver's rules, with the real CEL worker and
 * in-memory policies, bindings, namespaces and params: resource rules (subresources, scope, exclusions,
 * names), matchPolicy Equivalent and the version a policy sees, namespace and object selectors,
 * validationActions, message and reason rules, failurePolicy, params, DELETE. The bed test
 * (test/e2e-cluster/admission-policy.test.ts) runs the same plugin against a real kube-apiserver.
 */
import pino from 'pino';
import type { AdmissionAttributes } from '../../../src/widget-server/admission/admission';
import type { Namespace, NamespaceSource } from '../../../src/widget-server/admission/namespace-informer';
import { CelEvaluator } from '../../../src/widget-server/admission/cel/evaluator';
import type { ParamSources } from '../../../src/widget-server/admission/policy/params';
import {
  ValidatingAdmissionPolicyPlugin,
  type ValidatingAdmissionPolicy,
  type ValidatingAdmissionPolicyBinding,
} from '../../../src/widget-server/admission/policy/validating-admission-policy';
import { GROUP, refusal, widgetAttributes } from './widget-attributes';

let policies: ValidatingAdmissionPolicy[];
let bindings: ValidatingAdmissionPolicyBinding[];
let params: Record<string, unknown>[];
const namespaces: Record<string, Namespace> = {
  prod: { metadata: { name: 'prod', labels: { env: 'prod' } } },
  dev: { metadata: { name: 'dev', labels: { env: 'dev' } } },
};
const evaluator = new CelEvaluator(2000);
const audit: Record<string, unknown>[] = [];
const observed: Array<Record<string, string>> = [];
const logger = pino({ level: 'info' }, { write: (line: string) => audit.push(JSON.parse(line)) });

const namespaceSource: NamespaceSource = {
  hasSynced: true,
  get: (name) => namespaces[name],
  lookup: async (name) => namespaces[name],
};
const paramSource = {
  prepare: () => undefined,
  collect: async (kind: unknown) => (kind ? params : [null]),
} as unknown as ParamSources;

const plugin = new ValidatingAdmissionPolicyPlugin(
  { list: () => policies, on: () => undefined },
  { list: () => bindings, on: () => undefined },
  paramSource,
  namespaceSource,
  evaluator,
  logger,
  { observe: (labels) => observed.push(labels) },
);

afterAll(() => evaluator.close());
beforeEach(() => {
  policies = [];
  bindings = [];
  params = [];
  audit.length = 0;
  observed.length = 0;
});

/** A policy `p` over `resources` with `validations`, bound once as `p-binding` with `actions`. */
function add(
  spec: ValidatingAdmissionPolicy['spec'],
  binding: NonNullable<ValidatingAdmissionPolicyBinding['spec']> = {},
  name = 'p',
) {
  policies.push({
    metadata: { name },
    spec: {
      matchConstraints: {
        resourceRules: [
          { apiGroups: [GROUP], apiVersions: ['v1'], operations: ['*'], resources: ['widgets'] },
        ],
      },
      ...spec,
    },
  });
  bindings.push({
    metadata: { name: `${name}-binding` },
    spec: { policyName: name, validationActions: ['Deny'], ...binding },
  });
}

/** A v1 widget (the hub); as v1alpha1, spec.replicas is spec.size. */
const widget = (spec: Record<string, unknown>, labels?: Record<string, string>) => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Widget',
  metadata: { name: 'w', namespace: 'prod', ...(labels ? { labels } : {}) },
  spec,
});

const attributes = (over: Partial<AdmissionAttributes> = {}) =>
  widgetAttributes({ object: widget({ image: 'nginx', replicas: 5 }), ...over });
const denial = (a: AdmissionAttributes) => refusal(plugin, a);

test("a failed validation is denied with kube-apiserver's message, 422 Invalid and a cause", async () => {
  add({ validations: [{ expression: 'object.spec.replicas <= 3', message: 'at most 3' }] });
  const err = await denial(attributes());
  const why = "ValidatingAdmissionPolicy 'p' with binding 'p-binding' denied request: at most 3";
  expect(err?.toStatus()).toMatchObject({
    code: 422,
    reason: 'Invalid',
    message: `widgets.${GROUP} "w" is forbidden: ${why}`,
    details: { name: 'w', group: GROUP, kind: 'widgets', causes: [{ message: why }] },
  });
  expect(await denial(attributes({ object: widget({ image: 'nginx', replicas: 2 }) }))).toBeUndefined();
});

test('reason sets the code; the message falls back from messageExpression to message to the expression', async () => {
  add({
    validations: [
      { expression: 'false', messageExpression: "'line\\nbreak'", message: ' fixed ', reason: 'Forbidden' },
    ],
  });
  const err = await denial(attributes());
  expect(err?.toStatus()).toMatchObject({ code: 403, reason: 'Forbidden' });
  // A message expression with a newline is not used.
  expect(err?.message).toMatch(/denied request: fixed$/);
  policies[0].spec!.validations = [{ expression: ' 1 == 2 ' }];
  expect((await denial(attributes()))?.message).toMatch(/denied request: failed expression: 1 == 2$/);
});

test('Warn adds a warning, Audit logs, and neither denies', async () => {
  add({ validations: [{ expression: 'false', message: 'no' }] }, { validationActions: ['Warn', 'Audit'] });
  const a = attributes();
  expect(await denial(a)).toBeUndefined();
  expect(a.warnings).toEqual([
    "Validation failed for ValidatingAdmissionPolicy 'p' with binding 'p-binding': no",
  ]);
  expect(observed).toEqual([
    { policy: 'p', binding: 'p-binding', errorType: 'invalid_error', action: 'warn' },
    { policy: 'p', binding: 'p-binding', errorType: 'invalid_error', action: 'audit' },
  ]);
  expect(audit).toEqual([
    expect.objectContaining({
      policy: 'p',
      binding: 'p-binding',
      message: 'no',
      msg: expect.stringMatching(/Audit/),
    }),
  ]);
});

test('resource rules: subresources, exclusions, scope and names', async () => {
  add({
    validations: [{ expression: 'false' }],
    matchConstraints: {
      resourceRules: [
        { apiGroups: [GROUP], apiVersions: ['*'], operations: ['UPDATE'], resources: ['widgets/status'] },
        {
          apiGroups: [GROUP],
          apiVersions: ['*'],
          operations: ['CREATE'],
          resources: ['*'],
          scope: 'Namespaced',
        },
      ],
      excludeResourceRules: [
        {
          apiGroups: ['*'],
          apiVersions: ['*'],
          operations: ['*'],
          resources: ['*'],
          resourceNames: ['exempt'],
        },
      ],
    },
  });
  expect(await denial(attributes())).toBeDefined();
  expect(await denial(attributes({ name: 'exempt' }))).toBeUndefined();
  expect(await denial(attributes({ operation: 'UPDATE' }))).toBeUndefined();
  expect(await denial(attributes({ operation: 'UPDATE', subresource: 'status' }))).toBeDefined();
  expect(await denial(attributes({ operation: 'UPDATE', subresource: 'scale' }))).toBeUndefined();
});

test('matchPolicy Equivalent: a rule for v1alpha1 matches a v1 request, and the policy sees v1alpha1', async () => {
  add({
    validations: [
      { expression: 'object.spec.size <= 3', messageExpression: "'size ' + string(object.spec.size)" },
    ],
    matchConstraints: {
      resourceRules: [
        { apiGroups: [GROUP], apiVersions: ['v1alpha1'], operations: ['*'], resources: ['widgets'] },
      ],
    },
  });
  expect((await denial(attributes()))?.message).toMatch(/denied request: size 5$/);
  policies[0].spec!.matchConstraints!.matchPolicy = 'Exact';
  expect(await denial(attributes())).toBeUndefined();
});

test('namespace and object selectors, on the policy and on the binding', async () => {
  add(
    { validations: [{ expression: 'false' }] },
    {
      matchResources: {
        namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] },
        objectSelector: { matchLabels: { tier: 'web' } },
      },
    },
  );
  expect(await denial(attributes({ object: widget({}, { tier: 'web' }) }))).toBeDefined();
  expect(await denial(attributes({ object: widget({}, { tier: 'db' }) }))).toBeUndefined();
  expect(await denial(attributes({ namespace: 'dev', object: widget({}, { tier: 'web' }) }))).toBeUndefined();
  // An update matches when either the new or the old object is selected.
  expect(
    await denial(
      attributes({
        operation: 'UPDATE',
        object: widget({}, { tier: 'db' }),
        oldObject: widget({}, { tier: 'web' }),
      }),
    ),
  ).toBeDefined();
});

test('failurePolicy: errors deny under Fail and are ignored under Ignore; match conditions skip', async () => {
  add({ validations: [{ expression: 'object.spec.nothing == 1' }] });
  expect((await denial(attributes()))?.message).toMatch(
    /denied request: expression 'object.spec.nothing == 1' resulted in error: .*nothing/,
  );
  policies[0].spec!.failurePolicy = 'Ignore';
  expect(await denial(attributes())).toBeUndefined();
  // kube-apiserver's metric labels: the denial, then the error Ignore let through.
  expect(observed).toEqual([
    { policy: 'p', binding: 'p-binding', errorType: 'invalid_error', action: 'deny' },
    { policy: 'p', binding: 'p-binding', errorType: 'invalid_error', action: 'allow' },
  ]);
  policies[0].spec = {
    ...policies[0].spec,
    failurePolicy: 'Fail',
    matchConditions: [{ name: 'only-big', expression: 'object.spec.replicas > 10' }],
  };
  expect(await denial(attributes())).toBeUndefined();
});

test('params: evaluated once per parameter object; DELETE sees oldObject with object null', async () => {
  params = [{ data: { max: '3' } }, { data: { max: '10' } }];
  add({
    paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
    validations: [
      {
        expression:
          'object == null ? oldObject.spec.replicas <= int(params.data.max) : object.spec.replicas <= int(params.data.max)',
        messageExpression: "'over ' + params.data.max",
      },
    ],
  });
  expect((await denial(attributes()))?.message).toMatch(/denied request: over 3$/);
  const del = attributes({ operation: 'DELETE', object: undefined, oldObject: widget({ replicas: 2 }) });
  expect(await denial(del)).toBeUndefined();
});
