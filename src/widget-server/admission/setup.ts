/**
 * Builds the server's admission chain from its configuration. Behind kube-apiserver (delegated auth, so
 * a kubeconfig or in-cluster credentials) the chain is NamespaceLifecycle, fed by a namespace informer,
 * then ValidatingAdmissionPolicy, fed by informers on the cluster's policies and bindings, then
 * ValidatingAdmissionWebhook, fed by one on ValidatingWebhookConfigurations, in kube-apiserver's order;
 * `--disable-admission-plugins` turns any off. The informers' first lists are
 * a readiness check (`informer-sync`, as kube-apiserver waits for its informers). Standalone there is no
 * cluster to read from: the chain is empty, and the startup log says so loudly.
 */
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { WidgetServerConfig } from '../config';
import { Informer } from '../../shared/kube/informer';
import type { KubeRest } from '../../shared/kube/rest';
import type { HealthCheck } from '../http/platform-routes';
import { AdmissionChain, type AdmissionPlugin } from './admission';
import { createAdmissionMetrics } from './metrics';
import { NamespaceInformer } from './namespace-informer';
import { NamespaceLifecycle } from './namespace-lifecycle';
import { CelEvaluator } from './policy/cel-evaluator';
import { ParamSources } from './policy/params';
import {
  ValidatingAdmissionWebhookPlugin,
  type ValidatingWebhookConfiguration,
} from './webhook/validating-webhook';
import {
  ValidatingAdmissionPolicyPlugin,
  type PolicyMetrics,
  type ValidatingAdmissionPolicy,
  type ValidatingAdmissionPolicyBinding,
} from './policy/validating-admission-policy';

export interface ServerAdmission {
  chain: AdmissionChain;
  readinessChecks: Record<string, HealthCheck>;
  stop(): void;
}

const ADMISSIONREGISTRATION = '/apis/admissionregistration.k8s.io/v1';

