/**
 * The kinds the operator reads and writes, with where each lives in the REST API.
 */
import type { ResourceRef } from '../../shared/kube/rest';
import { API_VERSION, KIND, PLURAL } from '../api/aggregated-api';

/** The operator's field manager for server-side apply and creates. */
export const FIELD_MANAGER = 'aggregator-operator';

const ref = (apiVersion: string, kind: string, plural: string, namespaced: boolean): ResourceRef => ({
  apiVersion,
  kind,
  plural,
  namespaced,
});

export const AGGREGATED_API = ref(API_VERSION, KIND, PLURAL, false);
export const SECRET = ref('v1', 'Secret', 'secrets', true);
export const SERVICE_ACCOUNT = ref('v1', 'ServiceAccount', 'serviceaccounts', true);
export const SERVICE = ref('v1', 'Service', 'services', true);
export const NAMESPACE = ref('v1', 'Namespace', 'namespaces', false);
export const POD = ref('v1', 'Pod', 'pods', true);
export const EVENT = ref('v1', 'Event', 'events', true);
export const DEPLOYMENT = ref('apps/v1', 'Deployment', 'deployments', true);
export const STATEFUL_SET = ref('apps/v1', 'StatefulSet', 'statefulsets', true);
export const CONFIG_MAP = ref('v1', 'ConfigMap', 'configmaps', true);
export const PERSISTENT_VOLUME_CLAIM = ref('v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true);
export const STORAGE_CLASS = ref('storage.k8s.io/v1', 'StorageClass', 'storageclasses', false);
export const CRON_JOB = ref('batch/v1', 'CronJob', 'cronjobs', true);
export const JOB = ref('batch/v1', 'Job', 'jobs', true);
export const POD_DISRUPTION_BUDGET = ref('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true);
export const CLUSTER_ROLE_BINDING = ref(
  'rbac.authorization.k8s.io/v1',
  'ClusterRoleBinding',
  'clusterrolebindings',
  false,
);
export const ROLE_BINDING = ref('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings', true);
export const CLUSTER_ROLE = ref('rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', false);
export const ROLE = ref('rbac.authorization.k8s.io/v1', 'Role', 'roles', true);
export const API_SERVICE = ref('apiregistration.k8s.io/v1', 'APIService', 'apiservices', false);

/** Every kind an AggregatedAPI owns, watched so that drift on any of them is repaired at once. */
export const OWNED_KINDS = [
  SECRET,
  SERVICE_ACCOUNT,
  SERVICE,
  DEPLOYMENT,
  STATEFUL_SET,
  CONFIG_MAP,
  CRON_JOB,
  JOB,
  POD_DISRUPTION_BUDGET,
  CLUSTER_ROLE_BINDING,
  ROLE_BINDING,
  CLUSTER_ROLE,
  ROLE,
  API_SERVICE,
];
