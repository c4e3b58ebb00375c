/**
 * The objects one AggregatedAPI owns, as applied: names, the Service's DNS names, server flags for each
 * storage, the pod's security settings and probes, the APIService per version with its bundle, and
 * owner references and labels that map every object back to its AggregatedAPI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { AggregatedAPI } from '../../../src/operator/api/aggregated-api';
import * as desired from '../../../src/operator/reconcile/desired';
import { parseConfig } from '../../../src/widget-server/config';

const api = (spec: Partial<AggregatedAPI['spec']> = {}): AggregatedAPI => ({
  apiVersion: 'aggregation.example.com/v1alpha1',
  kind: 'AggregatedAPI',
  metadata: { name: 'things', uid: 'uid-1', generation: 1 },
  spec: {
    group: 'things.example.com',
    versions: [{ name: 'v1' }, { name: 'v2beta1', versionPriority: 9 }],
    namespace: 'ns',
    ...spec,
  },
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const podSpec = (d: any) => d.spec.template.spec;

test('the Service names the serving certificate must carry', () => {
  expect(desired.serviceDnsNames(api())).toEqual([
    'things-apiserver',
    'things-apiserver.ns',
    'things-apiserver.ns.svc',
    'things-apiserver.ns.svc.cluster.local',
  ]);
});

test('the default image runs the Widget server for the group; another image keeps its entrypoint', () => {
  const own = podSpec(desired.deployment(api(), 'repo/op:1', true)).containers[0];
  expect(own.command).toEqual(['node', '--max-semi-space-size=4', 'dist/widget-server/main.js']);
  // The image's default command runs the Widget server the same way.
  const dockerfile = readFileSync(path.join(__dirname, '../../../Dockerfile'), 'utf8');
  const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)![1]) as string[];
  const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]) as string[];
  expect([...entrypoint, ...cmd].slice(0, own.command.length)).toEqual(own.command);
  expect(own.args).toEqual(
    expect.arrayContaining(['--api-group=things.example.com', '--delegate-auth=true', '--secure-port=8443']),
  );
  const other = podSpec(desired.deployment(api({ image: 'x/y:2' }), 'x/y:2', false)).containers[0];
  expect(other.command).toBeUndefined();
  expect(other.args.some((a: string) => a.startsWith('--api-group'))).toBe(false);
});

test('etcd storage: endpoints, default prefix, client TLS from the Secret; rolling one at a time', () => {
  const d = desired.deployment(
    api({
      replicas: 3,
      storage: { etcd: { endpoints: ['https://e1:2379', 'https://e2:2379'], tlsSecretName: 'etcd-tls' } },
    }),
    'img',
    true,
  );
  const c = podSpec(d).containers[0];
  expect(c.args).toEqual(
    expect.arrayContaining([
      '--etcd-servers=https://e1:2379,https://e2:2379',
      '--etcd-prefix=/registry/things.example.com',
      '--etcd-cafile=/var/run/aggregated-api/etcd-client/ca.crt',
    ]),
  );
  expect(podSpec(d).volumes).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        name: 'etcd-client',
        secret: expect.objectContaining({ secretName: 'etcd-tls' }),
      }),
    ]),
  );
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expect((d as any).spec.strategy).toEqual({
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expect((desired.deployment(api(), 'img', true) as any).spec.strategy).toEqual({ type: 'Recreate' });
});

test('shutdown: with etcd the server serves on for a delay after SIGTERM; embedded drains at once; the pod grace covers both', () => {
  const etcd = desired.deployment(
    api({ replicas: 2, storage: { etcd: { endpoints: ['https://e:2379'] } } }),
    'img',
    true,
  );
  expect(podSpec(etcd).containers[0].args).toEqual(
    expect.arrayContaining(['--shutdown-delay-duration=5s', '--shutdown-grace-seconds=30']),
  );
  expect(podSpec(etcd).terminationGracePeriodSeconds).toBe(40);
  const embedded = desired.deployment(api(), 'img', true);
  expect(podSpec(embedded).containers[0].args).toEqual(
    expect.arrayContaining(['--shutdown-delay-duration=0s', '--shutdown-grace-seconds=30']),
  );
  expect(podSpec(embedded).terminationGracePeriodSeconds).toBe(35);
  // The flags are the Widget server's: another image gets none of them.
  const other = podSpec(desired.deployment(api({ image: 'x/y:2' }), 'x/y:2', false)).containers[0];
  expect(other.args.some((a: string) => a.startsWith('--shutdown'))).toBe(false);
  // Every flag the operator passes is one the server accepts.
  expect(() => parseConfig(podSpec(etcd).containers[0].args, {})).not.toThrow();
});

test('the pod is locked down and probed over HTTPS; a new ServiceAccount uid rolls it', () => {
  const d = desired.deployment(api(), 'img', true, 'sa-uid-2');
  const spec = podSpec(d);
  expect(spec.securityContext).toMatchObject({
    runAsNonRoot: true,
    fsGroup: 65532,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  expect(spec.containers[0].securityContext).toEqual({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });
  expect(spec.containers[0].readinessProbe.httpGet).toEqual({
    path: '/readyz',
    port: 'https',
    scheme: 'HTTPS',
  });
  expect(spec.containers[0].livenessProbe.httpGet).toEqual({
    path: '/livez',
    port: 'https',
    scheme: 'HTTPS',
  });
  expect(spec.affinity.podAntiAffinity).toBeDefined();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expect((d as any).spec.template.metadata.annotations).toEqual({
    [desired.SERVICE_ACCOUNT_UID_ANNOTATION]: 'sa-uid-2',
  });
  const custom = podSpec(desired.deployment(api({ affinity: { nodeAffinity: {} } }), 'img', true));
  expect(custom.affinity).toEqual({ nodeAffinity: {} });
  // The default image's digest too: a rebuild under the same tag rolls the pods once.
  const rebuilt = desired.deployment(api(), 'img:dev', true, 'sa-uid-2', 'sha256:abc');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expect((rebuilt as any).spec.template.metadata.annotations).toEqual({
    [desired.SERVICE_ACCOUNT_UID_ANNOTATION]: 'sa-uid-2',
    [desired.IMAGE_ID_ANNOTATION]: 'sha256:abc',
  });
});

test('one APIService per version, verifying TLS with the bundle, owned and labelled', () => {
  const services = desired.apiServices(api(), 'BUNDLE');
  expect(services.map((s) => s.metadata?.name)).toEqual([
    'v1.things.example.com',
    'v2beta1.things.example.com',
  ]);
  expect(services[1]).toMatchObject({
    spec: {
      group: 'things.example.com',
      version: 'v2beta1',
      groupPriorityMinimum: 1000,
      versionPriority: 9,
      service: { namespace: 'ns', name: 'things-apiserver', port: 443 },
      caBundle: Buffer.from('BUNDLE').toString('base64'),
      insecureSkipTLSVerify: false,
    },
    metadata: {
      labels: {
        'app.kubernetes.io/managed-by': 'aggregator-operator',
        'aggregation.example.com/aggregatedapi': 'things',
      },
      ownerReferences: [{ kind: 'AggregatedAPI', name: 'things', uid: 'uid-1', controller: true }],
    },
  });
});

test('RBAC binds the ServiceAccount to delegated auth and the admission reader only', () => {
  expect(desired.authDelegatorBinding(api())).toMatchObject({
    metadata: { name: 'aggregatedapi:things:auth-delegator' },
    roleRef: { kind: 'ClusterRole', name: 'system:auth-delegator' },
    subjects: [{ kind: 'ServiceAccount', name: 'things-apiserver', namespace: 'ns' }],
  });
  expect(desired.authReaderBinding(api())).toMatchObject({
    metadata: { name: 'aggregatedapi:things:auth-reader', namespace: 'kube-system' },
    roleRef: { kind: 'Role', name: 'extension-apiserver-authentication-reader' },
  });
  expect(desired.admissionReaderBinding(api())).toMatchObject({
    kind: 'ClusterRoleBinding',
    metadata: {
      name: 'aggregatedapi:things:admission',
      labels: { 'aggregation.example.com/aggregatedapi': 'things' },
      ownerReferences: [{ kind: 'AggregatedAPI', name: 'things', uid: 'uid-1' }],
    },
    roleRef: { kind: 'ClusterRole', name: 'aggregator-operator:aggregated-apiserver-admission' },
    subjects: [{ kind: 'ServiceAccount', name: 'things-apiserver', namespace: 'ns' }],
  });
});

test('the admission reader ClusterRole the operator binds is installed with it, and only bind is held', () => {
  const rbacDir = path.join(__dirname, '../../../config/rbac');
  const docs = readdirSync(rbacDir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) => parseAllDocuments(readFileSync(path.join(rbacDir, f), 'utf8')).map((d) => d.toJS()));
  const role = docs.find(
    (d) => d.kind === 'ClusterRole' && d.metadata.name === desired.ADMISSION_READER_CLUSTER_ROLE,
  );
  // Least privilege: reading namespaces, admission policies and webhooks (and their Services), nothing else.
  expect(role.rules).toEqual([
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
    {
      apiGroups: ['admissionregistration.k8s.io'],
      resources: [
        'validatingadmissionpolicies',
        'validatingadmissionpolicybindings',
        'mutatingwebhookconfigurations',
        'validatingwebhookconfigurations',
      ],
      verbs: ['get', 'list', 'watch'],
    },
    { apiGroups: [''], resources: ['services'], verbs: ['get'] },
  ]);
  const kustomization = parseAllDocuments(
    readFileSync(path.join(rbacDir, 'kustomization.yaml'), 'utf8'),
  )[0].toJS();
  expect(kustomization.resources).toContain('aggregated_apiserver_role.yaml');
  const operatorRole = docs.find(
    (d) => d.kind === 'ClusterRole' && d.metadata.name === 'aggregator-operator',
  );
  const bind = operatorRole.rules.find((r: { resources: string[]; verbs: string[] }) =>
    r.resources.includes('clusterroles'),
  );
  // It binds roles (spec.rbac's are made per AggregatedAPI; config/policy guards who may ask for them).
  expect(bind).toMatchObject({
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['clusterroles', 'roles'],
  });
  expect(bind.verbs).toEqual(expect.arrayContaining(['bind']));
  expect(bind.resourceNames).toBeUndefined();
});

test('the Widget server runs the Widget controller: its flags parse, and its roles are installed and bindable', () => {
  const args = podSpec(desired.deployment(api(), 'repo/op:1', true)).containers[0].args as string[];
  expect(args).toEqual(
    expect.arrayContaining(['--widget-controller=true', '--leader-election-namespace=ns']),
  );
  // The flags the operator passes are the server's own.
  const config = parseConfig(args, {});
  expect(config).toMatchObject({ widgetController: true, leaderElectionNamespace: 'ns' });
  const bindings = desired.widgetControllerBindings(api());
  expect(bindings.cluster).toMatchObject({
    kind: 'ClusterRoleBinding',
    metadata: { name: 'aggregatedapi:things:widget-controller' },
    roleRef: { kind: 'ClusterRole', name: desired.WIDGET_CONTROLLER_CLUSTER_ROLE },
    subjects: [{ kind: 'ServiceAccount', name: 'things-apiserver', namespace: 'ns' }],
  });
  // The Lease role only in the server's own namespace.
  expect(bindings.lease).toMatchObject({
    kind: 'RoleBinding',
    metadata: { namespace: 'ns' },
    roleRef: { kind: 'ClusterRole', name: desired.WIDGET_CONTROLLER_LEASE_CLUSTER_ROLE },
  });
  const rbacDir = path.join(__dirname, '../../../config/rbac');
  const docs = parseAllDocuments(readFileSync(path.join(rbacDir, 'widget_controller_role.yaml'), 'utf8')).map(
    (d) => d.toJS(),
  );
  expect(docs.map((d) => d.metadata.name)).toEqual([
    desired.WIDGET_CONTROLLER_CLUSTER_ROLE,
    desired.WIDGET_CONTROLLER_LEASE_CLUSTER_ROLE,
  ]);
  const operatorRole = parseAllDocuments(readFileSync(path.join(rbacDir, 'cluster_role.yaml'), 'utf8'))
    .map((d) => d.toJS())
    .find((d) => d.kind === 'ClusterRole');
  const bindable = operatorRole.rules.find((r: { resources: string[] }) =>
    r.resources.includes('clusterroles'),
  );
  expect(bindable.verbs).toContain('bind');
  expect(bindable.resourceNames).toBeUndefined();
  // Another image is not the Widget server: no controller flags.
  const other = podSpec(desired.deployment(api({ image: 'x/y:2' }), 'x/y:2', false)).containers[0];
  expect(other.args.some((a: string) => a.startsWith('--widget-controller'))).toBe(false);
});

test('the default image is told which versions to serve; one it does not have gets no APIService', () => {
  const three = api({
    versions: [{ name: 'v1' }, { name: 'v1beta1' }, { name: 'v1alpha1' }, { name: 'v2' }],
  });
  expect(desired.servedVersions(three, true)).toEqual({
    served: ['v1', 'v1beta1', 'v1alpha1'],
    unserved: ['v2'],
  });
  const args = podSpec(desired.deployment(three, 'repo/op:1', true)).containers[0].args;
  expect(args).toContain('--api-versions=v1,v1beta1,v1alpha1');
  expect(parseConfig(args, {}).versions).toEqual(['v1', 'v1beta1', 'v1alpha1']);
  expect(
    desired.apiServices(three, 'B', desired.servedVersions(three, true).served).map((s) => s.metadata?.name),
  ).toEqual(['v1.things.example.com', 'v1beta1.things.example.com', 'v1alpha1.things.example.com']);
  // Another image serves what it serves: every version is registered, no flag is added.
  expect(desired.servedVersions(three, false)).toEqual({
    served: ['v1', 'v1beta1', 'v1alpha1', 'v2'],
    unserved: [],
  });
  const foreign = podSpec(desired.deployment(three, 'other:1', false)).containers[0].args;
  expect(foreign.some((a: string) => a.startsWith('--api-versions'))).toBe(false);
});