export function createAdmission(
  config: WidgetServerConfig,
  logger: Logger,
  /** The delegation client, present exactly when config.delegateAuth (the server's one client). */
  kube?: KubeRest,
  metricsRegistry?: Registry,
): ServerAdmission {
  const log = logger.child({ component: 'admission' });
  if (!config.delegateAuth || !kube) {
    log.warn(
      'NAMESPACES ARE NOT CHECKED AND ADMISSION POLICIES AND WEBHOOKS ARE NOT ENFORCED: running without a ' +
        'cluster (no delegated auth), so the NamespaceLifecycle, ValidatingAdmissionPolicy and ' +
        'ValidatingAdmissionWebhook admission plugins are off and widgets can be created in namespaces ' +
        'that do not exist',
    );
    return { chain: new AdmissionChain([]), readinessChecks: {}, stop: () => undefined };
  }
  const enabled = (name: string) => !config.disabledAdmissionPlugins.includes(name);
  const admissionMetrics = metricsRegistry && createAdmissionMetrics(metricsRegistry);
  const namespaces = new NamespaceInformer(kube, log.child({ informer: 'namespaces' }));
  const informers: Array<{ name: string; hasSynced: () => boolean; stop(): void }> = [
    { name: '*v1.Namespace', hasSynced: () => namespaces.hasSynced, stop: () => namespaces.stop() },
  ];
  const plugins: AdmissionPlugin[] = [];
  const stops: Array<() => void | Promise<void>> = [];
  if (enabled('NamespaceLifecycle')) plugins.push(new NamespaceLifecycle(namespaces));
  const evaluator = new CelEvaluator(config.admissionCelTimeoutMs);
  const usesCel = enabled('ValidatingAdmissionPolicy') || enabled('ValidatingAdmissionWebhook');
  if (usesCel) {
    void evaluator.warm();
    stops.push(() => evaluator.close());
  }
  if (enabled('ValidatingAdmissionPolicy')) {
    const policies = new Informer<ValidatingAdmissionPolicy>(
      kube,
      { path: `${ADMISSIONREGISTRATION}/validatingadmissionpolicies`, name: 'ValidatingAdmissionPolicy' },
      log.child({ informer: 'validatingadmissionpolicies' }),
    );
    const bindings = new Informer<ValidatingAdmissionPolicyBinding>(
      kube,
      {
        path: `${ADMISSIONREGISTRATION}/validatingadmissionpolicybindings`,
        name: 'ValidatingAdmissionPolicyBinding',
      },
      log.child({ informer: 'validatingadmissionpolicybindings' }),
    );
    const params = new ParamSources(kube, log.child({ informer: 'policy-params' }));
    plugins.push(
      new ValidatingAdmissionPolicyPlugin(
        policies,
        bindings,
        params,
        namespaces,
        evaluator,
        log.child({ plugin: 'ValidatingAdmissionPolicy' }),
        metricsRegistry && policyMetrics(metricsRegistry),
      ),
    );
    policies.start();
    bindings.start();
    informers.push(
      {
        name: '*v1.ValidatingAdmissionPolicy',
        hasSynced: () => policies.hasSynced,
        stop: () => policies.stop(),
      },
      {
        name: '*v1.ValidatingAdmissionPolicyBinding',
        hasSynced: () => bindings.hasSynced,
        stop: () => bindings.stop(),
      },
    );
    stops.push(() => params.stop());
  }
  if (enabled('ValidatingAdmissionWebhook')) {
    const configurations = new Informer<ValidatingWebhookConfiguration>(
      kube,
      {
        path: `${ADMISSIONREGISTRATION}/validatingwebhookconfigurations`,
        name: 'ValidatingWebhookConfiguration',
      },
      log.child({ informer: 'validatingwebhookconfigurations' }),
    );
    plugins.push(
      new ValidatingAdmissionWebhookPlugin(
        configurations,
        namespaces,
        evaluator,
        kube,
        log.child({ plugin: 'ValidatingAdmissionWebhook' }),
        admissionMetrics,
      ),
    );
    configurations.start();
    informers.push({
      name: '*v1.ValidatingWebhookConfiguration',
      hasSynced: () => configurations.hasSynced,
      stop: () => configurations.stop(),
    });
  }
  // Policies' namespace selectors read namespaces too, so the informer runs when either plugin does.
  if (plugins.length) namespaces.start();
  const chain = new AdmissionChain(plugins, admissionMetrics);
  log.info({ plugins: chain.names }, 'admission plugins enabled');
  const running = plugins.length ? informers : [];
  return {
    chain,
    readinessChecks: {
      'informer-sync': () => {
        const waiting = running.filter((i) => !i.hasSynced()).map((i) => i.name);
        if (waiting.length)
          throw new Error(`${waiting.length} informers not started yet: [${waiting.join(' ')}]`);
      },
    },
    stop: () => {
      for (const i of running) i.stop();
      for (const s of stops) void s();
    },
  };
}

/** kube-apiserver's ValidatingAdmissionPolicy metrics, with its names, labels and buckets. */
function policyMetrics(registry: Registry): PolicyMetrics {
  const labelNames = ['policy', 'policy_binding', 'error_type', 'enforcement_action'];
  const checks = new Counter({
    name: 'apiserver_validating_admission_policy_check_total',
    help: 'Validation admission policy check total, labeled by policy and further identified by binding and enforcement action taken.',
    labelNames,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'apiserver_validating_admission_policy_check_duration_seconds',
    help: 'Validation admission latency for individual validation expressions in seconds, labeled by policy and further including binding and enforcement action taken.',
    labelNames,
    buckets: [0.0000005, 0.001, 0.01, 0.1, 1.0],
    registers: [registry],
  });
  return {
    observe({ policy, binding, errorType, action }, seconds) {
      const labels = { policy, policy_binding: binding, error_type: errorType, enforcement_action: action };
      checks.inc(labels);
      latency.observe(labels, seconds);
    },
  };
}
