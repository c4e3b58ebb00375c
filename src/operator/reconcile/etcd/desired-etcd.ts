/**
 * The objects of a managed etcd cluster, as server-side-apply documents: its Secrets (CA state, member
 * and client certificates with the trusted bundle), one etcd configuration file per member in a
 * ConfigMap, the StatefulSet, its headless peer Service and client Service, and a PodDisruptionBudget.
 *
 * Each member reads its own file (`--config-file=.../$(POD_NAME).yaml`) so that one member's
 * initial-cluster-state can differ from the others': a member whose volume was replaced rejoins as
 * `existing` after the operator re-added it, while the rest keep `new` (which makes a fresh member on
 * a lost volume refuse to start instead of rejoining under its old identity; see members.ts).
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { quantityNanos } from '../../../widget-server/api/quantity';
import { ownerLabels, SPEC_DEFAULTS, type AggregatedAPI } from '../../api/aggregated-api';
import type { KubeObject } from '../../../shared/kube/rest';
import type { KeyPair } from '../certificates';
import { meta } from '../owned-meta';
import { secret } from '../desired';
import {
  ETCD_CLIENT_PORT,
  ETCD_CONFIG_MOUNT,
  ETCD_DATA_DIR,
  ETCD_DATA_MOUNT,
  ETCD_DATA_VOLUME,
  ETCD_METRICS_PORT,
  ETCD_PEER_PORT,
  ETCD_TLS_MOUNT,
  etcdNames,
  etcdSelectorLabels,
  managedEtcd,
  memberClientURL,
  memberCount,
  memberName,
  memberPeerURL,
  type ManagedEtcdSpec,
} from './names';

/** Pod template annotation: a digest of the member certificate and bundle, so a change rolls members. */
export const ETCD_TLS_DIGEST_ANNOTATION = 'aggregation.example.com/etcd-tls-digest';
/** etcd's backend quota when the volume's size is unknown (emptyDir): etcd's own default, 2 GiB. */
const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;

export function digest(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 32);
}

export function etcdCaSecret(api: AggregatedAPI, data: Record<string, string>, rv?: string): KubeObject {
  return secret(api, etcdNames(api).caSecret, 'Opaque', data, rv);
}

export function etcdTlsSecret(
  api: AggregatedAPI,
  which: 'member' | 'client',
  pair: KeyPair,
  bundle: string,
  rv?: string,
): KubeObject {
  const n = etcdNames(api);
  const data = { 'tls.crt': pair.certPem, 'tls.key': pair.keyPem, 'ca.crt': bundle };
  return secret(api, which === 'member' ? n.memberSecret : n.clientSecret, 'kubernetes.io/tls', data, rv);
}

export function volumeSizeBytes(spec: ManagedEtcdSpec): number | undefined {
  const claim = spec.volume?.persistentVolumeClaim;
  if (spec.volume?.emptyDir || !claim) return undefined;
  const parsed = quantityNanos(
    claim.size ?? SPEC_DEFAULTS.storage.etcd.managed.volume.persistentVolumeClaim.size,
  );
  return 'error' in parsed ? undefined : Number(parsed.nanos / 1_000_000_000n);
}

/** etcd's backend quota: 80% of the volume, leaving room for the WAL and snapshots beside the db. */
export function quotaBackendBytes(spec: ManagedEtcdSpec): number {
  const size = volumeSizeBytes(spec);
  return size ? Math.floor(size * 0.8) : DEFAULT_QUOTA_BYTES;
}

export type MemberState = 'new' | 'existing';

/**
 * One member's etcd configuration. `initialCluster` lists the members it bootstraps with (all of them
 * at creation; the current membership when it rejoins as `existing`).
 */
export function memberConfig(
  api: AggregatedAPI,
  ordinal: number,
  state: MemberState,
  initialCluster: number[],
): string {
  const spec = managedEtcd(api)!;
  const tls = (clientCertAuth: boolean) => ({
    'cert-file': `${ETCD_TLS_MOUNT}/tls.crt`,
    'key-file': `${ETCD_TLS_MOUNT}/tls.key`,
    'trusted-ca-file': `${ETCD_TLS_MOUNT}/ca.crt`,
    'client-cert-auth': clientCertAuth,
  });
  return stringify({
    name: memberName(api, ordinal),
    'data-dir': ETCD_DATA_DIR,
    'listen-peer-urls': `https://0.0.0.0:${ETCD_PEER_PORT}`,
    'listen-client-urls': `https://0.0.0.0:${ETCD_CLIENT_PORT}`,
    // Plain HTTP for the kubelet's probes and Prometheus: /livez, /readyz, /health, /metrics only.
    'listen-metrics-urls': `http://0.0.0.0:${ETCD_METRICS_PORT}`,
    'initial-advertise-peer-urls': memberPeerURL(api, ordinal),
    'advertise-client-urls': memberClientURL(api, ordinal),
    'initial-cluster': initialCluster.map((i) => `${memberName(api, i)}=${memberPeerURL(api, i)}`).join(','),
    'initial-cluster-token': etcdNames(api).clusterToken,
    'initial-cluster-state': state,
    'quota-backend-bytes': quotaBackendBytes(spec),
    // Every client and peer must present a certificate from this API's etcd CA; on the peer port only
    // a member's (by its common name: the server's client certificate is refused there). Peers are
    // not checked by reverse DNS of their address: the name is the proof, and the CA is this API's.
    'client-transport-security': tls(true),
    'peer-transport-security': {
      ...tls(true),
      'allowed-cn': [etcdNames(api).memberCommonName],
      'skip-client-san-verification': true,
    },
    logger: 'zap',
    'log-outputs': ['stderr'],
    'log-level': 'info',
  });
}

