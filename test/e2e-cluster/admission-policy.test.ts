/**
 * ValidatingAdmissionPolicy end to end: policies and bindings created with kubectl in the bed's
 * kube-apiserver, widgets written through kube-apiserver into the sample AggregatedAPI `widgets` (its
 * server runs the image built from this checkout, which reads the policies with informers and evaluates
 * them itself, as kube-apiserver does not admit requests it proxies). A Deny binding selected by a
 * namespace label denies with kube-apiserver's message and 422 there and allows elsewhere; a Warn
 * binding's message reaches kubectl as a warning; a ConfigMap parameter drives a messageExpression; a
 * CEL error denies under failurePolicy Fail and is ignored under Ignore.
 */
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { kubectl as runKubectl } from '../support/kubectl';
import {
  createWidgetThroughKube,
  ensureClusterUp,
  eventually,
  installSampleWidgetsApi,
  k,
  kubeconfigPath,
  withLogTails,
} from './cluster';
import { dryRunCreate, messageOf, untilEveryReplica } from './server-replicas';

jest.setTimeout(20 * 60 * 1000);

const SERVER_NS = 'widgets-system';
const GROUP = 'custom.example.com';
const suffix = randomBytes(3).toString('hex');
const prod = `vap-prod-${suffix}`;
const dev = `vap-dev-${suffix}`;
/** Every binding selects only this suite's namespaces. */
const SUITE_LABEL = `vap-suite-${suffix}`;
const policyNames: string[] = [];

let api: CustomObjectsApi;

const widget = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Widget',
  metadata: { name },
  spec: { image: 'registry.example.com/nginx:1.27', replicas: 1, ...spec },
});

const create = (namespace: string, body: object) => createWidgetThroughKube(api, namespace, body);

/** A policy over widget creates and updates, and its binding to this suite's namespaces labelled `env`. */
async function policy(
  name: string,
  spec: Record<string, unknown>,
  binding: { env: string; actions: string[]; paramRef?: Record<string, unknown> },
): Promise<void> {
  policyNames.push(name);
  const docs = [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [GROUP],
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['widgets'],
            },
          ],
        },
        ...spec,
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: `${name}-binding` },
      spec: {
        policyName: name,
        validationActions: binding.actions,
        ...(binding.paramRef ? { paramRef: binding.paramRef } : {}),
        matchResources: {
          namespaceSelector: { matchLabels: { env: binding.env, suite: SUITE_LABEL } },
        },
      },
    },
  ];
  await k(['apply', '-f', '-'], docs.map((d) => JSON.stringify(d)).join('\n'));
}

/**
 * Waits until every server replica's informers have the policy: a dry run that it must deny is denied
 * with `expected` in the message (the policy's name unless given).
 */
async function untilEnforced(
  namespace: string,
  body: object,
  policyName: string,
  expected = `'${policyName}'`,
): Promise<void> {
  await untilEveryReplica(`enforces ${policyName}`, dryRunCreate(namespace, body), (r) =>
    messageOf(r).includes(expected),
  );
}

/** kubectl with the admin kubeconfig: whether it succeeded, and everything it printed (warnings are on stderr). */
async function kubectl(args: string[], input?: string): Promise<{ ok: boolean; text: string }> {
  const r = await runKubectl(kubeconfigPath, args, input);
  return { ok: r.code === 0, text: r.stdout + r.stderr };
}

beforeAll(async () => {
  const kubeconfig = ensureClusterUp();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  api = kc.makeApiClient(CustomObjectsApi);
  // The admission reader role the operator binds now reads policies too.
  await installSampleWidgetsApi();
  for (const [ns, env] of [
    [prod, 'prod'],
    [dev, 'dev'],
  ]) {
    await k(['create', 'namespace', ns]);
    await k(['label', 'namespace', ns, `env=${env}`, `suite=${SUITE_LABEL}`]);
  }
});

