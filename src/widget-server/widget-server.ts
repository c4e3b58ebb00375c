/**
 * Wires one Widget server process together from its configuration: storage (etcd when endpoints are
 * given, the embedded store otherwise), registry, HTTP app, TLS serving (given files, or a local CA and
 * serving certificate for standalone runs), metrics and health checks. Used by main.ts and by tests that
 * run the server in-process.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { createApiServerMetrics, createMetricsRegistry } from '../shared/metrics';
import type { WidgetServerConfig } from './config';
import { configureInputLimits } from './api/limits';
import { createApp, type RequestMetrics } from './http/app';
import { InflightLimiter } from './http/inflight';
import { HttpsServing } from './http/server';
import { TlsReloader } from './http/tls-reloader';
import { createRequestAuth } from './auth/request-auth';
import { WatchCacheStorage } from './storage/watch-cache';
import { loadKubeConfig } from './auth/kube-delegation';
import { KubeRest } from '../shared/kube/rest';
import { ApiRegistries } from './registry/registries';
import type { KindRegistry } from './registry/kind-registry';
import { KINDS } from './apis';
import type { AnyKind } from './apis/kind';
import { widgetKind } from './apis/widgets';
import type { Widget } from './api/types';
import { MemoryStorage } from './storage/memory';
import type { Storage } from './storage/storage';
import { Compactor } from './storage/compactor';
import type { StandaloneCredentials } from './standalone';
import { createAdmission } from './admission/setup';
import { runWidgetController } from '../widget-controller/run';
import { createControllerMetrics } from '../shared/controller/metrics';
import { StorageMigrationRunner, type MigrationMetrics } from './registry/storage-migration';

function createMigrationMetrics(registry: Registry): MigrationMetrics {
  const stored = new Gauge({
    name: 'widget_server_stored_objects',
    help: 'Objects in storage per resource and stored apiVersion, after the latest complete storage version migration run.',
    labelNames: ['resource', 'api_version'],
    registers: [registry],
  });
  const seen = new Map<string, Set<string>>();
  const rewritten = new Counter({
    name: 'widget_server_storage_migration_rewritten_objects_total',
    help: 'Objects rewritten in the storage version by storage version migration.',
    labelNames: ['resource'],
    registers: [registry],
  });
  return {
    present: (resource, byApiVersion) => {
      // A version no longer present is reported as 0, not left at its last count.
      const versions = seen.get(resource) ?? new Set<string>();
      seen.set(resource, versions);
      for (const v of Object.keys(byApiVersion)) versions.add(v);
      for (const v of versions) stored.set({ resource, api_version: v }, byApiVersion[v] ?? 0);
    },
    rewritten: (resource, count) => rewritten.inc({ resource }, count),
  };
}

export interface RunningWidgetServer {
  address: AddressInfo;
  /** https://host:port as clients should reach it. */
  url: string;
  storage: Storage;
  /** The Widget kind's registry (tests write through it directly). */
  registry: KindRegistry<Widget>;
  /** Every kind's registry: the storage map. */
  registries: ApiRegistries;
  serving: HttpsServing;
  /** The Widget kind's storage version migration, started with the server (registry/storage-migration.ts). */
  migration: StorageMigrationRunner;
  standalone?: StandaloneCredentials;
  stop(): Promise<void>;
}

/** kube-apiserver reports the installer's action verbs in request metrics, not the RBAC verbs. */
const METRIC_VERBS: Record<string, string> = {
  create: 'POST',
  update: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
};

export function createStorage(config: WidgetServerConfig): Storage {
  if (config.etcdServers.length === 0) return new MemoryStorage();
  // Loaded only here: the etcd client (gRPC, protobufjs parsing etcd's .proto files) is a seventh of the
  // start-up CPU of a server that does not use it, and every pod start pays for what loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { EtcdStorage } = require('./storage/etcd') as typeof import('./storage/etcd');
  // One etcd watch for all watchers, with a window of recent events (storage/watch-cache.ts).
  const etcd = new EtcdStorage({
    endpoints: config.etcdServers,
    prefix: config.etcdPrefix,
    requestTimeoutMs: config.requestTimeoutMs,
    tls:
      config.etcdCaFile || config.etcdCertFile
        ? { caFile: config.etcdCaFile, certFile: config.etcdCertFile, keyFile: config.etcdKeyFile }
        : undefined,
  });
  return new WatchCacheStorage(etcd, config.watchCacheSize);
}

