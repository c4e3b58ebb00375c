/**
 * Command-line flags of the Widget server, named after k8s.io/apiserver's where one exists
 * (--secure-port, --tls-cert-file, --etcd-servers, ...), parsed with Node's util.parseArgs into one
 * validated configuration object.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_GROUP } from './api/types';
import { DEFAULT_STORAGE_VERSION } from './apis/widgets';
import { allVersions } from './apis';

/** Every version some served kind has, preferred first. */
const KNOWN_VERSIONS = allVersions();
import { DEFAULT_MAX_BODY_BYTES } from './http/body';
import { DEFAULT_INPUT_LIMITS } from './api/limits';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_READ_HEADER_TIMEOUT_MS,
  DEFAULT_READ_TIMEOUT_MS,
} from './http/server';
import { parseDuration } from './http/timeouts';
import { DEFAULT_MAX_WATCH_PENDING_BYTES } from './http/watch-stream';
import { DEFAULT_WATCH_CACHE_SIZE } from './storage/watch-cache';

export interface WidgetServerConfig {
  group: string;
  /** The preferred served version (the first of `versions`). */
  version: string;
  /** --api-versions: the versions served, in priority order (discovery lists them so). */
  versions: string[];
  /** --storage-version: the version objects are written in; objects in any known version are read. */
  storageVersion: string;
  /** How often objects not in the storage version are looked for again after start-up; 0: only at start-up. */
  storageMigrationIntervalMs: number;
  /** --disable-admission-plugins: plugins of ADMISSION_PLUGINS turned off (all run by default behind a cluster). */
  disabledAdmissionPlugins: string[];
  /** --admission-cel-timeout: how long one admission policy's CEL may run for one request. */
  admissionCelTimeoutMs: number;
  bindAddress: string;
  securePort: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  etcdServers: string[];
  etcdPrefix: string;
  etcdCaFile?: string;
  etcdCertFile?: string;
  etcdKeyFile?: string;
  /** Where a standalone run keeps its generated certificates and kubeconfig. */
  localDir: string;
  maxRequestBodyBytes: number;
  /** Request-body decoding and patch bounds (api/limits.ts); the patched-object limit is maxRequestBodyBytes. */
  maxNestingDepth: number;
  maxJsonPatchOperations: number;
  jsonPatchMaxCopyBytes: number;
  maxYamlAliasCount: number;
  shutdownGraceSeconds: number;
  /** --shutdown-delay-duration: served as usual after SIGTERM, /readyz failing (http/lifecycle.ts). */
  shutdownDelayMs: number;
  /** etcd history compaction interval; 0 disables it (another apiserver compacts). */
  compactionIntervalSeconds: number;
  /** Recent events the shared etcd watch keeps for watchers to start from; 0: one etcd watch per watcher. */
  watchCacheSize: number;
  logLevel: string;
  /** kubeconfig for TokenReview, SubjectAccessReview and the authentication ConfigMap; in-cluster when absent. */
  authKubeconfig?: string;
  /** Delegate authentication and authorization to kube-apiserver (default: when running in a cluster or given a kubeconfig). */
  delegateAuth: boolean;
  /**
   * --widget-controller: run the Widget controller (leader-elected among replicas) in this process;
   * needs delegated auth (a cluster) and the RBAC the operator binds (docs/decisions/0006).
   */
  widgetController: boolean;
  /** --leader-election-namespace: where the Widget controller's Lease is (the server's namespace). */
  leaderElectionNamespace: string;
  clientCAFile?: string;
  requestHeaderClientCAFile?: string;
  requestHeaderAllowedNames: string[];
  requestHeaderUsernameHeaders: string[];
  requestHeaderUidHeaders: string[];
  requestHeaderGroupHeaders: string[];
  requestHeaderExtraHeadersPrefix: string[];
  /** Limits on requests and connections (README "Limits"); durations in milliseconds. */
  requestTimeoutMs: number;
  maxRequestsInflight: number;
  maxMutatingRequestsInflight: number;
  maxListRequestsInflight: number;
  maxListRequestsQueued: number;
  maxWatchPendingBytes: number;
  maxRequestHeaderBytes: number;
  readHeaderTimeoutMs: number;
  readTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
}

