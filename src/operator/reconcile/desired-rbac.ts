/**
 * The server's identity and permissions, as server-side-apply documents: its ServiceAccount; the
 * bindings every aggregated API server needs (auth delegation, its authentication configuration,
 * admission's reads); the Widget controller's, for the operator's own image; and the Role and
 * ClusterRole of spec.rbac for servers that need more (metrics-server reads nodes and pods).
 */
import { ownedNames, type AggregatedAPI, type AggregatedAPISpec } from '../api/aggregated-api';
import type { KubeObject } from '../../shared/kube/rest';
import { meta } from './owned-meta';

export function serviceAccount(api: AggregatedAPI): KubeObject {
  const { server, namespace } = ownedNames(api);
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(api, server, namespace) };
}

export function authDelegatorBinding(api: AggregatedAPI): KubeObject {
  const { server, namespace, authDelegator } = ownedNames(api);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: meta(api, authDelegator),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
    subjects: [{ kind: 'ServiceAccount', name: server, namespace }],
  };
}

/**
 * The ClusterRole, installed with the operator (config/rbac), of what a server's admission reads from the
 * cluster: namespaces (get, list, watch) for NamespaceLifecycle. No built-in role is that narrow (`view`
 * reads most namespaced objects), and a shared role lets the operator hold only `bind` on it.
 */
export const ADMISSION_READER_CLUSTER_ROLE = 'aggregator-operator:aggregated-apiserver-admission';

export function admissionReaderBinding(api: AggregatedAPI): KubeObject {
  const { server, namespace } = ownedNames(api);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: meta(api, `aggregatedapi:${api.metadata.name}:admission`),
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: ADMISSION_READER_CLUSTER_ROLE,
    },
    subjects: [{ kind: 'ServiceAccount', name: server, namespace }],
  };
}

/**
 * The Widget controller's ClusterRoles (config/rbac/widget_controller_role.yaml), bound when the
 * AggregatedAPI runs the Widget server, whose process runs the controller: the first cluster-wide, the
 * Lease one in the server's namespace.
 */
export const WIDGET_CONTROLLER_CLUSTER_ROLE = 'aggregator-operator:widget-controller';
export const WIDGET_CONTROLLER_LEASE_CLUSTER_ROLE = 'aggregator-operator:widget-controller-leader-election';

export function widgetControllerBindings(api: AggregatedAPI): { cluster: KubeObject; lease: KubeObject } {
  const { server, namespace } = ownedNames(api);
  const binding = (kind: string, name: string, role: string, ns?: string): KubeObject => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: meta(api, name, ns),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'ServiceAccount', name: server, namespace }],
  });
  const name = `aggregatedapi:${api.metadata.name}:widget-controller`;
  return {
    cluster: binding('ClusterRoleBinding', name, WIDGET_CONTROLLER_CLUSTER_ROLE),
    lease: binding('RoleBinding', name, WIDGET_CONTROLLER_LEASE_CLUSTER_ROLE, namespace),
  };
}

export function authReaderBinding(api: AggregatedAPI): KubeObject {
  const { server, namespace, authReader } = ownedNames(api);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(api, authReader, 'kube-system'),
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'extension-apiserver-authentication-reader',
    },
    subjects: [{ kind: 'ServiceAccount', name: server, namespace }],
  };
}

type PolicyRules = NonNullable<NonNullable<AggregatedAPISpec['rbac']>['rules']>;

/**
 * spec.rbac as a Role in spec.namespace and a ClusterRole, each bound to the server's ServiceAccount;
 * `undefined` where the spec has no rules, so the reconciler deletes what an earlier spec made.
 */
export function serverRoles(api: AggregatedAPI): {
  name: string;
  role?: KubeObject;
  roleBinding?: KubeObject;
  clusterRole?: KubeObject;
  clusterRoleBinding?: KubeObject;
} {
  const { server, namespace } = ownedNames(api);
  const name = `aggregatedapi:${api.metadata.name}:server`;
  const rbac = api.spec.rbac ?? {};
  const role = (kind: 'Role' | 'ClusterRole', rules: PolicyRules | undefined, ns?: string) =>
    rules?.length
      ? { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: meta(api, name, ns), rules }
      : undefined;
  const binding = (kind: 'RoleBinding' | 'ClusterRoleBinding', roleKind: string, ns?: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: meta(api, name, ns),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name },
    subjects: [{ kind: 'ServiceAccount', name: server, namespace }],
  });
  const namespaced = role('Role', rbac.rules, namespace);
  const cluster = role('ClusterRole', rbac.clusterRules);
  return {
    name,
    role: namespaced,
    roleBinding: namespaced && binding('RoleBinding', 'Role', namespace),
    clusterRole: cluster,
    clusterRoleBinding: cluster && binding('ClusterRoleBinding', 'ClusterRole'),
  };
}