export async function startWidgetServer(
  config: WidgetServerConfig,
  logger: Logger,
  /** The kinds to serve (default: apis/index.ts); tests add one to prove the map drives everything. */
  kinds: readonly AnyKind[] = KINDS,
  /** Not a flag: false only to measure what managedFields cost (bench/managed-fields.ts). */
  internal: { trackManagedFields?: boolean } = {},
): Promise<RunningWidgetServer> {
  configureInputLimits({
    maxNestingDepth: config.maxNestingDepth,
    maxJsonPatchOperations: config.maxJsonPatchOperations,
    jsonPatchMaxCopyBytes: config.jsonPatchMaxCopyBytes,
    maxObjectBytes: config.maxRequestBodyBytes,
    maxYamlAliasCount: config.maxYamlAliasCount,
  });
  const storage = createStorage(config);
  // Behind kube-apiserver, one client (one connection pool) for reviews and informers.
  const kube = config.delegateAuth ? new KubeRest(loadKubeConfig(config.authKubeconfig)) : undefined;
  // NamespaceLifecycle when behind kube-apiserver; standalone, an empty chain and a loud warning.
  const metricsRegistry = createMetricsRegistry();
  const admission = createAdmission(config, logger, kube, metricsRegistry);
  // The Widget controller, where asked for: it reads and writes through kube-apiserver like any other.
  const widgetController =
    config.widgetController && config.delegateAuth
      ? runWidgetController(
          loadKubeConfig(config.authKubeconfig),
          {
            group: config.group,
            version: config.version,
            leaseNamespace: config.leaderElectionNamespace,
            metrics: createControllerMetrics(metricsRegistry, 'widget'),
          },
          logger,
        )
      : undefined;
  if (config.widgetController && !config.delegateAuth)
    logger.warn('--widget-controller needs a cluster (delegated auth): the Widget controller is not run');
  // The storage map: a registry per kind in apis/index.ts, each serving the versions it has.
  const registries = new ApiRegistries(storage, kinds, {
    group: config.group,
    versions: config.versions,
    storageVersion: config.storageVersion,
    admission: admission.chain,
    trackManagedFields: internal.trackManagedFields,
  });
  const registry = registries.lookup(config.version, widgetKind.names.resource) as KindRegistry<Widget>;
  const apiMetrics = createApiServerMetrics(metricsRegistry);
  const group = config.group;
  const metrics: RequestMetrics = {
    observe(info, code, seconds, dryRun) {
      apiMetrics.observeRequest({
        verb: info.isResourceRequest
          ? (METRIC_VERBS[info.verb] ?? info.verb.toUpperCase())
          : info.verb.toUpperCase(),
        dryRun: dryRun ? 'All' : '',
        group: info.isResourceRequest ? (info.apiGroup ?? '') : '',
        version: info.isResourceRequest ? (info.apiVersion ?? '') : '',
        resource: info.resource ?? '',
        subresource: info.subresource ?? (info.isResourceRequest ? '' : info.path),
        scope: !info.isResourceRequest
          ? ''
          : info.name
            ? 'resource'
            : info.namespace
              ? 'namespace'
              : 'cluster',
        code,
        seconds,
      });
    },
    inflight(kind, delta) {
      apiMetrics.currentInflightRequests.inc({ request_kind: kind }, delta);
    },
    watchers(delta, version, resource) {
      apiMetrics.longrunningRequests.inc(
        { verb: 'WATCH', group, version, resource, scope: 'namespace' },
        delta,
      );
    },
  };

  let standalone: StandaloneCredentials | undefined;
  let tls: { cert: string | Buffer; key: string | Buffer };
  let reloader: TlsReloader | undefined;
  // The reloader installs certificates on the listener, which exists only once the app is built.
  const servingRef: { current?: HttpsServing } = {};
  if (config.tlsCertFile && config.tlsKeyFile) {
    reloader = new TlsReloader(
      config.tlsCertFile,
      config.tlsKeyFile,
      (pair) => servingRef.current?.setSecureContext(pair),
      logger.child({ component: 'tls' }),
    );
    tls = await reloader.load();
  } else {
    // Issuing certificates needs node-forge, which a server given its certificate never loads.
    const { ensureStandaloneCredentials } = await import('./standalone');
    standalone = await ensureStandaloneCredentials(config.localDir, config.bindAddress);
    tls = { cert: standalone.servingCertPem, key: standalone.servingKeyPem };
  }
  const auth = await createRequestAuth(config, logger, { kube, standaloneClientCA: standalone?.caCertPem });

  const widgetApp = createApp({
    registries,
    logger,
    metricsRegistry,
    metrics,
    maxBodyBytes: config.maxRequestBodyBytes,
    filter: auth.filter,
    requestTimeoutMs: config.requestTimeoutMs,
    inflight: new InflightLimiter(
      {
        readOnly: config.maxRequestsInflight,
        mutating: config.maxMutatingRequestsInflight,
        heavyLists: config.maxListRequestsInflight,
        heavyListsQueued: config.maxListRequestsQueued,
      },
      (kind) => apiMetrics.droppedRequests.inc({ request_kind: kind }),
    ),
    maxWatchPendingBytes: config.maxWatchPendingBytes,
    onWatcherTerminated: (resource) => apiMetrics.terminatedWatchers.inc({ group, resource }),
    readinessChecks: {
      // Fails while no etcd member with a leader answers (EtcdStorage.ping), so that a load balancer or
      // the aggregator sends requests to a replica that can serve them.
      [`${storage.kind}-storage`]: () => storage.ping(),
      'authentication-config': () => {
        if (!auth.ready()) throw new Error('authentication configuration not loaded yet');
      },
      ...admission.readinessChecks,
    },
    // Not the store: a restart does not bring etcd back, and a kubelet restarting every replica during an
    // etcd outage only drops watches and the watch cache, then restarts them again. kube-apiserver does
    // put an "etcd" check in /livez (k8s.io/apiserver EtcdOptions.addEtcdHealthEndpoint adds it with
    // AddHealthChecks, to /healthz, /livez and /readyz); this server deliberately does not.
    livenessChecks: {},
  });
  const serving = new HttpsServing(
    widgetApp,
    {
      host: config.bindAddress,
      port: config.securePort,
      tls,
      requestClientCert: true,
      shutdownGraceMs: config.shutdownGraceSeconds * 1000,
      maxHeaderBytes: config.maxRequestHeaderBytes,
      readHeaderTimeoutMs: config.readHeaderTimeoutMs,
      readTimeoutMs: config.readTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnections: config.maxConnections,
    },
    logger,
  );
  servingRef.current = serving;
  const address = await serving.listen();
  reloader?.start();
  // The embedded store bounds its own history; etcd needs kube-apiserver's periodic compaction.
  const compactor = new Compactor(
    storage,
    storage.kind === 'etcd' ? config.compactionIntervalSeconds * 1000 : 0,
    logger,
  );
  compactor.start();
  const migrationMetrics = createMigrationMetrics(metricsRegistry);
  const migrations = registries
    .all()
    .map(
      (r) =>
        new StorageMigrationRunner(
          r.migrationTarget(),
          config.storageMigrationIntervalMs,
          logger.child({ component: 'storage-migration' }),
          migrationMetrics,
        ),
    );
  for (const m of migrations) m.start();
  const migration = migrations[registries.all().indexOf(registry)];
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `https://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  if (standalone) await standalone.writeKubeconfig(url);

  let stopped: Promise<void> | undefined;
  return {
    address,
    url,
    storage,
    registry,
    registries,
    serving,
    migration,
    standalone,
    stop() {
      stopped ??= (async () => {
        compactor.stop();
        for (const m of migrations) m.stop();
        // Releasing the Lease first lets another replica take the controller over at once.
        await widgetController?.stop();
        // Requests are served until the drain ends, so what they need (authentication, admission, the
        // Kubernetes client, certificate reloads) stops only after it.
        await serving.shutdown(config.shutdownDelayMs, () => registries.stopAllWatches());
        reloader?.stop();
        auth.stop();
        admission.stop();
        kube?.close();
        await storage.close();
      })();
      return stopped;
    },
  };
}