afterAll(async () => {
  for (const name of policyNames) {
    await k(['delete', 'validatingadmissionpolicybinding', `${name}-binding`, '--ignore-not-found']).catch(
      () => undefined,
    );
    await k(['delete', 'validatingadmissionpolicy', name, '--ignore-not-found']).catch(() => undefined);
  }
  await k(['delete', 'clusterrolebinding,clusterrole', `vap-params-${suffix}`, '--ignore-not-found']).catch(
    () => undefined,
  );
  for (const ns of [prod, dev])
    await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

test(
  'a Deny binding selected by a namespace label denies there with its message and 422, and allows elsewhere',
  withLogTails(async () => {
    const name = `no-black-${suffix}`;
    await policy(
      name,
      {
        validations: [
          { expression: "object.spec.color != 'black'", message: 'black widgets are not allowed here' },
        ],
      },
      { env: 'prod', actions: ['Deny'] },
    );
    await untilEnforced(prod, widget('probe', { color: 'black' }), name);
    const why = `ValidatingAdmissionPolicy '${name}' with binding '${name}-binding' denied request: black widgets are not allowed here`;
    expect(await create(prod, widget('w1', { color: 'black' }))).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Invalid',
      code: 422,
      message: `widgets.${GROUP} "w1" is forbidden: ${why}`,
      details: { name: 'w1', group: GROUP, kind: 'widgets', causes: [{ message: why }] },
    });
    const denied = await kubectl(
      ['-n', prod, 'create', '-f', '-'],
      JSON.stringify(widget('w2', { color: 'black' })),
    );
    expect(denied).toEqual({ ok: false, text: expect.stringContaining(why) });
    // Elsewhere, and other colours, are allowed; an update to black is denied too.
    expect(await create(dev, widget('w1', { color: 'black' }))).toBeUndefined();
    expect(await create(prod, widget('w3', { color: 'blue' }))).toBeUndefined();
    const update = await kubectl([
      '-n',
      prod,
      'patch',
      'widget',
      'w3',
      '--type=merge',
      '-p',
      '{"spec":{"color":"black"}}',
    ]);
    expect(update).toEqual({ ok: false, text: expect.stringContaining(why) });
    expect((await k(['-n', prod, 'get', 'widgets', '-o', 'jsonpath={.items[*].metadata.name}'])).trim()).toBe(
      'w3',
    );
  }),
);

test(
  "a Warn binding's message reaches kubectl as a warning, and the write succeeds",
  withLogTails(async () => {
    const name = `few-replicas-${suffix}`;
    await policy(
      name,
      {
        validations: [
          {
            expression: 'object.spec.replicas <= 3',
            messageExpression: "'replicas ' + string(object.spec.replicas) + ' is more than 3'",
          },
        ],
      },
      { env: 'dev', actions: ['Warn'] },
    );
    const warning = `Validation failed for ValidatingAdmissionPolicy '${name}' with binding '${name}-binding': replicas 5 is more than 3`;
    await untilEveryReplica(`warns for ${name}`, dryRunCreate(dev, widget('probe', { replicas: 5 })), (r) =>
      r.warnings.some((w) => w.includes(warning)),
    );
    const created = await kubectl(
      ['-n', dev, 'create', '-f', '-'],
      JSON.stringify(widget('many', { replicas: 5 })),
    );
    expect(created.ok).toBe(true);
    expect(created.text).toContain(`Warning: ${warning}`);
    expect(created.text).toContain(`widget.${GROUP}/many created`);
  }),
);

test(
  'a ConfigMap parameter drives the validation and its messageExpression',
  withLogTails(async () => {
    const name = `registry-${suffix}`;
    // The server reads a policy's paramKind with its own ServiceAccount: the cluster admin grants it.
    await k([
      'create',
      'clusterrole',
      `vap-params-${suffix}`,
      '--verb=get,list,watch',
      '--resource=configmaps',
    ]);
    await k([
      'create',
      'clusterrolebinding',
      `vap-params-${suffix}`,
      `--clusterrole=vap-params-${suffix}`,
      `--serviceaccount=${SERVER_NS}:widgets-apiserver`,
    ]);
    await k(['-n', prod, 'create', 'configmap', 'registry', '--from-literal=prefix=registry.example.com/']);
    await policy(
      name,
      {
        paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
        validations: [
          {
            expression: 'object.spec.image.startsWith(params.data.prefix)',
            messageExpression: "'images must come from ' + params.data.prefix",
          },
        ],
      },
      { env: 'prod', actions: ['Deny'], paramRef: { name: 'registry', parameterNotFoundAction: 'Deny' } },
    );
    // Enforced with the parameter read: until the server has the ConfigMap, it denies for want of it.
    await untilEnforced(
      prod,
      widget('probe', { image: 'docker.io/nginx' }),
      name,
      'images must come from registry.example.com/',
    );
    expect(await create(prod, widget('elsewhere', { image: 'docker.io/nginx' }))).toMatchObject({
      code: 422,
      message: expect.stringContaining(
        `binding '${name}-binding' denied request: images must come from registry.example.com/`,
      ),
    });
    expect(await create(prod, widget('local', { image: 'registry.example.com/nginx' }))).toBeUndefined();
    // Without its parameter (parameterNotFoundAction Deny), the binding denies every request it selects.
    await k(['-n', prod, 'delete', 'configmap', 'registry']);
    await untilEveryReplica('misses the parameter', dryRunCreate(prod, widget('probe', {})), (r) =>
      messageOf(r).includes('no params found for policy binding with `Deny` parameterNotFoundAction'),
    );
  }),
);