function durationFlag(name: string, value: string, allowZero = false): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (e) {
    throw new Error(`--${name}: ${(e as Error).message}`);
  }
  if (ms < 0 || (!allowZero && ms === 0))
    throw new Error(`--${name} must be a positive duration, got ${value}`);
  return ms;
}

/** An integer flag; 0 means "no limit" unless `min` says otherwise. */
function countFlag(name: string, value: string, min = 0): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${name} must be an integer >= ${min}, got ${value}`);
  return n;
}

function csv(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The admission plugins, in the order they run (kube-apiserver's order for these). */
export const ADMISSION_PLUGINS = [
  'NamespaceLifecycle',
  'MutatingAdmissionWebhook',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionWebhook',
];

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A `true`/`false` flag; anything else is refused. */
function boolFlag(name: string, value: string): boolean {
  if (value !== 'true' && value !== 'false')
    throw new Error(`--${name}: must be true or false, got ${value}`);
  return value === 'true';
}

/** The namespace of the pod's service account, as client-go's in-cluster config reads it. */
function inClusterNamespace(): string | undefined {
  try {
    return (
      readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || undefined
    );
  } catch {
    return undefined;
  }
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): WidgetServerConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'api-group': { type: 'string', default: DEFAULT_GROUP },
      'api-versions': { type: 'string', default: KNOWN_VERSIONS.join(',') },
      'storage-version': { type: 'string', default: DEFAULT_STORAGE_VERSION },
      'storage-migration-interval': { type: 'string', default: '1h' },
      'disable-admission-plugins': { type: 'string', default: '' },
      'admission-cel-timeout': { type: 'string', default: '1s' },
      'bind-address': { type: 'string', default: '127.0.0.1' },
      'secure-port': { type: 'string', default: '8443' },
      'tls-cert-file': { type: 'string' },
      'tls-private-key-file': { type: 'string' },
      'etcd-servers': { type: 'string', default: env.ETCD_SERVERS ?? '' },
      'etcd-prefix': { type: 'string' },
      'etcd-cafile': { type: 'string' },
      'etcd-certfile': { type: 'string' },
      'etcd-keyfile': { type: 'string' },
      'local-dir': { type: 'string', default: '.local' },
      'max-request-body-bytes': { type: 'string', default: String(DEFAULT_MAX_BODY_BYTES) },
      'max-nesting-depth': { type: 'string', default: String(DEFAULT_INPUT_LIMITS.maxNestingDepth) },
      'max-json-patch-operations': {
        type: 'string',
        default: String(DEFAULT_INPUT_LIMITS.maxJsonPatchOperations),
      },
      'json-patch-max-copy-bytes': {
        type: 'string',
        default: String(DEFAULT_INPUT_LIMITS.jsonPatchMaxCopyBytes),
      },
      'max-yaml-alias-count': { type: 'string', default: String(DEFAULT_INPUT_LIMITS.maxYamlAliasCount) },
      'shutdown-grace-seconds': { type: 'string', default: '30' },
      'shutdown-delay-duration': { type: 'string', default: '0s' },
      'etcd-compaction-interval-seconds': { type: 'string', default: '300' },
      'default-watch-cache-size': { type: 'string', default: String(DEFAULT_WATCH_CACHE_SIZE) },
      'log-level': { type: 'string', default: env.LOG_LEVEL ?? 'info' },
      'authentication-kubeconfig': { type: 'string' },
      'delegate-auth': { type: 'string' },
      'widget-controller': { type: 'string', default: 'false' },
      'leader-election-namespace': { type: 'string' },
      'client-ca-file': { type: 'string' },
      'requestheader-client-ca-file': { type: 'string' },
      'requestheader-allowed-names': { type: 'string' },
      'requestheader-username-headers': { type: 'string' },
      'requestheader-uid-headers': { type: 'string' },
      'requestheader-group-headers': { type: 'string' },
      'requestheader-extra-headers-prefix': { type: 'string' },
      'request-timeout': { type: 'string', default: '60s' },
      'max-requests-inflight': { type: 'string', default: '400' },
      'max-mutating-requests-inflight': { type: 'string', default: '200' },
      'max-list-requests-inflight': { type: 'string', default: '1' },
      'max-list-requests-queued': { type: 'string', default: '16' },
      'max-watch-pending-bytes': { type: 'string', default: String(DEFAULT_MAX_WATCH_PENDING_BYTES) },
      'max-request-header-bytes': { type: 'string', default: String(DEFAULT_MAX_HEADER_BYTES) },
      'read-header-timeout': { type: 'string', default: `${DEFAULT_READ_HEADER_TIMEOUT_MS}ms` },
      'read-timeout': { type: 'string', default: `${DEFAULT_READ_TIMEOUT_MS}ms` },
      'idle-timeout': { type: 'string', default: `${DEFAULT_IDLE_TIMEOUT_MS}ms` },
      'max-connections': { type: 'string', default: String(DEFAULT_MAX_CONNECTIONS) },
    },
  });
  const group = values['api-group']!;
  if (!DNS_SUBDOMAIN.test(group) || !group.includes('.') || group.length > 253) {
    throw new Error(
      `--api-group must be a DNS subdomain with at least one dot, got ${JSON.stringify(group)}`,
    );
  }
  const requested = csv(values['api-versions']!);
  const unknown = requested.filter((v) => !KNOWN_VERSIONS.includes(v));
  if (unknown.length || !requested.length) {
    throw new Error(
      `--api-versions must list versions this server serves (${KNOWN_VERSIONS.join(', ')}), got ${JSON.stringify(values['api-versions'])}`,
    );
  }
  // Priority order is the kind's, whatever order the flag lists them in.
  const versions = KNOWN_VERSIONS.filter((v) => requested.includes(v));
  const storageVersion = values['storage-version']!;
  if (!KNOWN_VERSIONS.includes(storageVersion)) {
    throw new Error(
      `--storage-version must be one of ${KNOWN_VERSIONS.join(', ')}, got ${JSON.stringify(storageVersion)}`,
    );
  }
  const disabledAdmissionPlugins = csv(values['disable-admission-plugins']);
  const unknownPlugins = disabledAdmissionPlugins.filter((p) => !ADMISSION_PLUGINS.includes(p));
  if (unknownPlugins.length)
    throw new Error(
      `--disable-admission-plugins: unknown plugins ${unknownPlugins.join(', ')} (known: ${ADMISSION_PLUGINS.join(', ')})`,
    );
  const securePort = Number(values['secure-port']);
  if (!Number.isInteger(securePort) || securePort < 0 || securePort > 65535) {
    throw new Error(`--secure-port must be a port number, got ${values['secure-port']}`);
  }
  if (!!values['tls-cert-file'] !== !!values['tls-private-key-file']) {
    throw new Error('--tls-cert-file and --tls-private-key-file must be given together');
  }
  const maxRequestBodyBytes = Number(values['max-request-body-bytes']);
  if (!Number.isInteger(maxRequestBodyBytes) || maxRequestBodyBytes <= 0) {
    throw new Error('--max-request-body-bytes must be a positive integer');
  }
  const etcdServers = values['etcd-servers']!.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    group,
    version: versions[0],
    versions,
    storageVersion,
    storageMigrationIntervalMs: durationFlag(
      'storage-migration-interval',
      values['storage-migration-interval']!,
      true,
    ),
    disabledAdmissionPlugins,
    admissionCelTimeoutMs: durationFlag('admission-cel-timeout', values['admission-cel-timeout']!),
    bindAddress: values['bind-address']!,
    securePort,
    tlsCertFile: values['tls-cert-file'],
    tlsKeyFile: values['tls-private-key-file'],
    etcdServers,
    etcdPrefix: values['etcd-prefix'] ?? `/registry/${group}`,
    etcdCaFile: values['etcd-cafile'],
    etcdCertFile: values['etcd-certfile'],
    etcdKeyFile: values['etcd-keyfile'],
    localDir: values['local-dir']!,
    maxRequestBodyBytes,
    maxNestingDepth: countFlag('max-nesting-depth', values['max-nesting-depth']!, 1),
    maxJsonPatchOperations: countFlag('max-json-patch-operations', values['max-json-patch-operations']!, 1),
    jsonPatchMaxCopyBytes: countFlag('json-patch-max-copy-bytes', values['json-patch-max-copy-bytes']!, 1),
    maxYamlAliasCount: countFlag('max-yaml-alias-count', values['max-yaml-alias-count']!, 1),
    shutdownGraceSeconds: Number(values['shutdown-grace-seconds']),
    shutdownDelayMs: durationFlag('shutdown-delay-duration', values['shutdown-delay-duration']!, true),
    compactionIntervalSeconds: Number(values['etcd-compaction-interval-seconds']),
    watchCacheSize: countFlag('default-watch-cache-size', values['default-watch-cache-size']!, 0),
    logLevel: values['log-level']!,
    authKubeconfig: values['authentication-kubeconfig'],
    delegateAuth:
      values['delegate-auth'] !== undefined
        ? values['delegate-auth'] === 'true'
        : !!values['authentication-kubeconfig'] || !!env.KUBERNETES_SERVICE_HOST,
    widgetController: boolFlag('widget-controller', values['widget-controller']!),
    leaderElectionNamespace: values['leader-election-namespace'] ?? inClusterNamespace() ?? 'default',
    clientCAFile: values['client-ca-file'],
    requestHeaderClientCAFile: values['requestheader-client-ca-file'],
    requestHeaderAllowedNames: csv(values['requestheader-allowed-names']),
    requestHeaderUsernameHeaders: csv(values['requestheader-username-headers'] ?? 'X-Remote-User'),
    requestHeaderUidHeaders: csv(values['requestheader-uid-headers']),
    requestHeaderGroupHeaders: csv(values['requestheader-group-headers'] ?? 'X-Remote-Group'),
    requestHeaderExtraHeadersPrefix: csv(values['requestheader-extra-headers-prefix'] ?? 'X-Remote-Extra-'),
    requestTimeoutMs: durationFlag('request-timeout', values['request-timeout']!),
    maxRequestsInflight: countFlag('max-requests-inflight', values['max-requests-inflight']!),
    maxMutatingRequestsInflight: countFlag(
      'max-mutating-requests-inflight',
      values['max-mutating-requests-inflight']!,
    ),
    maxListRequestsInflight: countFlag('max-list-requests-inflight', values['max-list-requests-inflight']!),
    maxListRequestsQueued: countFlag('max-list-requests-queued', values['max-list-requests-queued']!),
    maxWatchPendingBytes:
      countFlag('max-watch-pending-bytes', values['max-watch-pending-bytes']!) || Infinity,
    maxRequestHeaderBytes: countFlag('max-request-header-bytes', values['max-request-header-bytes']!, 1),
    readHeaderTimeoutMs: durationFlag('read-header-timeout', values['read-header-timeout']!),
    readTimeoutMs: durationFlag('read-timeout', values['read-timeout']!),
    idleTimeoutMs: durationFlag('idle-timeout', values['idle-timeout']!),
    maxConnections: countFlag('max-connections', values['max-connections']!),
  };
}
