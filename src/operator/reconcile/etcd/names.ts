/**
 * Names and addresses of a managed etcd cluster (spec.storage.etcd.managed): one place that says what
 * the StatefulSet, its Services, Secrets and claims are called and how members reach each other, so the
 * operator's objects, the server's flags, the backup Job and the status all agree.
 */
import { SPEC_DEFAULTS, type AggregatedAPI } from '../../api/aggregated-api';

/** The operator's default etcd image (its --etcd-image flag): the bed's, built from etcd's own modules. */
export const DEFAULT_ETCD_IMAGE = 'localhost/etcd:v3.6.17';
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** etcd's --listen-metrics-urls port: /metrics, /health, /livez and /readyz over plain HTTP, for probes. */
export const ETCD_METRICS_PORT = 2381;
/** The StatefulSet's volumeClaimTemplate; claims are `<template>-<statefulset>-<ordinal>`. */
export const ETCD_DATA_VOLUME = 'data';
export const ETCD_DATA_MOUNT = '/var/lib/etcd';
/** A folder inside the volume: etcd creates it mode 0700 (the volume root may be wider). */
export const ETCD_DATA_DIR = `${ETCD_DATA_MOUNT}/data`;
export const ETCD_TLS_MOUNT = '/etc/etcd/tls';
export const ETCD_CONFIG_MOUNT = '/etc/etcd/config';

export type ManagedEtcdSpec = NonNullable<
  NonNullable<NonNullable<AggregatedAPI['spec']['storage']>['etcd']>['managed']
>;

export function managedEtcd(api: AggregatedAPI): ManagedEtcdSpec | undefined {
  return api.spec.storage?.etcd?.managed;
}

export function memberCount(spec: ManagedEtcdSpec): number {
  return spec.members ?? SPEC_DEFAULTS.storage.etcd.managed.members;
}

export function etcdNames(api: AggregatedAPI) {
  const name = api.metadata.name;
  const namespace = api.spec.namespace;
  const statefulSet = `${name}-etcd`;
  const peerService = `${name}-etcd-peer`;
  return {
    namespace,
    statefulSet,
    /** Headless, publishing not-ready addresses: members find each other before they are ready. */
    peerService,
    /** ClusterIP Service for clients that want any member (etcdctl, the backup Job). */
    clientService: `${name}-etcd`,
    podDisruptionBudget: `${name}-etcd`,
    configMap: `${name}-etcd-config`,
    caSecret: `${name}-etcd-ca`,
    /** Member certificate (server and peer, both EKUs) with the trusted bundle: tls.crt, tls.key, ca.crt. */
    memberSecret: `${name}-etcd-member`,
    /** Client certificate of the API server (and the operator and backup Job): tls.crt, tls.key, ca.crt. */
    clientSecret: `${name}-etcd-client`,
    /** Common name of the member certificate: the only one accepted on the peer port. */
    memberCommonName: `${name}-etcd-member.${namespace}`,
    /** Common name of the client certificate the server, the operator and the backup Job use. */
    clientCommonName: `${name}-etcd-client.${namespace}`,
    backupCronJob: `${name}-etcd-backup`,
    backupClaim: `${name}-etcd-backup`,
    /** The initial-cluster-token: unique per AggregatedAPI object, so two clusters never cross-talk. */
    clusterToken: `${namespace}-${name}-${api.metadata.uid}`,
  };
}

export function memberName(api: AggregatedAPI, ordinal: number): string {
  return `${etcdNames(api).statefulSet}-${ordinal}`;
}

export function memberHost(api: AggregatedAPI, ordinal: number): string {
  const n = etcdNames(api);
  return `${memberName(api, ordinal)}.${n.peerService}.${n.namespace}.svc`;
}

export function memberClaim(api: AggregatedAPI, ordinal: number): string {
  return `${ETCD_DATA_VOLUME}-${memberName(api, ordinal)}`;
}

export function memberPeerURL(api: AggregatedAPI, ordinal: number): string {
  return `https://${memberHost(api, ordinal)}:${ETCD_PEER_PORT}`;
}

export function memberClientURL(api: AggregatedAPI, ordinal: number): string {
  return `https://${memberHost(api, ordinal)}:${ETCD_CLIENT_PORT}`;
}

/** Every member's client URL: the server is given all of them and fails over between them. */
export function clientURLs(api: AggregatedAPI): string[] {
  const spec = managedEtcd(api);
  if (!spec) return [];
  return Array.from({ length: memberCount(spec) }, (_, i) => memberClientURL(api, i));
}

/** DNS names the member certificate carries: every member, the client Service, and localhost. */
export function memberDnsNames(api: AggregatedAPI): string[] {
  const n = etcdNames(api);
  return [
    `*.${n.peerService}.${n.namespace}.svc`,
    `*.${n.peerService}.${n.namespace}.svc.cluster.local`,
    n.clientService,
    `${n.clientService}.${n.namespace}`,
    `${n.clientService}.${n.namespace}.svc`,
    `${n.clientService}.${n.namespace}.svc.cluster.local`,
    'localhost',
  ];
}

export function etcdSelectorLabels(api: AggregatedAPI): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'etcd',
    'app.kubernetes.io/instance': api.metadata.name,
    'app.kubernetes.io/component': 'storage',
  };
}
