/**
 * Delegated authorization as k8s.io/apiserver does it (options/authorization.go, plugin webhook): the
 * health paths and the system:masters group are always allowed; everything else is a
 * SubjectAccessReview with the attributes kube-apiserver would build from the RequestInfo, with allowed
 * and denied decisions cached for 10 s each. A reviewer that cannot be reached is a 503, never a pass.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ApiError, forbidden, serviceUnavailable } from '../../shared/status-errors';
import type { RequestInfo } from '../http/request-info';
import type { UserInfo } from './authentication';
import { describeReviewFailure } from './review-failure';

export const ALWAYS_ALLOW_PATHS = ['/healthz', '/readyz', '/livez'];
export const ALWAYS_ALLOW_GROUPS = ['system:masters'];
const ALLOW_TTL_MS = 10_000;
const DENY_TTL_MS = 10_000;

export interface AccessReviewAttributes {
  user: UserInfo;
  resource?: {
    namespace?: string;
    verb: string;
    group: string;
    version: string;
    resource: string;
    subresource?: string;
    name?: string;
    /** The list's selectors, as kube-apiserver hands them to authorizers (AuthorizeWithSelectors). */
    fieldSelector?: { requirements: Array<{ key: string; operator: 'In' | 'NotIn'; values: string[] }> };
    labelSelector?: {
      requirements: Array<{
        key: string;
        operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
        values?: string[];
      }>;
    };
  };
  nonResource?: { path: string; verb: string };
}

export interface AccessDecision {
  allowed: boolean;
  reason?: string;
}

export interface AccessReviewer {
  review(attributes: AccessReviewAttributes): Promise<AccessDecision>;
}

export function attributesFor(user: UserInfo, info: RequestInfo): AccessReviewAttributes {
  if (!info.isResourceRequest) return { user, nonResource: { path: info.path, verb: info.verb } };
  return {
    user,
    resource: {
      namespace: info.namespace ?? '',
      verb: info.verb,
      group: info.apiGroup ?? '',
      version: info.apiVersion ?? '',
      resource: info.resource ?? '',
      subresource: info.subresource ?? '',
      name: info.name ?? '',
      ...selectorAttributes(info),
    },
  };
}

const VERBS_WITH_SELECTORS = ['list', 'watch', 'deletecollection'];

/**
 * The selectors of a list, watch or deletecollection, from the same parsed options the handler serves
 * (webhook authorizer's resourceAttributesFrom): requirements an authorizer cannot express are left out,
 * which only ever asks about a broader request. The legacy /watch/ path carries none, as in kube-apiserver.
 */
function selectorAttributes(
  info: RequestInfo,
): Pick<NonNullable<AccessReviewAttributes['resource']>, 'fieldSelector' | 'labelSelector'> {
  if (!VERBS_WITH_SELECTORS.includes(info.verb) || info.legacyWatch) return {};
  const options = info.listOptions && 'query' in info.listOptions ? info.listOptions.query : undefined;
  const out: ReturnType<typeof selectorAttributes> = {};
  const fields = (options?.fieldSelector?.requirements ?? []).map((r) => ({
    key: r.field,
    operator: r.operator === '=' ? ('In' as const) : ('NotIn' as const),
    values: [r.value],
  }));
  if (fields.length) out.fieldSelector = { requirements: fields };
  const labelOperators = {
    '=': 'In',
    in: 'In',
    '!=': 'NotIn',
    notin: 'NotIn',
    exists: 'Exists',
    '!': 'DoesNotExist',
  } as const;
  const labels = (options?.labelSelector?.requirements ?? []).flatMap((r) => {
    if (r.operator === 'gt' || r.operator === 'lt') return [];
    const requirement: {
      key: string;
      operator: (typeof labelOperators)[keyof typeof labelOperators];
      values?: string[];
    } = {
      key: r.key,
      operator: labelOperators[r.operator],
    };
    if (r.values.length) requirement.values = r.values;
    return [requirement];
  });
  if (labels.length) out.labelSelector = { requirements: labels };
  return out;
}

/** kube-apiserver's Forbidden message (endpoints/handlers/responsewriters/errors.go). */
export function forbiddenError(user: UserInfo, info: RequestInfo, reason?: string): ApiError {
  const suffix = reason ? `: ${reason}` : '';
  if (!info.isResourceRequest) {
    return forbidden(`forbidden: User "${user.name}" cannot ${info.verb} path "${info.path}"${suffix}`, {});
  }
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : (info.resource ?? '');
  const qualified = info.apiGroup ? `${info.resource}.${info.apiGroup}` : (info.resource ?? '');
  const subject = info.name ? `${qualified} "${info.name}"` : qualified;
  const scope = info.namespace ? ` in the namespace "${info.namespace}"` : ' at the cluster scope';
  const message =
    `${subject} is forbidden: User "${user.name}" cannot ${info.verb} resource "${resource}" ` +
    `in API group "${info.apiGroup ?? ''}"${scope}${suffix}`;
  return forbidden(message, { name: info.name, group: info.apiGroup, kind: info.resource });
}

export class DelegatingAuthorizer {
  private readonly cache = new LRUCache<string, AccessDecision>({ max: 10_000, ttl: ALLOW_TTL_MS });

  constructor(private readonly reviewer?: AccessReviewer) {}

  /** Resolves when allowed; throws 403 Forbidden when denied and 503 when the reviewer is unreachable. */
  async authorize(user: UserInfo, info: RequestInfo): Promise<void> {
    if (!info.isResourceRequest && ALWAYS_ALLOW_PATHS.includes(info.path.replace(/\/+$/, ''))) return;
    if (user.groups.some((g) => ALWAYS_ALLOW_GROUPS.includes(g))) return;
    if (!this.reviewer) throw forbiddenError(user, info);
    let decision: AccessDecision;
    try {
      decision = await this.decide(attributesFor(user, info));
    } catch (e) {
      throw serviceUnavailable(`authorization is unavailable: ${describeReviewFailure(e)}`);
    }
    if (!decision.allowed) throw forbiddenError(user, info, decision.reason);
  }

  /**
   * The decision for any question (also the admission `authorizer`'s checks), cached as requests' are;
   * throws when the reviewer cannot be asked.
   */
  async decide(attributes: AccessReviewAttributes): Promise<AccessDecision> {
    if (attributes.user.groups.some((g) => ALWAYS_ALLOW_GROUPS.includes(g))) return { allowed: true };
    if (!this.reviewer) return { allowed: false, reason: 'no authorizer is configured' };
    const key = createHash('sha256').update(JSON.stringify(attributes)).digest('hex');
    let decision = this.cache.get(key);
    if (!decision) {
      decision = await this.reviewer.review(attributes);
      this.cache.set(key, decision, { ttl: decision.allowed ? ALLOW_TTL_MS : DENY_TTL_MS });
    }
    return decision;
  }
}
