/**
 * Which requests an admission policy or binding applies to, as k8s.io/apiserver's matching package
 * decides (pkg/admission/plugin/policy/matching and webhook/predicates/rules): resource rules with
 * operations, groups, versions, resources and subresources (all resources, all with their
 * subresources, one resource's subresources, one subresource of any resource), scope and resource names; exclude rules; namespace and object label selectors (metav1.LabelSelector);
 * and matchPolicy `Equivalent`, under which a rule naming another version of the same resource matches,
 * and the policy then sees the object in that version.
 */
import { matchesLabels, type LabelOperator, type LabelSelector } from '../../api/selectors';
import type { AdmissionAttributes } from '../admission';
import type { Namespace, NamespaceSource } from '../namespace-informer';

/** metav1.LabelSelector as JSON. */
export interface LabelSelectorJson {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export interface NamedRuleWithOperations {
  resourceNames?: string[];
  operations?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  scope?: string;
}

export interface MatchResources {
  namespaceSelector?: LabelSelectorJson;
  objectSelector?: LabelSelectorJson;
  resourceRules?: NamedRuleWithOperations[];
  excludeResourceRules?: NamedRuleWithOperations[];
  matchPolicy?: 'Exact' | 'Equivalent';
}

const OPERATORS: Record<string, LabelOperator> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
};

/** metav1.LabelSelectorAsSelector: an absent or empty selector matches everything. */
export function labelSelector(json: LabelSelectorJson | undefined): LabelSelector {
  const requirements: LabelSelector['requirements'] = [];
  for (const [key, value] of Object.entries(json?.matchLabels ?? {}))
    requirements.push({ key, operator: '=', values: [value] });
  for (const e of json?.matchExpressions ?? []) {
    const operator = OPERATORS[e.operator];
    if (!operator) throw new Error(`"${e.operator}" is not a valid label selector operator`);
    if ((operator === 'in' || operator === 'notin') && !e.values?.length)
      throw new Error(`values: Required value: must be specified when operator is "${e.operator}"`);
    requirements.push({ key: e.key, operator, values: e.values ?? [] });
  }
  return { requirements, empty: requirements.length === 0 };
}

const has = (list: string[] | undefined, value: string) =>
  !!list && (list.includes('*') || list.includes(value));

/** Whether any of `rules` can select requests in API group `group` (ruleMatches' group test alone). */
export function rulesMayMatchGroup(rules: NamedRuleWithOperations[] | undefined, group: string): boolean {
  return (rules ?? []).some((rule) => has(rule.apiGroups, group));
}

function resourceMatches(resources: string[] | undefined, resource: string, subresource: string): boolean {
  for (const r of resources ?? []) {
    if (r === '*/*') return true;
    const [res, sub = ''] = r.split('/', 2);
    if (!r.includes('/')) {
      if (subresource === '' && (res === '*' || res === resource)) return true;
      continue;
    }
    if ((res === '*' || res === resource) && (sub === '*' || sub === subresource)) return true;
  }
  return false;
}

/** One rule against a request in `version` (the request's own, or an equivalent one). */
export function ruleMatches(rule: NamedRuleWithOperations, a: AdmissionAttributes, version: string): boolean {
  if (!has(rule.operations, a.operation)) return false;
  if (!has(rule.apiGroups, a.resource.group)) return false;
  if (!has(rule.apiVersions, version)) return false;
  if (!resourceMatches(rule.resources, a.resource.resource, a.subresource)) return false;
  const scope = rule.scope ?? '*';
  if (scope === 'Cluster' && a.namespace !== '') return false;
  if (scope === 'Namespaced' && a.namespace === '') return false;
  if (rule.resourceNames?.length && !rule.resourceNames.includes(a.name)) return false;
  return true;
}

const labelsOf = (o: Record<string, unknown> | undefined) =>
  (o?.metadata as { labels?: Record<string, string> } | undefined)?.labels;

/**
 * The request's namespace (from the cache, else read live) and the context policies and webhooks are
 * matched in: that namespace's labels, and the resource's versions.
 */
export async function matchContext(
  a: AdmissionAttributes,
  namespaces: NamespaceSource,
): Promise<{ namespace?: Namespace; ctx: MatchContext }> {
  const namespace = a.namespace
    ? (namespaces.get(a.namespace) ?? (await namespaces.lookup(a.namespace)))
    : undefined;
  return {
    namespace,
    ctx: {
      namespaceLabels: a.namespace ? (namespace?.metadata?.labels ?? {}) : undefined,
      equivalentVersions: a.versions ?? [],
    },
  };
}

export interface MatchContext {
  /** The labels of the request's namespace; undefined for a cluster-scoped request. */
  namespaceLabels?: Record<string, string>;
  /** Versions of the requested resource a rule may name under matchPolicy Equivalent. */
  equivalentVersions: readonly string[];
}

/**
 * Whether `mr` selects the request, and in which version the policy sees it (the request's own unless
 * only an equivalent version's rule matched). Empty resource rules select everything (as in a binding's
 * matchResources); `requireRules` makes them select nothing (a policy's matchConstraints).
 */
export function matchResources(
  mr: MatchResources | undefined,
  a: AdmissionAttributes,
  ctx: MatchContext,
  requireRules = false,
): { matches: boolean; version: string } {
  const own = a.resource.version;
  const no = { matches: false, version: own };
  if (
    ctx.namespaceLabels !== undefined &&
    !matchesLabels(labelSelector(mr?.namespaceSelector), ctx.namespaceLabels)
  )
    return no;
  const objects = labelSelector(mr?.objectSelector);
  // Either the new or the old object may match; an absent one matches nothing.
  const selects = (o: Record<string, unknown> | undefined) => !!o && matchesLabels(objects, labelsOf(o));
  if (!objects.empty && !selects(a.object) && !selects(a.oldObject)) return no;
  if ((mr?.excludeResourceRules ?? []).some((r) => ruleMatches(r, a, own))) return no;
  const rules = mr?.resourceRules ?? [];
  if (!rules.length) return { matches: !requireRules, version: own };
  if (rules.some((r) => ruleMatches(r, a, own))) return { matches: true, version: own };
  if ((mr?.matchPolicy ?? 'Equivalent') !== 'Equivalent') return no;
  for (const version of ctx.equivalentVersions) {
    if (version === own) continue;
    if (rules.some((r) => ruleMatches(r, a, version))) return { matches: true, version };
  }
  return no;
}
