/**
 * Builds the server's admission chain from its configuration. Behind kube-apiserver (delegated auth, so
 * a kubeconfig or in-cluster credentials) the chain starts with NamespaceLifecycle fed by a namespace
 * informer, whose first list is a readiness check (`informer-sync`, as kube-apiserver waits for its
 * informers). Standalone there is no cluster to read namespaces from: the chain is empty, and the
 * startup log says so loudly.
 */
import type { Logger } from 'pino';
import type { WidgetServerConfig } from '../config';
import type { KubeRest } from '../../shared/kube/rest';
import type { HealthCheck } from '../http/platform-routes';
import { AdmissionChain, type AdmissionPlugin } from './admission';
import { NamespaceInformer } from './namespace-informer';
import { NamespaceLifecycle } from './namespace-lifecycle';

export interface ServerAdmission {
  chain: AdmissionChain;
  readinessChecks: Record<string, HealthCheck>;
  stop(): void;
}

export function createAdmission(
  config: WidgetServerConfig,
  logger: Logger,
  /** The delegation client, present exactly when config.delegateAuth (the server's one client). */
  kube?: KubeRest,
): ServerAdmission {
  const log = logger.child({ component: 'admission' });
  if (!config.delegateAuth || !kube) {
    log.warn(
      'NAMESPACES ARE NOT CHECKED: running without a cluster (no delegated auth), so the NamespaceLifecycle ' +
        'admission plugin is off and widgets can be created in namespaces that do not exist',
    );
    return { chain: new AdmissionChain([]), readinessChecks: {}, stop: () => undefined };
  }
  const informer = new NamespaceInformer(kube, log.child({ informer: 'namespaces' }));
  informer.start();
  const plugins: AdmissionPlugin[] = [new NamespaceLifecycle(informer)];
  const chain = new AdmissionChain(plugins);
  log.info({ plugins: chain.names }, 'admission plugins enabled');
  return {
    chain,
    readinessChecks: {
      'informer-sync': () => {
        if (!informer.hasSynced) throw new Error('1 informers not started yet: [*v1.Namespace]');
      },
    },
    stop: () => informer.stop(),
  };
}
