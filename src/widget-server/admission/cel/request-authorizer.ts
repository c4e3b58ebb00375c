/**
 * The server side of the CEL `authorizer` variable: a check built by an expression (authorizer.ts)
 * becomes the authorization question kube-apiserver would ask for it, about the admitted request's user
 * or the service account the expression named, for any version of a resource, and is decided by the
 * server's delegating authorizer (a SubjectAccessReview, cached).
 */
import type { UserInfo } from '../../auth/authentication';
import type { AccessReviewAttributes, DelegatingAuthorizer } from '../../auth/authorization';
import { describeReviewFailure } from '../../auth/review-failure';
import type { AuthorizationCheck } from './authorizer';
import type { Authorize } from './evaluator';

function subjectUser(check: AuthorizationCheck, requestUser: UserInfo | undefined): UserInfo {
  if ('serviceAccount' in check.subject) {
    const { namespace, name } = check.subject.serviceAccount;
    return {
      name: `system:serviceaccount:${namespace}:${name}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
    };
  }
  return requestUser ?? { name: '', groups: [] };
}

export function attributesForCheck(
  check: AuthorizationCheck,
  requestUser: UserInfo | undefined,
): AccessReviewAttributes {
  const user = subjectUser(check, requestUser);
  if (check.path !== undefined) return { user, nonResource: { path: check.path, verb: check.verb } };
  const r = check.resource!;
  return {
    user,
    resource: {
      namespace: r.namespace,
      verb: check.verb,
      group: r.group,
      version: '*',
      resource: r.resource,
      ...(r.subresource ? { subresource: r.subresource } : {}),
      ...(r.name ? { name: r.name } : {}),
    },
  };
}

/** The authorize function for one admitted request's evaluations. */
export function requestAuthorizer(
  authorizer: DelegatingAuthorizer | undefined,
  requestUser: UserInfo | undefined,
): Authorize | undefined {
  if (!authorizer) return undefined;
  return async (check) => {
    try {
      const d = await authorizer.decide(attributesForCheck(check, requestUser));
      return { allowed: d.allowed, reason: d.reason ?? '' };
    } catch (e) {
      return { allowed: false, reason: '', error: describeReviewFailure(e) };
    }
  };
}
