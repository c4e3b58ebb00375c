/**
 * What the mutating and validating webhook plugins share, as kube-apiserver's generic webhook
 * dispatcher (k8s.io/apiserver pkg/admission/plugin/webhook/generic) does: the webhooks of the cluster's
 * configurations that select a request (rules, namespace and object selectors, matchPolicy, then
 * matchConditions in CEL), the AdmissionReview v1 sent to one, and one call with its failurePolicy, dry
 * run check, metrics, warnings and audit annotations.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeObject, KubeRest } from '../../../shared/kube/rest';
import { ApiError, badRequest, type StatusReason } from '../../../shared/status-errors';
import { admissionForbidden, type AdmissionAttributes, type Operation } from '../admission';
import type { AdmissionMetrics, WebhookType } from '../metrics';
import type { NamespaceSource } from '../namespace-informer';
import type { CelEvaluator } from '../cel/evaluator';
import {
  matchContext,
  matchResources,
  type LabelSelectorJson,
  type NamedRuleWithOperations,
} from '../policy/matching';
import type { Source } from '../policy/validating-admission-policy';
import { requestAuthorizer } from '../cel/request-authorizer';
import type { DelegatingAuthorizer } from '../../auth/authorization';
import { admissionRequestFields } from '../request';
import { callWebhook, type AdmissionResponse, type WebhookClientConfig } from './call';

/** The fields ValidatingWebhook and MutatingWebhook have in common. */
export interface Webhook {
  name: string;
  clientConfig: WebhookClientConfig;
  rules?: NamedRuleWithOperations[];
  failurePolicy?: 'Fail' | 'Ignore';
  matchPolicy?: 'Exact' | 'Equivalent';
  namespaceSelector?: LabelSelectorJson;
  objectSelector?: LabelSelectorJson;
  sideEffects?: 'None' | 'NoneOnDryRun' | 'Some' | 'Unknown';
  timeoutSeconds?: number;
  admissionReviewVersions?: string[];
  matchConditions?: Array<{ name: string; expression: string }>;
}

export interface WebhookConfiguration<W extends Webhook> extends KubeObject {
  webhooks?: W[];
}

/** One webhook selected by its rules, the version it matched in, and an id that names it across rounds. */
export interface Selected<W extends Webhook> {
  hook: W;
  version: string;
  /** `<configuration>/<index>`, as kube-apiserver's webhook accessor UID. */
  uid: string;
  /** Its place in the round, for audit annotation keys. */
  index: number;
}

/** An AdmissionReview's request, with the uid the response must carry. */
export type ReviewRequest = { uid: string } & Record<string, unknown>;

const OPTIONS_KIND: Record<Operation, string | undefined> = {
  CREATE: 'CreateOptions',
  UPDATE: 'UpdateOptions',
  DELETE: 'DeleteOptions',
  CONNECT: undefined,
};

/** The AdmissionReview request: the object in the version the webhook's rule matched. */
export function admissionReviewRequest(a: AdmissionAttributes, version: string): ReviewRequest {
  const objects = a.versioned?.(version) ?? { object: a.object, oldObject: a.oldObject };
  const user = a.userInfo;
  const optionsKind = OPTIONS_KIND[a.operation];
  return {
    uid: randomUUID(),
    ...admissionRequestFields(a, version),
    ...(a.subresource ? { subResource: a.subresource, requestSubResource: a.subresource } : {}),
    userInfo: user
      ? { username: user.name, uid: user.uid, groups: user.groups, extra: user.extra }
      : { username: '' },
    object: objects.object ?? null,
    oldObject: objects.oldObject ?? null,
    ...(optionsKind
      ? {
          options: {
            apiVersion: 'meta.k8s.io/v1',
            kind: optionsKind,
            ...(a.dryRun ? { dryRun: ['All'] } : {}),
          },
        }
      : {}),
  };
}

/** kube-apiserver's ToStatusErr: the webhook's status, at least 400, its message prefixed. */
export function rejection(name: string, status: AdmissionResponse['status']): ApiError {
  const deniedBy = `admission webhook "${name}" denied the request`;
  const code = Math.max(status?.code ?? 0, 400);
  const message = status?.message
    ? `${deniedBy}: ${status.message}`
    : status?.reason
      ? `${deniedBy}: ${status.reason}`
      : `${deniedBy} without explanation`;
  return new ApiError(
    code,
    (status?.reason as StatusReason | undefined) ?? ('' as StatusReason),
    message,
    status?.details as ApiError['details'],
  );
}

/** An error kube-apiserver answers as InternalError (500), message prefixed as NewInternalError does. */
export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ message }],
  });
}

/** The outcome of calling one webhook: its response, or the error that answers the request. */
export type CallOutcome = { response: AdmissionResponse } | { error: ApiError } | { skipped: true };

/** What a webhook plugin reads and uses: its configurations, namespaces, CEL, the cluster, metrics. */
export interface WebhookPluginOptions<C> {
  configurations: Source<C>;
  namespaces: NamespaceSource;
  evaluator: CelEvaluator;
  /** The cluster, to find a webhook's Service; absent standalone. */
  kube?: KubeRest;
  logger: Logger;
  metrics?: AdmissionMetrics;
  /** Decides match conditions' `authorizer` checks. */
  authorizer?: DelegatingAuthorizer;
}