test(
  'a CEL error denies under failurePolicy Fail and is ignored under Ignore',
  withLogTails(async () => {
    const failing = `cel-error-fail-${suffix}`;
    const ignoring = `cel-error-ignore-${suffix}`;
    // spec.notAField is not in the object: CEL's "no such key".
    const validations = [{ expression: "object.spec.notAField == 'x'" }];
    await policy(failing, { failurePolicy: 'Fail', validations }, { env: 'dev', actions: ['Deny'] });
    await untilEnforced(dev, widget('probe', {}), failing);
    const status = await create(dev, widget('e1', {}));
    expect(status).toMatchObject({
      code: 422,
      message: expect.stringContaining(
        `ValidatingAdmissionPolicy '${failing}' with binding '${failing}-binding' denied request: expression 'object.spec.notAField == 'x'' resulted in error`,
      ),
    });
    await k(['delete', 'validatingadmissionpolicybinding', `${failing}-binding`]);
    await policy(ignoring, { failurePolicy: 'Ignore', validations }, { env: 'dev', actions: ['Deny'] });
    await untilEveryReplica(
      'drops the failing binding',
      dryRunCreate(dev, widget('probe', {})),
      (r) => r.status === 201,
    );
    expect(await create(dev, widget('e2', {}))).toBeUndefined();
  }),
);

test(
  'the authorizer variable asks kube-apiserver about the request’s user: denied until RBAC grants it',
  withLogTails(async () => {
    const ns = `vap-authz-${suffix}`;
    await k(['create', 'namespace', ns]);
    await k(['label', 'namespace', ns, 'env=authz', `suite=${SUITE_LABEL}`]);
    const user = `alice-${suffix}`;
    // alice may create widgets there, and nothing else.
    await k(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'widget-writer', namespace: ns },
        rules: [{ apiGroups: [GROUP], resources: ['widgets'], verbs: ['create', 'get', 'list'] }],
      }),
    );
    await k(['-n', ns, 'create', 'rolebinding', 'alice-writes', '--role=widget-writer', `--user=${user}`]);
    const name = `red-gate-${suffix}`;
    await policy(
      name,
      {
        validations: [
          {
            expression:
              "object.spec.color != 'red' || authorizer.group('').resource('configmaps').namespace(request.namespace).name('red-widgets').check('update').allowed()",
            message: 'red widgets need update on the red-widgets ConfigMap',
          },
        ],
      },
      { env: 'authz', actions: ['Deny'] },
    );
    const asAlice = (body: object) =>
      kubectl(['--as', user, '-n', ns, 'create', '-f', '-'], JSON.stringify(body));
    await untilEveryReplica(
      `enforces ${name} for ${user}`,
      dryRunCreate(ns, widget('probe', { color: 'red' }), {
        name: user,
        groups: ['system:authenticated'],
      }),
      (r) => messageOf(r).includes(`'${name}'`),
    );
    const denied = await asAlice(widget('red-1', { color: 'red' }));
    expect(denied.ok).toBe(false);
    expect(denied.text).toContain('red widgets need update on the red-widgets ConfigMap');
    // Other colors need nothing more; the cluster admin (system:masters) may make red ones.
    expect((await asAlice(widget('blue-1', { color: 'blue' }))).ok).toBe(true);
    expect(await create(ns, widget('red-admin', { color: 'red' }))).toBeUndefined();
    // Granting alice the ConfigMap update lets her, once each server replica's cached denial expires
    // (the sample runs two: a request may reach either).
    await k(['-n', ns, 'create', 'role', 'red-widgets', '--verb=update', '--resource=configmaps'], undefined);
    await k(['-n', ns, 'create', 'rolebinding', 'alice-red', '--role=red-widgets', `--user=${user}`]);
    const allowed = await eventually(
      'alice to be allowed red widgets',
      async () => {
        const r = await asAlice(widget('red-2', { color: 'red' }));
        return r.ok ? r : undefined;
      },
      60_000,
    );
    expect(allowed.text).toContain('red-2');
    expect(
      (
        await k(['-n', ns, 'get', 'widgets.custom.example.com', 'red-2', '-o', 'jsonpath={.spec.color}'])
      ).trim(),
    ).toBe('red');
    await k(['delete', 'namespace', ns, '--wait=false']);
  }),
);
