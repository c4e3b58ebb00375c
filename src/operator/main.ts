/**
 * Entrypoint of the AggregatedAPI operator: credentials (kubeconfig or in-cluster), leader election,
 * the controller, health and metrics endpoints, and a clean shutdown that releases the lease.
 *
 * Flags (environment in brackets):
 *   --metrics-bind-address=HOST:PORT   /metrics, /healthz, /readyz [default 0.0.0.0:8080]
 *   --leader-elect=true|false          Lease-based election, needed when running more than one replica
 *   --leader-election-namespace=NS     [POD_NAMESPACE, else aggregator-operator-system]
 *   --leader-election-id=NAME          Lease name [aggregator-operator]
 *   --leader-elect-lease-duration=D    how long standbys wait after the last renew they saw [15s]
 *   --leader-elect-renew-deadline=D    the leader stops when it has not renewed for this long [10s]
 *   --leader-elect-retry-period=D      between Lease attempts [2s]; lease > deadline > 1.2 × retry
 *   --workers=N                        concurrent reconciles [2]
 *   --default-image=IMAGE              image for AggregatedAPIs without spec.image [DEFAULT_SERVER_IMAGE,
 *                                      else the image of the operator's own pod]
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DEFAULT_ETCD_IMAGE } from './reconcile/etcd/names';
import { parseDuration } from './api/aggregated-api';
import { createLogger } from '../shared/logger';
import { createMetricsRegistry } from '../shared/metrics';
import { Controller } from './controller/controller';
import { createOperatorMetrics } from './controller/metrics';
import { startOperatorHttp } from './http/server';
import { EventRecorder } from './kube/events';
import { POD } from './kube/kinds';
import { LeaderElector } from '../shared/controller/leader-election';
import { loadKubeClientConfig } from '../shared/kube/client-config';
import { KubeRest } from '../shared/kube/rest';
import { AppliedState } from '../shared/kube/applied-state';
import { FIELD_MANAGER } from './kube/kinds';
import { Reconciler } from './reconcile/reconciler';
import { servedFingerprints } from './reconcile/served-certificates';

/**
 * The operator's own image, and the digest its container runs (a rebuilt image keeps its tag). The
 * kubelet reports the digest a moment after the container starts: wait for it up to 30 s.
 */
async function ownImage(rest: KubeRest): Promise<{ image?: string; imageID?: string }> {
  const { POD_NAME, POD_NAMESPACE } = process.env;
  if (!POD_NAME || !POD_NAMESPACE) return {};
  for (let attempt = 0; ; attempt++) {
    const pod = await rest.get<{
      spec?: { containers?: { image?: string }[] };
      status?: { containerStatuses?: { imageID?: string }[] };
    }>(POD, POD_NAME, POD_NAMESPACE);
    const image = pod.spec?.containers?.[0]?.image;
    const imageID = pod.status?.containerStatuses?.[0]?.imageID || undefined;
    if (imageID || attempt >= 30) return { image, imageID };
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'metrics-bind-address': { type: 'string', default: '0.0.0.0:8080' },
      'leader-elect': { type: 'string', default: 'true' },
      'leader-election-namespace': {
        type: 'string',
        default: process.env.POD_NAMESPACE ?? 'aggregator-operator-system',
      },
      'leader-election-id': { type: 'string', default: 'aggregator-operator' },
      'leader-elect-lease-duration': { type: 'string', default: '15s' },
      'leader-elect-renew-deadline': { type: 'string', default: '10s' },
      'leader-elect-retry-period': { type: 'string', default: '2s' },
      workers: { type: 'string', default: '2' },
      'default-image': { type: 'string', default: process.env.DEFAULT_SERVER_IMAGE },
      // The etcd a managed-etcd AggregatedAPI runs when it names none (the bed's, built from etcd's modules).
      'etcd-image': { type: 'string', default: process.env.DEFAULT_ETCD_IMAGE ?? DEFAULT_ETCD_IMAGE },
      'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
    },
  });
  const logger = createLogger({ name: 'aggregator-operator', level: values['log-level'] });
  const [host, portText] = values['metrics-bind-address']!.split(/:(?=\d+$)/);
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers must be a positive integer');

  const kubeConfig = loadKubeClientConfig();
  // Every write of the controller and its events goes through `rest`, refused once this replica is not
  // the leader (checked against the clock, not only when the loss is handled); the elector has its own.
  let elector: LeaderElector | undefined;
  // Applies that would change nothing are not sent: the controller's informers show whether an object
  // is still as our last apply left it (applied-state.ts).
  const late: { controller?: Controller } = {};
  const applied = new AppliedState((ref, namespace, name) => late.controller?.cached(ref, namespace, name));
  const rest = new KubeRest(kubeConfig, {
    mayWrite: () => !elector || elector.isLeader,
    fieldManager: FIELD_MANAGER,
    applied,
  });
  // Unique per process, as client-go does: a restarted container must not take the lease its previous
  // process held for granted.
  const identity = `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`;
  const registry = createMetricsRegistry();
  const metrics = createOperatorMetrics(registry);
  const own = await ownImage(rest).catch(() => ({}) as { image?: string; imageID?: string });
  const defaultImage = values['default-image'] || own.image;
  // The digest is known only when the default image is the one this process runs.
  const defaultImageID = defaultImage === own.image ? own.imageID : undefined;
  logger.info({ identity, defaultImage, defaultImageID, kubeconfig: kubeConfig.source }, 'starting');

  const reconciler = new Reconciler(rest, new EventRecorder(rest, identity, logger), metrics, logger, {
    defaultImage,
    defaultImageID,
    defaultEtcdImage: values['etcd-image']!,
    servedFingerprints,
  });
  const controller = new Controller(rest, reconciler, metrics, logger, applied);
  late.controller = controller;
  if (values['leader-elect'] === 'true') {
    elector = new LeaderElector(
      new KubeRest(kubeConfig),
      {
        namespace: values['leader-election-namespace']!,
        name: values['leader-election-id']!,
        identity,
        leaseDurationMs: parseDuration(values['leader-elect-lease-duration']!),
        renewDeadlineMs: parseDuration(values['leader-elect-renew-deadline']!),
        retryPeriodMs: parseDuration(values['leader-elect-retry-period']!),
      },
      logger,
    );
  }
  const http = await startOperatorHttp(
    registry,
    { ready: () => !elector?.isLeader || controller.synced },
    host || '0.0.0.0',
    Number(portText),
  );

  let stopping = false;
  const stop = async (signal: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await controller.stop().catch(() => undefined);
    await elector?.release();
    http.close();
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));

  if (elector) {
    await elector.acquire(() => {
      // Another replica may act from leaseDuration after our last renew: stop at once, before it does.
      logger.error('leadership lost; exiting');
      process.exit(1);
    });
  }
  // Without election this replica acts alone: it leads (the no-leader alert reads this gauge).
  metrics.leader.set(1);
  if (stopping) return;
  await controller.start(workers);
}

main().catch((err) => {
  process.stderr.write(
    `aggregator-operator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