/** The ConfigMap of member configurations; `states` gives each ordinal's state (default `new`). */
export function etcdConfigMap(
  api: AggregatedAPI,
  states: Record<number, { state: MemberState; initialCluster: number[] }> = {},
): KubeObject {
  const spec = managedEtcd(api)!;
  const all = Array.from({ length: memberCount(spec) }, (_, i) => i);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(api, etcdNames(api).configMap, api.spec.namespace),
    data: Object.fromEntries(
      all.map((i) => {
        const s = states[i] ?? { state: 'new' as const, initialCluster: all };
        return [`${memberName(api, i)}.yaml`, memberConfig(api, i, s.state, s.initialCluster)];
      }),
    ),
  };
}

export function etcdPeerService(api: AggregatedAPI): KubeObject {
  const n = etcdNames(api);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(api, n.peerService, n.namespace),
    spec: {
      clusterIP: 'None',
      // Members must resolve one another while bootstrapping, before any of them is ready.
      publishNotReadyAddresses: true,
      selector: etcdSelectorLabels(api),
      ports: [
        { name: 'client', port: ETCD_CLIENT_PORT, targetPort: 'client', protocol: 'TCP' },
        { name: 'peer', port: ETCD_PEER_PORT, targetPort: 'peer', protocol: 'TCP' },
      ],
    },
  };
}

export function etcdClientService(api: AggregatedAPI): KubeObject {
  const n = etcdNames(api);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(api, n.clientService, n.namespace),
    spec: {
      type: 'ClusterIP',
      selector: etcdSelectorLabels(api),
      ports: [
        { name: 'client', port: ETCD_CLIENT_PORT, targetPort: 'client', protocol: 'TCP' },
        { name: 'metrics', port: ETCD_METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' },
      ],
    },
  };
}

export function etcdPodDisruptionBudget(api: AggregatedAPI): KubeObject {
  const n = etcdNames(api);
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(api, n.podDisruptionBudget, n.namespace),
    // One member at a time keeps a quorum of 3 or 5; a single member has none to keep.
    spec: { maxUnavailable: 1, selector: { matchLabels: etcdSelectorLabels(api) } },
  };
}

export function etcdStatefulSet(api: AggregatedAPI, image: string, tlsDigest: string): KubeObject {
  const n = etcdNames(api);
  const spec = managedEtcd(api)!;
  const defaults = SPEC_DEFAULTS.storage.etcd.managed;
  const labels = { ...etcdSelectorLabels(api), ...ownerLabels(api) };
  const claim = spec.volume?.emptyDir ? undefined : (spec.volume?.persistentVolumeClaim ?? {});
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'metrics', scheme: 'HTTP' },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(api, n.statefulSet, n.namespace),
    spec: {
      replicas: memberCount(spec),
      serviceName: n.peerService,
      selector: { matchLabels: etcdSelectorLabels(api) },
      // All members start together: a cluster cannot become ready until a quorum has started.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      // Claims outlive the StatefulSet and the AggregatedAPI: data is never deleted by accident.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      template: {
        metadata: { labels, annotations: { [ETCD_TLS_DIGEST_ANNOTATION]: tlsDigest } },
        spec: {
          terminationGracePeriodSeconds: 30,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            fsGroup: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    topologyKey: 'kubernetes.io/hostname',
                    labelSelector: { matchLabels: etcdSelectorLabels(api) },
                  },
                },
              ],
            },
          },
          containers: [
            {
              name: 'etcd',
              image,
              imagePullPolicy: spec.imagePullPolicy ?? defaults.imagePullPolicy,
              args: [`--config-file=${ETCD_CONFIG_MOUNT}/$(POD_NAME).yaml`],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [
                { name: 'client', containerPort: ETCD_CLIENT_PORT, protocol: 'TCP' },
                { name: 'peer', containerPort: ETCD_PEER_PORT, protocol: 'TCP' },
                { name: 'metrics', containerPort: ETCD_METRICS_PORT, protocol: 'TCP' },
              ],
              // /readyz fails without a quorum or while the member is a learner; /livez only when the
              // process is stuck. A starting member may replay a long WAL: the startup probe allows 5 min.
              readinessProbe: probe('/readyz', 2, 3),
              livenessProbe: probe('/livez', 10, 6),
              startupProbe: probe('/livez', 5, 60),
              ...(spec.resources ? { resources: spec.resources } : {}),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: ETCD_DATA_VOLUME, mountPath: ETCD_DATA_MOUNT },
                { name: 'tls', mountPath: ETCD_TLS_MOUNT, readOnly: true },
                { name: 'config', mountPath: ETCD_CONFIG_MOUNT, readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'tls', secret: { secretName: n.memberSecret, defaultMode: 0o440 } },
            { name: 'config', configMap: { name: n.configMap } },
            ...(claim ? [] : [{ name: ETCD_DATA_VOLUME, emptyDir: {} }]),
          ],
        },
      },
      ...(claim
        ? {
            volumeClaimTemplates: [
              {
                apiVersion: 'v1',
                kind: 'PersistentVolumeClaim',
                metadata: { name: ETCD_DATA_VOLUME, labels },
                spec: {
                  accessModes: ['ReadWriteOnce'],
                  ...(claim.storageClassName ? { storageClassName: claim.storageClassName } : {}),
                  resources: {
                    requests: { storage: claim.size ?? defaults.volume.persistentVolumeClaim.size },
                  },
                },
              },
            ],
          }
        : {}),
    },
  };
}
