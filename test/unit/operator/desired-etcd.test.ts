/**
 * A managed etcd's objects (src/operator/reconcile/etcd/desired-etcd.ts): one configuration per member
 * with TLS everywhere, the StatefulSet that starts members together on claims that outlive it, and the
 * Widget server wired to every member with the client certificate.
 */
import { parse } from 'yaml';
import type { AggregatedAPI } from '../../../src/operator/api/aggregated-api';
import {
  etcdConfigMap,
  etcdPeerService,
  etcdStatefulSet,
  quotaBackendBytes,
} from '../../../src/operator/reconcile/etcd/desired-etcd';
import { clientURLs, etcdNames } from '../../../src/operator/reconcile/etcd/names';
import { deployment, serverArgs } from '../../../src/operator/reconcile/desired';

/** Objects as plain JSON, to read nested fields the KubeObject type does not describe. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function api(managed: Record<string, unknown> = {}): AggregatedAPI {
  return {
    apiVersion: 'aggregation.example.com/v1alpha1',
    kind: 'AggregatedAPI',
    metadata: { name: 'widgets', uid: 'u-1' },
    spec: {
      group: 'custom.example.com',
      versions: [{ name: 'v1' }],
      namespace: 'widgets-system',
      replicas: 2,
      storage: { etcd: { managed: { members: 3, ...managed } } },
    },
  } as AggregatedAPI;
}

test('each member has its own configuration: its name and URLs, the whole initial cluster, TLS on both ports', () => {
  const cm = etcdConfigMap(api()) as { data: Record<string, string> };
  expect(Object.keys(cm.data)).toEqual(['widgets-etcd-0.yaml', 'widgets-etcd-1.yaml', 'widgets-etcd-2.yaml']);
  const c1 = parse(cm.data['widgets-etcd-1.yaml']);
  expect(c1.name).toBe('widgets-etcd-1');
  expect(c1['initial-advertise-peer-urls']).toBe(
    'https://widgets-etcd-1.widgets-etcd-peer.widgets-system.svc:2380',
  );
  expect(c1['advertise-client-urls']).toBe(
    'https://widgets-etcd-1.widgets-etcd-peer.widgets-system.svc:2379',
  );
  expect(c1['initial-cluster'].split(',')).toHaveLength(3);
  expect(c1['initial-cluster-state']).toBe('new');
  expect(c1['initial-cluster-token']).toBe(etcdNames(api()).clusterToken);
  expect(c1['client-transport-security']['client-cert-auth']).toBe(true);
  expect(c1['peer-transport-security']['client-cert-auth']).toBe(true);
  // Only a member certificate is accepted on the peer port, not the server's client certificate.
  expect(c1['peer-transport-security']['allowed-cn']).toEqual([etcdNames(api()).memberCommonName]);
  expect(c1['listen-metrics-urls']).toBe('http://0.0.0.0:2381');
});

test('a member re-added after losing its volume rejoins as existing, the others stay new', () => {
  const cm = etcdConfigMap(api(), { 2: { state: 'existing', initialCluster: [0, 1, 2] } }) as {
    data: Record<string, string>;
  };
  expect(parse(cm.data['widgets-etcd-2.yaml'])['initial-cluster-state']).toBe('existing');
  expect(parse(cm.data['widgets-etcd-0.yaml'])['initial-cluster-state']).toBe('new');
});

test('the backend quota is 80% of the claim, etcd default on emptyDir', () => {
  expect(quotaBackendBytes({ volume: { persistentVolumeClaim: { size: '1Gi' } } })).toBe(
    Math.floor(1024 ** 3 * 0.8),
  );
  expect(quotaBackendBytes({ volume: { emptyDir: {} } })).toBe(2 * 1024 ** 3);
});

test('the StatefulSet starts members in parallel on retained claims, and probes over the metrics port', () => {
  const sts = etcdStatefulSet(
    api({ volume: { persistentVolumeClaim: { storageClassName: 'fast', size: '5Gi' } } }),
    'etcd:x',
    'd1',
  ) as Json;
  expect(sts.spec.replicas).toBe(3);
  expect(sts.spec.podManagementPolicy).toBe('Parallel');
  expect(sts.spec.serviceName).toBe('widgets-etcd-peer');
  expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({
    whenDeleted: 'Retain',
    whenScaled: 'Retain',
  });
  expect(sts.spec.volumeClaimTemplates[0].spec).toMatchObject({
    storageClassName: 'fast',
    resources: { requests: { storage: '5Gi' } },
  });
  const c = sts.spec.template.spec.containers[0];
  expect(c.args).toEqual(['--config-file=/etc/etcd/config/$(POD_NAME).yaml']);
  expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'metrics' });
  expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  expect(sts.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  expect(sts.spec.template.spec.affinity.podAntiAffinity).toBeDefined();
  const emptyDir = etcdStatefulSet(api({ volume: { emptyDir: {} } }), 'etcd:x', 'd1') as Json;
  expect(emptyDir.spec.volumeClaimTemplates).toBeUndefined();
  expect(emptyDir.spec.template.spec.volumes).toContainEqual({ name: 'data', emptyDir: {} });
});

test('the peer Service publishes members before they are ready, so they can find one another', () => {
  expect((etcdPeerService(api()) as Json).spec).toMatchObject({
    clusterIP: 'None',
    publishNotReadyAddresses: true,
  });
});

test('the Widget server gets every member and the client certificate, and rolls when it changes', () => {
  const args = serverArgs(api(), true);
  expect(args).toContain(`--etcd-servers=${clientURLs(api()).join(',')}`);
  expect(clientURLs(api())).toHaveLength(3);
  expect(args).toContain('--etcd-certfile=/var/run/aggregated-api/etcd-client/tls.crt');
  const d = deployment(api(), 'img', true, undefined, undefined, 'digest-1') as Json;
  expect(d.spec.template.metadata.annotations['aggregation.example.com/etcd-client-digest']).toBe('digest-1');
  expect(d.spec.template.spec.volumes).toContainEqual({
    name: 'etcd-client',
    secret: { secretName: 'widgets-etcd-client', defaultMode: 0o440 },
  });
  expect(d.spec.strategy.type).toBe('RollingUpdate');
});
