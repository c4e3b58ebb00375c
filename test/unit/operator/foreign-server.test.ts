/**
 * What the operator passes to an image it did not build (metrics-server, sample-apiserver): exactly the
 * standard flags of a k8s.io/apiserver-based server or exactly spec.args, the port, probe paths and env
 * of the spec, and spec.rbac as a Role and a ClusterRole bound to the server's ServiceAccount; and the
 * CRD's CEL rules that keep these fields coherent, evaluated as kube-apiserver would (through the
 * schema's rules as written, by the test bed's CEL in test/e2e-cluster; here their intent on the
 * generated defaults).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { AggregatedAPI } from '../../../src/operator/api/aggregated-api';
import { SPEC_DEFAULTS } from '../../../src/operator/api/aggregated-api';
import * as desired from '../../../src/operator/reconcile/desired';

const api = (spec: Partial<AggregatedAPI['spec']> = {}): AggregatedAPI => ({
  apiVersion: 'aggregation.example.com/v1alpha1',
  kind: 'AggregatedAPI',
  metadata: { name: 'metrics', uid: 'uid-1', generation: 1 },
  spec: {
    group: 'metrics.k8s.io',
    versions: [{ name: 'v1beta1' }],
    namespace: 'kube-system',
    image: 'localhost/metrics-server:v0.8.0',
    ...spec,
  },
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const container = (a: AggregatedAPI): any =>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (desired.deployment(a, a.spec.image ?? 'own', !a.spec.image) as any).spec.template.spec.containers[0];

test('another image gets only the standard serving flags, then extraArgs, on spec.port', () => {
  const c = container(api({ port: 10250, extraArgs: ['--kubelet-insecure-tls'] }));
  expect(c.command).toBeUndefined();
  expect(c.args).toEqual([
    '--bind-address=0.0.0.0',
    '--secure-port=10250',
    '--tls-cert-file=/var/run/aggregated-api/serving-cert/tls.crt',
    '--tls-private-key-file=/var/run/aggregated-api/serving-cert/tls.key',
    '--kubelet-insecure-tls',
  ]);
  expect(c.ports).toEqual([{ name: 'https', containerPort: 10250, protocol: 'TCP' }]);
  // The Service still listens on 443 and follows the named port.
  expect(desired.service(api({ port: 10250 })).spec).toMatchObject({
    ports: [{ port: 443, targetPort: 'https' }],
  });
});

test('with etcd storage another image gets the etcd flags k8s.io/apiserver defines', () => {
  const c = container(api({ storage: { etcd: { endpoints: ['http://10.0.0.1:2379'] } } }));
  expect(c.args).toEqual(
    expect.arrayContaining(['--etcd-servers=http://10.0.0.1:2379', '--etcd-prefix=/registry/metrics.k8s.io']),
  );
  expect(c.args.some((a: string) => /^--(delegate-auth|widget-controller|api-group|shutdown-)/.test(a))).toBe(
    false,
  );
});

test('spec.args is the whole argument list: nothing is added', () => {
  const args = ['--secure-port=6443', '--cert-dir=/tmp', '--v=2'];
  expect(container(api({ args, storage: { etcd: { endpoints: ['http://e:2379'] } } })).args).toEqual(args);
  // The operator's own image ignores no field silently: args needs an image (the CRD refuses it).
  expect(container(api({ image: undefined })).args).toContain('--delegate-auth=true');
});

test('probe paths and env come from the spec; the defaults are the CRD defaults', () => {
  const plain = container(api());
  expect(plain.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' });
  expect(plain.livenessProbe.httpGet.path).toBe('/livez');
  expect(plain.env).toBeUndefined();
  expect(SPEC_DEFAULTS.probes).toEqual({ readinessPath: '/readyz', livenessPath: '/livez' });
  expect(SPEC_DEFAULTS.port).toBe(8443);
  const env = [
    { name: 'GOMAXPROCS', value: '1' },
    { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  ];
  const c = container(api({ probes: { readinessPath: '/healthz', livenessPath: '/healthz' }, env }));
  expect(c.readinessProbe.httpGet.path).toBe('/healthz');
  expect(c.livenessProbe.httpGet.path).toBe('/healthz');
  expect(c.env).toEqual(env);
});

test('spec.rbac becomes a Role and a ClusterRole of the same name, each bound to the ServiceAccount', () => {
  const rules = [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }];
  const clusterRules = [
    { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
    { nonResourceURLs: ['/metrics'], verbs: ['get'] },
  ];
  const roles = desired.serverRoles(api({ rbac: { rules, clusterRules } }));
  expect(roles.name).toBe('aggregatedapi:metrics:server');
  expect(roles.role).toMatchObject({
    kind: 'Role',
    metadata: { name: roles.name, namespace: 'kube-system' },
    rules,
  });
  expect(roles.clusterRole).toMatchObject({
    kind: 'ClusterRole',
    metadata: { name: roles.name },
    rules: clusterRules,
  });
  expect(roles.clusterRole!.metadata!.namespace).toBeUndefined();
  const subjects = [{ kind: 'ServiceAccount', name: 'metrics-apiserver', namespace: 'kube-system' }];
  expect(roles.roleBinding).toMatchObject({ roleRef: { kind: 'Role', name: roles.name }, subjects });
  expect(roles.clusterRoleBinding).toMatchObject({
    roleRef: { kind: 'ClusterRole', name: roles.name },
    subjects,
  });
  for (const o of [roles.role, roles.roleBinding, roles.clusterRole, roles.clusterRoleBinding]) {
    expect(o!.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'AggregatedAPI', uid: 'uid-1' }),
    ]);
  }
  // No rules, no objects: the reconciler deletes what an earlier spec made.
  const none = desired.serverRoles(api({ rbac: { rules: [] } }));
  expect([none.role, none.roleBinding, none.clusterRole, none.clusterRoleBinding]).toEqual([
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

test('the operator may create, escalate and bind the roles spec.rbac asks for, and a policy guards it', () => {
  const root = path.join(__dirname, '../../..');
  const role = parse(
    readFileSync(path.join(root, 'config/rbac/cluster_role.yaml'), 'utf8').split('\n---')[0],
  ) as { rules: unknown[] };
  expect(role.rules).toEqual(
    expect.arrayContaining([
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterroles', 'roles'],
        verbs: expect.arrayContaining(['create', 'patch', 'delete', 'escalate', 'bind']),
      },
    ]),
  );
  const kustomization = parse(readFileSync(path.join(root, 'config/default/kustomization.yaml'), 'utf8'));
  expect(kustomization.resources).toContain('../policy');
});