export class WebhookDispatcher<W extends Webhook> {
  private readonly configurations: Source<WebhookConfiguration<W>>;
  private readonly namespaces: NamespaceSource;
  private readonly evaluator: CelEvaluator;
  private readonly kube?: KubeRest;
  readonly logger: Logger;
  private readonly metrics?: AdmissionMetrics;
  private readonly authorizer?: DelegatingAuthorizer;

  constructor(
    readonly type: WebhookType,
    options: WebhookPluginOptions<WebhookConfiguration<W>>,
  ) {
    this.configurations = options.configurations;
    this.namespaces = options.namespaces;
    this.evaluator = options.evaluator;
    this.kube = options.kube;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.authorizer = options.authorizer;
  }

  /** Whether any configuration has a webhook (the request's namespace is not looked up otherwise). */
  get any(): boolean {
    return this.configurations.list().some((c) => c.webhooks?.length);
  }

  /** The webhooks whose rules and selectors select the request, in configuration-name then list order. */
  async select(a: AdmissionAttributes): Promise<Array<Selected<W>>> {
    const configurations = [...this.configurations.list()].sort((x, y) =>
      (x.metadata?.name ?? '') < (y.metadata?.name ?? '') ? -1 : 1,
    );
    if (!configurations.some((c) => c.webhooks?.length)) return [];
    const { ctx } = await matchContext(a, this.namespaces);
    const out: Array<Selected<W>> = [];
    for (const c of configurations) {
      (c.webhooks ?? []).forEach((hook, i) => {
        const m = matchResources(
          {
            resourceRules: hook.rules,
            namespaceSelector: hook.namespaceSelector,
            objectSelector: hook.objectSelector,
            matchPolicy: hook.matchPolicy,
          },
          a,
          ctx,
          true,
        );
        if (m.matches)
          out.push({ hook, version: m.version, uid: `${c.metadata?.name ?? ''}/${i}`, index: out.length });
      });
    }
    return out;
  }

  /**
   * Calls one selected webhook with `request` (generic.ShouldCallHook, then the call): its match
   * conditions first, whose evaluation error is 403 under Fail and skips it under Ignore; a dry run
   * refused when it has side effects; a failed call answered as its failurePolicy says.
   */
  async call(hook: W, a: AdmissionAttributes, request: ReviewRequest): Promise<CallOutcome> {
    const fail = (hook.failurePolicy ?? 'Fail') === 'Fail';
    if (hook.matchConditions?.length) {
      let problem: string | undefined;
      try {
        const r = await this.evaluator.evaluate(
          { matchConditions: hook.matchConditions, variables: [], validations: [], auditAnnotations: [] },
          {
            object: request.object,
            oldObject: request.oldObject,
            request,
            params: null,
            namespaceObject: null,
          },
          requestAuthorizer(this.authorizer, a.userInfo),
        );
        problem = r.compileError ?? r.matchError;
        if (!problem && !r.matched) return { skipped: true };
      } catch (e) {
        problem = (e as Error).message;
      }
      if (problem) {
        this.logger.warn({ webhook: hook.name, err: problem }, 'failed evaluating match conditions');
        return fail ? { error: admissionForbidden(a, problem) } : { skipped: true };
      }
    }
    if (a.dryRun && hook.sideEffects !== 'None' && hook.sideEffects !== 'NoneOnDryRun')
      return { error: badRequest(`admission webhook "${hook.name}" does not support dry run`) };
    const started = performance.now();
    const observe = (outcome: Parameters<AdmissionMetrics['webhook']>[3]) =>
      this.metrics?.webhook(hook.name, this.type, a.operation, outcome, (performance.now() - started) / 1000);
    let response: AdmissionResponse;
    try {
      response = await callWebhook(
        hook.name,
        hook.clientConfig,
        hook.timeoutSeconds,
        { request },
        this.kube,
        this.type === 'admit',
      );
    } catch (e) {
      const message = (e as Error).message;
      observe({ rejected: fail, code: 500, errorType: 'calling_webhook_error' });
      if (!fail) {
        this.metrics?.webhookFailOpen(hook.name, this.type);
        this.logger.warn({ webhook: hook.name, err: message }, 'failed calling webhook, failing open');
        return { skipped: true };
      }
      this.logger.warn({ webhook: hook.name, err: message }, 'failed calling webhook, failing closed');
      return { error: internalError(message) };
    }
    observe(
      response.allowed
        ? { rejected: false, code: 200 }
        : { rejected: true, code: Math.max(response.status?.code ?? 0, 400), errorType: 'no_error' },
    );
    for (const w of response.warnings ?? []) a.warnings?.push(w);
    this.annotate(hook.name, response.auditAnnotations ?? {});
    return response.allowed ? { response } : { error: rejection(hook.name, response.status) };
  }

  /** Audit annotations, `<webhook>/<key>`, go to the log (this server keeps no audit log of its own). */
  annotate(webhook: string, annotations: Record<string, string>): void {
    for (const [key, value] of Object.entries(annotations))
      this.logger.info(
        { webhook, auditAnnotation: `${webhook}/${key}`, value },
        'admission webhook audit annotation',
      );
  }
}
