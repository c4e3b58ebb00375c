/**
 * The ValidatingAdmissionWebhook admission plugin, as kube-apiserver runs it for its own resources
 * (k8s.io/apiserver pkg/admission/plugin/webhook/validating): every webhook of every
 * ValidatingWebhookConfiguration whose rules, selectors and matchConditions select the request is
 * called, all at once, with an AdmissionReview v1 of the object in the version its rule matched. A
 * denial answers with kube-apiserver's Status (`admission webhook "<name>" denied the request: ...`, the
 * webhook's code, at least 400); a webhook that cannot be called fails the request (500) or is skipped,
 * as its failurePolicy says; a dry run is refused by a webhook with side effects; warnings become
 * `Warning` headers and audit annotations are logged.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeObject, KubeRest } from '../../../shared/kube/rest';
import { ApiError, badRequest, type StatusReason } from '../../../shared/status-errors';
import {
  admissionForbidden,
  type AdmissionAttributes,
  type AdmissionPlugin,
  type Operation,
} from '../admission';
import type { AdmissionMetrics } from '../metrics';
import { admissionRequestFields } from '../request';
import type { NamespaceSource } from '../namespace-informer';
import type { CelEvaluator } from '../policy/cel-evaluator';
import {
  matchContext,
  matchResources,
  type LabelSelectorJson,
  type NamedRuleWithOperations,
} from '../policy/matching';
import type { Source } from '../policy/validating-admission-policy';
import { callWebhook, type AdmissionResponse, type WebhookClientConfig } from './call';

export interface ValidatingWebhook {
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

export interface ValidatingWebhookConfiguration extends KubeObject {
  webhooks?: ValidatingWebhook[];
}

const OPTIONS_KIND: Record<Operation, string | undefined> = {
  CREATE: 'CreateOptions',
  UPDATE: 'UpdateOptions',
  DELETE: 'DeleteOptions',
  CONNECT: undefined,
};

/** The AdmissionReview request: the object in the version the webhook's rule matched. */
export function admissionReviewRequest(
  a: AdmissionAttributes,
  version: string,
): { uid: string } & Record<string, unknown> {
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
function rejection(name: string, status: AdmissionResponse['status']): ApiError {
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

export class ValidatingAdmissionWebhookPlugin implements AdmissionPlugin {
  readonly name = 'ValidatingAdmissionWebhook';

  constructor(
    private readonly configurations: Source<ValidatingWebhookConfiguration>,
    private readonly namespaces: NamespaceSource,
    private readonly evaluator: CelEvaluator,
    private readonly kube: KubeRest | undefined,
    private readonly logger: Logger,
    private readonly metrics?: AdmissionMetrics,
  ) {}

  handles(operation: Operation): boolean {
    return operation !== 'CONNECT';
  }

  async validate(a: AdmissionAttributes): Promise<void> {
    const hooks = await this.matching(a);
    if (!hooks.length) return;
    const results = await Promise.all(hooks.map(({ hook, version }) => this.call(hook, version, a)));
    const errors = results.filter((e): e is ApiError => e !== undefined);
    if (errors.length) throw errors[0];
  }

  /** The webhooks that select the request, in configuration-name then list order, with their version. */
  private async matching(
    a: AdmissionAttributes,
  ): Promise<Array<{ hook: ValidatingWebhook; version: string }>> {
    const configurations = [...this.configurations.list()].sort((x, y) =>
      (x.metadata?.name ?? '') < (y.metadata?.name ?? '') ? -1 : 1,
    );
    if (!configurations.some((c) => c.webhooks?.length)) return [];
    const { ctx } = await matchContext(a, this.namespaces);
    const out: Array<{ hook: ValidatingWebhook; version: string }> = [];
    for (const c of configurations) {
      for (const hook of c.webhooks ?? []) {
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
        if (m.matches) out.push({ hook, version: m.version });
      }
    }
    return out;
  }

  /** One webhook: undefined when it allows (or is skipped), else the error that answers the request. */
  private async call(
    hook: ValidatingWebhook,
    version: string,
    a: AdmissionAttributes,
  ): Promise<ApiError | undefined> {
    const fail = (hook.failurePolicy ?? 'Fail') === 'Fail';
    const failed = (err: Error) => {
      if (!fail) {
        this.logger.warn({ webhook: hook.name, err: err.message }, 'failed calling webhook, failing open');
        return undefined;
      }
      this.logger.warn({ webhook: hook.name, err: err.message }, 'failed calling webhook, failing closed');
      return new ApiError(500, 'InternalError', `Internal error occurred: ${err.message}`, {
        causes: [{ message: err.message }],
      });
    };
    const request = admissionReviewRequest(a, version);
    // Match conditions come first (generic.ShouldCallHook): an error fails closed with 403 under Fail, and
    // skips the webhook under Ignore.
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
        );
        problem = r.compileError ?? r.matchError;
        if (!problem && !r.matched) return undefined;
      } catch (e) {
        problem = (e as Error).message;
      }
      if (problem) {
        this.logger.warn({ webhook: hook.name, err: problem }, 'failed evaluating match conditions');
        return fail ? admissionForbidden(a, problem) : undefined;
      }
    }
    if (a.dryRun && hook.sideEffects !== 'None' && hook.sideEffects !== 'NoneOnDryRun')
      return badRequest(`admission webhook "${hook.name}" does not support dry run`);
    let response: AdmissionResponse;
    const started = performance.now();
    const observe = (outcome: Parameters<AdmissionMetrics['webhook']>[3]) =>
      this.metrics?.webhook(
        hook.name,
        'validating',
        a.operation,
        outcome,
        (performance.now() - started) / 1000,
      );
    try {
      response = await callWebhook(hook.name, hook.clientConfig, hook.timeoutSeconds, { request }, this.kube);
    } catch (e) {
      observe({ rejected: fail, code: 500, errorType: 'calling_webhook_error' });
      if (!fail) this.metrics?.webhookFailOpen(hook.name, 'validating');
      return failed(e as Error);
    }
    observe(
      response.allowed
        ? { rejected: false, code: 200 }
        : { rejected: true, code: Math.max(response.status?.code ?? 0, 400), errorType: 'no_error' },
    );
    for (const w of response.warnings ?? []) a.warnings?.push(w);
    for (const [key, value] of Object.entries(response.auditAnnotations ?? {}))
      this.logger.info(
        { webhook: hook.name, auditAnnotation: `${hook.name}/${key}`, value },
        'admission webhook audit annotation',
      );
    return response.allowed ? undefined : rejection(hook.name, response.status);
  }
}
