/**
 * Kubernetes' CEL authorizer library (k8s.io/apiserver pkg/cel/library/authz.go), for the `authorizer`
 * variable of admission policies and webhook match conditions: `authorizer.path(p)`,
 * `authorizer.group(g).resource(r)` with `.subresource`, `.namespace`, `.name`,
 * `authorizer.serviceAccount(ns, name)`, `authorizer.requestResource`, `.check(verb)` and the
 * decision's `allowed()`, `reason()`, `errored()`, `error()`. Checks are built here as plain data and
 * decided by the bridge the evaluation worker installs for each evaluation (worker.ts), which asks
 * the server's authorizer (a SubjectAccessReview) and waits for its answer; resource checks are for any
 * version (`*`), as in kube-apiserver. The field and label selector checks are not implemented.
 */
import { celMethod, CelScalar, type CelFunc } from '@bufbuild/cel';
import { opaque, opaqueMessage, opaqueType, opaqueValue } from './opaque';

/** Whose access a check is about: the request's user unless serviceAccount() said otherwise. */
export type CheckSubject = { serviceAccount: { namespace: string; name: string } } | { requestUser: true };

/** One authorization question, as the worker hands it to the server. */
export interface AuthorizationCheck {
  subject: CheckSubject;
  verb: string;
  resource?: {
    group: string;
    resource: string;
    subresource: string;
    namespace: string;
    name: string;
  };
  path?: string;
}

export interface AuthorizationDecision {
  allowed: boolean;
  reason: string;
  /** Set when the authorizer could not decide. */
  error?: string;
}

/** Decides a check synchronously (the worker blocks while the server asks); undefined outside an evaluation. */
let bridge: ((check: AuthorizationCheck) => AuthorizationDecision) | undefined;

export function setAuthorizationBridge(b: typeof bridge): void {
  bridge = b;
}

const AUTHORIZER = opaqueType('Authorizer');
const PATH = opaqueType('PathCheck');
const GROUP = opaqueType('GroupCheck');
const RESOURCE = opaqueType('ResourceCheck');
const DECISION = opaqueType('Decision');

type ResourceState = { subject: CheckSubject } & NonNullable<AuthorizationCheck['resource']>;

const state = <T>(v: unknown) => JSON.parse(opaqueValue(v)) as T;
const resourceCheck = (s: ResourceState) => opaque('ResourceCheck', JSON.stringify(s));

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The `authorizer` variable for a request to `requestResource`. */
export function authorizerVariable(request: Omit<ResourceState, 'subject'>): unknown {
  const subject: CheckSubject = { requestUser: true };
  return opaque('Authorizer', JSON.stringify({ subject }), {
    requestResource: opaqueMessage('ResourceCheck', JSON.stringify({ subject, ...request })),
  });
}

function decide(check: AuthorizationCheck): AuthorizationDecision {
  if (!bridge) return { allowed: false, reason: '', error: 'no authorizer is available here' };
  return bridge(check);
}

export const authorizerLibrary: CelFunc[] = [
  celMethod('path', AUTHORIZER, [CelScalar.STRING], PATH, function (path) {
    if (!path.trim()) throw new Error('path must not be empty');
    const { subject } = state<{ subject: CheckSubject }>(this);
    return opaque('PathCheck', JSON.stringify({ subject, path }));
  }),
  celMethod('group', AUTHORIZER, [CelScalar.STRING], GROUP, function (group) {
    const { subject } = state<{ subject: CheckSubject }>(this);
    return opaque('GroupCheck', JSON.stringify({ subject, group }));
  }),
  celMethod(
    'serviceAccount',
    AUTHORIZER,
    [CelScalar.STRING, CelScalar.STRING],
    AUTHORIZER,
    function (namespace, name) {
      if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) throw new Error('Invalid service account name');
      if (namespace.length > 63 || !DNS_LABEL.test(namespace))
        throw new Error('Invalid service account namespace');
      return opaque('Authorizer', JSON.stringify({ subject: { serviceAccount: { namespace, name } } }));
    },
  ),
  celMethod('resource', GROUP, [CelScalar.STRING], RESOURCE, function (resource) {
    if (!resource.trim()) throw new Error('resource must not be empty');
    const { subject, group } = state<{ subject: CheckSubject; group: string }>(this);
    return resourceCheck({ subject, group, resource, subresource: '', namespace: '', name: '' });
  }),
  ...(['subresource', 'namespace', 'name'] as const).map((field) =>
    celMethod(field, RESOURCE, [CelScalar.STRING], RESOURCE, function (value) {
      return resourceCheck({ ...state<ResourceState>(this), [field]: value });
    }),
  ),
  celMethod('check', RESOURCE, [CelScalar.STRING], DECISION, function (verb) {
    const { subject, ...resource } = state<ResourceState>(this);
    return opaque('Decision', JSON.stringify(decide({ subject, verb, resource })));
  }),
  celMethod('check', PATH, [CelScalar.STRING], DECISION, function (verb) {
    const { subject, path } = state<{ subject: CheckSubject; path: string }>(this);
    return opaque('Decision', JSON.stringify(decide({ subject, verb, path })));
  }),
  celMethod('allowed', DECISION, [], CelScalar.BOOL, function () {
    return state<AuthorizationDecision>(this).allowed;
  }),
  celMethod('reason', DECISION, [], CelScalar.STRING, function () {
    return state<AuthorizationDecision>(this).reason;
  }),
  celMethod('errored', DECISION, [], CelScalar.BOOL, function () {
    return state<AuthorizationDecision>(this).error !== undefined;
  }),
  celMethod('error', DECISION, [], CelScalar.STRING, function () {
    return state<AuthorizationDecision>(this).error ?? '';
  }),
];
