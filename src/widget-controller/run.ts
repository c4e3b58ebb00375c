/**
 * Runs the Widget controller inside a Widget server process (docs/decisions/0006-widget-controller.md):
 * every replica is a candidate for the Lease `widget-controller` in the server's namespace, and only
 * the leader runs the controller, whose writes are refused by its client the moment leadership lapses.
 * A replica that loses the lease stops the controller and becomes a candidate again; stopping the server
 * releases the lease so that another replica takes over at once.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeClientConfig } from '../shared/kube/client-config';
import { LeaderElector } from '../shared/controller/leader-election';
import type { ControllerMetrics } from '../shared/controller/metrics';
import { KubeRest } from '../shared/kube/rest';
import { FIELD_MANAGER, WidgetController } from './controller';

export const LEASE_NAME = 'widget-controller';

export interface WidgetControllerConfig {
  group: string;
  version: string;
  /** Where the Lease is: the server's own namespace. */
  leaseNamespace: string;
  metrics?: ControllerMetrics;
}

export interface RunningWidgetController {
  stop(): Promise<void>;
}

export function runWidgetController(
  kubeConfig: KubeClientConfig,
  config: WidgetControllerConfig,
  logger: Logger,
): RunningWidgetController {
  const log = logger.child({ component: 'widget-controller' });
  // Unique per process, as client-go's: a restarted container must not inherit its predecessor's lease.
  const identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
  let stopped = false;
  let elector: LeaderElector | undefined;
  let controller: WidgetController | undefined;
  let lost: () => void = () => undefined;

  const lead = async () => {
    while (!stopped) {
      elector = new LeaderElector(
        new KubeRest(kubeConfig),
        { namespace: config.leaseNamespace, name: LEASE_NAME, identity },
        log,
      );
      const current = elector;
      const leadershipLost = new Promise<void>((resolve) => (lost = resolve));
      await current.acquire(() => lost());
      if (stopped) return;
      const rest = new KubeRest(kubeConfig, {
        mayWrite: () => current.isLeader,
        fieldManager: FIELD_MANAGER,
      });
      controller = new WidgetController(
        rest,
        { group: config.group, version: config.version, metrics: config.metrics },
        log,
      );
      await controller.start();
      await leadershipLost;
      await controller.stop();
      controller = undefined;
    }
  };
  const done = lead().catch((e: Error) => log.error({ err: e.message }, 'widget controller stopped'));

  return {
    async stop() {
      stopped = true;
      lost();
      await controller?.stop();
      await elector?.release();
      await done;
    },
  };
}
