/**
 * The CEL `authorizer` variable through the evaluation worker: the checks an expression builds reach
 * the server's authorize function as data (subject, verb, resource or path), the worker waits for each
 * decision, and `allowed`, `reason`, `errored` and `error` read it; `requestResource` is the request's own
 * resource; bad arguments and too many checks are errors; without an authorizer every check errors.
 */
import {
  type AuthorizationCheck,
  type AuthorizationDecision,
} from '../../../src/widget-server/admission/cel/authorizer';
import { CelEvaluator } from '../../../src/widget-server/admission/cel/evaluator';
import { MAX_AUTHORIZATION_CHECKS } from '../../../src/widget-server/admission/cel/program';
import { attributesForCheck } from '../../../src/widget-server/admission/cel/request-authorizer';

const evaluator = new CelEvaluator(5000);
afterAll(() => evaluator.close());

const request = {
  resource: { group: 'custom.example.com', version: 'v1', resource: 'widgets' },
  subResource: 'scale',
  namespace: 'prod',
  name: 'w1',
};

/** Evaluates one expression with `authorize` deciding; its value or error, and the checks asked. */
async function run(
  expression: string,
  authorize?: (check: AuthorizationCheck) => Promise<AuthorizationDecision>,
): Promise<{ value?: unknown; error?: string; checks: AuthorizationCheck[] }> {
  const checks: AuthorizationCheck[] = [];
  const result = await evaluator.evaluate(
    { matchConditions: [], variables: [], validations: [{ expression }], auditAnnotations: [] },
    { object: null, oldObject: null, request, params: null, namespaceObject: null },
    authorize &&
      (async (check) => {
        checks.push(check);
        return authorize(check);
      }),
  );
  const [v] = result.validations;
  return { value: v.value, error: v.error, checks };
}

const allowInProd = async (c: AuthorizationCheck): Promise<AuthorizationDecision> =>
  c.resource?.namespace === 'prod'
    ? { allowed: true, reason: 'RBAC: allowed by RoleBinding "x"' }
    : { allowed: false, reason: 'no rule' };

test('a resource check is asked of the server with what the expression built, and its decision read', async () => {
  const r = await run(
    "authorizer.group('apps').resource('deployments').subresource('scale').namespace('prod').name('web').check('update').allowed()",
    allowInProd,
  );
  expect(r.value).toBe(true);
  expect(r.checks).toEqual([
    {
      subject: { requestUser: true },
      verb: 'update',
      resource: {
        group: 'apps',
        resource: 'deployments',
        subresource: 'scale',
        namespace: 'prod',
        name: 'web',
      },
    },
  ]);
  const denied = await run(
    "authorizer.group('').resource('pods').namespace('dev').check('create').reason()",
    allowInProd,
  );
  expect(denied.value).toBe('no rule');
  expect(denied.checks[0].resource).toEqual({
    group: '',
    resource: 'pods',
    subresource: '',
    namespace: 'dev',
    name: '',
  });
});

test('requestResource is the request’s resource; path checks; serviceAccount changes the subject', async () => {
  const own = await run("authorizer.requestResource.check('delete').allowed()", allowInProd);
  expect(own.value).toBe(true);
  expect(own.checks[0].resource).toEqual({
    group: 'custom.example.com',
    resource: 'widgets',
    subresource: 'scale',
    namespace: 'prod',
    name: 'w1',
  });
  const path = await run("authorizer.path('/healthz').check('get').allowed()", async () => ({
    allowed: true,
    reason: '',
  }));
  expect(path).toMatchObject({ value: true, checks: [{ verb: 'get', path: '/healthz' }] });
  const sa = await run(
    "authorizer.serviceAccount('kube-system', 'deployer').group('apps').resource('deployments').check('create').allowed()",
    allowInProd,
  );
  expect(sa.value).toBe(false);
  expect(sa.checks[0].subject).toEqual({ serviceAccount: { namespace: 'kube-system', name: 'deployer' } });
});

test('an authorizer that fails gives an errored decision; bad arguments and too many checks are errors', async () => {
  const failing = async (): Promise<AuthorizationDecision> => {
    throw new Error('authorization is unavailable');
  };
  expect((await run("authorizer.path('/x').check('get').errored()", failing)).value).toBe(true);
  expect((await run("authorizer.path('/x').check('get').error()", failing)).value).toBe(
    'authorization is unavailable',
  );
  expect((await run("authorizer.path('/x').check('get').allowed()", failing)).value).toBe(false);
  // No authorizer at all (standalone): every check errors, none is allowed.
  expect((await run("authorizer.path('/x').check('get').errored()")).value).toBe(true);
  expect((await run("authorizer.path('  ').check('get').allowed()", allowInProd)).error).toContain(
    'path must not be empty',
  );
  expect(
    (await run("authorizer.group('apps').resource('').check('get').allowed()", allowInProd)).error,
  ).toContain('resource must not be empty');
  expect(
    (
      await run(
        "authorizer.serviceAccount('Not_A_Namespace', 'sa').path('/x').check('get').allowed()",
        allowInProd,
      )
    ).error,
  ).toContain('Invalid service account namespace');
  const many = await run(
    `[${Array.from({ length: MAX_AUTHORIZATION_CHECKS + 1 }, (_, i) => i).join(',')}].map(i, authorizer.group('').resource('pods').name(string(i)).check('get').allowed()).size() > 0`,
    allowInProd,
  );
  expect(many.error).toContain(`more than ${MAX_AUTHORIZATION_CHECKS} authorization checks`);
  expect(many.checks).toHaveLength(MAX_AUTHORIZATION_CHECKS);
});

test('the server asks what kube-apiserver would: the request user or the named service account, any version', () => {
  const user = { name: 'alice', uid: 'u1', groups: ['devs', 'system:authenticated'] };
  expect(
    attributesForCheck(
      {
        subject: { requestUser: true },
        verb: 'update',
        resource: {
          group: 'apps',
          resource: 'deployments',
          subresource: 'scale',
          namespace: 'prod',
          name: '',
        },
      },
      user,
    ),
  ).toEqual({
    user,
    resource: {
      namespace: 'prod',
      verb: 'update',
      group: 'apps',
      version: '*',
      resource: 'deployments',
      subresource: 'scale',
    },
  });
  expect(
    attributesForCheck(
      { subject: { serviceAccount: { namespace: 'ci', name: 'deployer' } }, verb: 'get', path: '/healthz' },
      user,
    ),
  ).toEqual({
    user: {
      name: 'system:serviceaccount:ci:deployer',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:ci'],
    },
    nonResource: { path: '/healthz', verb: 'get' },
  });
});
