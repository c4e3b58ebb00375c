/**
 * Builds the server's admission chain from its configuration. Behind kube-apiserver (delegated auth, so
 * a kubeconfig or in-cluster credentials) the chain is NamespaceLifecycle, fed by a namespace informer,
 * then MutatingAdmissionWebhook, ValidatingAdmissionPolicy and ValidatingAdmissionWebhook, fed by
 * informers on the cluster's webhook configurations, policies and bindings, in kube-apiserver's order;
 * `--disable-admission-plugins` turns any off. The informers' first lists are
 * a readiness check (`informer-sync`, as kube-apiserver waits for its informers). Standalone there is no
 * cluster to read from: the chain is empty, and the startup log says so loudly.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { WidgetServerConfig } from '../config';
import { DelegatingAuthorizer } from '../auth/authorization';
import { KubeAccessReviewer } from '../auth/kube-delegation';
import { Informer } from '../../shared/kube/informer';
import type { KubeObject, KubeRest } from '../../shared/kube/rest';
import type { HealthCheck } from '../http/platform-routes';
import { AdmissionChain, type AdmissionPlugin } from './admission';
import { createAdmissionMetrics, createPolicyMetrics } from './metrics';
import { NamespaceInformer } from './namespace-informer';
import { NamespaceLifecycle } from './namespace-lifecycle';
import { CelEvaluator } from './cel/evaluator';
import { ParamSources } from './policy/params';
import {
  MutatingAdmissionWebhookPlugin,
  type MutatingWebhookConfiguration,
} from './webhook/mutating-webhook';
import {
  ValidatingAdmissionWebhookPlugin,
  type ValidatingWebhookConfiguration,
} from './webhook/validating-webhook';
import {
  ValidatingAdmissionPolicyPlugin,
  type ValidatingAdmissionPolicy,
  type ValidatingAdmissionPolicyBinding,
} from './policy/validating-admission-policy';
import { rulesMayMatchGroup } from './policy/matching';
import type { Webhook, WebhookConfiguration } from './webhook/dispatch';

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
        'cluster (no delegated auth), so the NamespaceLifecycle, MutatingAdmissionWebhook, ' +
        'ValidatingAdmissionPolicy and ValidatingAdmissionWebhook admission plugins are off and widgets ' +
        'can be created in namespaces ' +
        'that do not exist',
    );
    return { chain: new AdmissionChain([]), readinessChecks: {}, stop: () => undefined };
  }
  const enabled = (name: string) => !config.disabledAdmissionPlugins.includes(name);
  const admissionMetrics = metricsRegistry && createAdmissionMetrics(metricsRegistry);
  const namespaces = new NamespaceInformer(kube, log.child({ informer: 'namespaces' }));
  const informers: Array<{ name: string; hasSynced: () => boolean; start(): void; stop(): void }> = [
    {
      name: '*v1.Namespace',
      hasSynced: () => namespaces.hasSynced,
      start: () => namespaces.start(),
      stop: () => namespaces.stop(),
    },
  ];
  const evaluator = new CelEvaluator(config.admissionCelTimeoutMs);
  /**
   * An informer over one admissionregistration.k8s.io/v1 resource, started with the others below. The
   * CEL worker starts when the first object that `needsCel` appears, not with the server: loading CEL
   * takes a fifth of a second of CPU, which every pod start would pay for in a cluster without policies.
   */
  const registration = <T extends KubeObject>(
    resource: string,
    kind: string,
    needsCel?: (o: T) => boolean,
  ): Informer<T> => {
    const informer = new Informer<T>(
      kube,
      { path: `${ADMISSIONREGISTRATION}/${resource}`, name: kind },
      log.child({ informer: resource }),
    );
    if (needsCel) {
      informer.on((type, o) => {
        if (type !== 'delete' && needsCel(o)) void evaluator.warm();
      });
    }
    informers.push({
      name: `*v1.${kind}`,
      hasSynced: () => informer.hasSynced,
      start: () => informer.start(),
      stop: () => informer.stop(),
    });
    return informer;
  };
  const plugins: AdmissionPlugin[] = [];
  const stops: Array<() => void | Promise<void>> = [];
  if (enabled('NamespaceLifecycle')) plugins.push(new NamespaceLifecycle(namespaces));
  // The CEL `authorizer` variable asks kube-apiserver, as request authorization does.
  const authorizer = new DelegatingAuthorizer(new KubeAccessReviewer(kube));
  const webhookPlugins = ['MutatingAdmissionWebhook', 'ValidatingAdmissionWebhook'];
  if (enabled('ValidatingAdmissionPolicy') || webhookPlugins.some(enabled)) {
    stops.push(() => evaluator.close());
  }
  /** A policy is CEL, of a webhook only its matchConditions are; either only if it can apply here. */
  const policyNeedsCel = (p: ValidatingAdmissionPolicy) =>
    rulesMayMatchGroup(p.spec?.matchConstraints?.resourceRules, config.group);
  const webhooksNeedCel = (c: WebhookConfiguration<Webhook>) =>
    (c.webhooks ?? []).some(
      (w) => (w.matchConditions?.length ?? 0) > 0 && rulesMayMatchGroup(w.rules, config.group),
    );
  /** What both webhook plugins share. */
  const webhookOptions = { namespaces, evaluator, kube, metrics: admissionMetrics, authorizer };
  if (enabled('MutatingAdmissionWebhook')) {
    plugins.push(
      new MutatingAdmissionWebhookPlugin({
        ...webhookOptions,
        configurations: registration<MutatingWebhookConfiguration>(
          'mutatingwebhookconfigurations',
          'MutatingWebhookConfiguration',
          webhooksNeedCel,
        ),
        logger: log.child({ plugin: 'MutatingAdmissionWebhook' }),
      }),
    );
  }
  if (enabled('ValidatingAdmissionPolicy')) {
    const params = new ParamSources(kube, log.child({ informer: 'policy-params' }));
    plugins.push(
      new ValidatingAdmissionPolicyPlugin(
        registration<ValidatingAdmissionPolicy>(
          'validatingadmissionpolicies',
          'ValidatingAdmissionPolicy',
          policyNeedsCel,
        ),
        registration<ValidatingAdmissionPolicyBinding>(
          'validatingadmissionpolicybindings',
          'ValidatingAdmissionPolicyBinding',
        ),
        params,
        namespaces,
        evaluator,
        log.child({ plugin: 'ValidatingAdmissionPolicy' }),
        metricsRegistry && createPolicyMetrics(metricsRegistry),
        authorizer,
      ),
    );
    stops.push(() => params.stop());
  }
  if (enabled('ValidatingAdmissionWebhook')) {
    plugins.push(
      new ValidatingAdmissionWebhookPlugin({
        ...webhookOptions,
        configurations: registration<ValidatingWebhookConfiguration>(
          'validatingwebhookconfigurations',
          'ValidatingWebhookConfiguration',
          webhooksNeedCel,
        ),
        logger: log.child({ plugin: 'ValidatingAdmissionWebhook' }),
      }),
    );
  }
  // Started once the plugins have registered their handlers, so those see the first list. Policies' and
  // webhooks' namespace selectors read namespaces too: that informer runs whenever any plugin does.
  const running = plugins.length ? informers : [];
  for (const i of running) i.start();
  const chain = new AdmissionChain(plugins, admissionMetrics);
  log.info({ plugins: chain.names }, 'admission plugins enabled');
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
