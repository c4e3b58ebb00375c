/**
 * The ValidatingAdmissionPolicy admission plugin, as kube-apiserver runs it for its own resources
 * (k8s.io/apiserver pkg/admission/plugin/policy/validating): every ValidatingAdmissionPolicy with a
 * ValidatingAdmissionPolicyBinding that selects the request is evaluated in CEL, once per parameter
 * object; a failed validation is denied, warned (`Warning` header) or audited (logged) as the binding's
 * validationActions say; an expression error, a missing parameter or a configuration error follows the
 * policy's failurePolicy. The first denial answers the request, with kube-apiserver's message, reason
 * and code. Policies and bindings come from informers; evaluation runs in the CEL worker with a time limit.
 */
import type { DelegatingAuthorizer } from '../../auth/authorization';
import { requestAuthorizer } from '../cel/request-authorizer';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChangeHandler } from '../../../shared/kube/informer';
import type { KubeObject } from '../../../shared/kube/rest';
import { ApiError, type StatusReason } from '../../../shared/status-errors';
import type { AdmissionAttributes, AdmissionPlugin, Operation } from '../admission';
import { admissionForbidden, admissionName } from '../admission';
import { admissionRequestFields } from '../request';
import type { NamespaceSource } from '../namespace-informer';
import { CelTimeoutError, type CelEvaluator } from '../cel/evaluator';
import { matchContext, matchResources, type MatchResources } from './matching';
import type { ParamKind, ParamRef, ParamSources } from './params';
import type { PolicyProgram, ProgramResult } from '../cel/program';

export interface Validation {
  expression: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
}

export interface ValidatingAdmissionPolicy extends KubeObject {
  spec?: {
    failurePolicy?: 'Fail' | 'Ignore';
    paramKind?: ParamKind;
    matchConstraints?: MatchResources;
    matchConditions?: Array<{ name: string; expression: string }>;
    variables?: Array<{ name: string; expression: string }>;
    validations?: Validation[];
    auditAnnotations?: Array<{ key: string; valueExpression: string }>;
  };
}

export interface ValidatingAdmissionPolicyBinding extends KubeObject {
  spec?: {
    policyName?: string;
    paramRef?: ParamRef;
    matchResources?: MatchResources;
    validationActions?: Array<'Deny' | 'Warn' | 'Audit'>;
  };
}

/**
 * kube-apiserver's apiserver_validating_admission_policy_check_total and _check_duration_seconds: a
 * decision that denied, warned or audited, or an error that failurePolicy Ignore let through.
 */
export interface PolicyMetrics {
  observe(
    labels: {
      policy: string;
      binding: string;
      errorType: ErrorType;
      action: 'deny' | 'warn' | 'audit' | 'allow';
    },
    seconds: number,
  ): void;
}

/** validating.ErrorType: what kind of failure a decision was (a plain failed validation is invalid_error). */
export type ErrorType = 'no_error' | 'compile_error' | 'invalid_error' | 'out_of_budget';

/** What the plugin reads policies and bindings from: an Informer. */
export interface Source<T> {
  list(): T[];
  on(handler: ChangeHandler<T>): unknown;
}

/** A failed validation (or an error under Fail) of one evaluation. */
interface Failure {
  message: string;
  reason: StatusReason;
  errorType: ErrorType;
  seconds: number;
}

/** What one policy decided for one binding and parameter. */
interface Denial {
  policy: string;
  binding?: string;
  message: string;
  reason: StatusReason;
}

/** kube-apiserver's bounds on a messageExpression's result (celconfig.MaxEvaluatedMessageExpressionSizeBytes). */
const MAX_MESSAGE_BYTES = 5 * 1024;

const REASON_CODES: Partial<Record<StatusReason, number>> = {
  Forbidden: 403,
  Unauthorized: 401,
  RequestEntityTooLarge: 413,
  Invalid: 422,
};

function program(policy: ValidatingAdmissionPolicy): PolicyProgram {
  const spec = policy.spec ?? {};
  return {
    matchConditions: spec.matchConditions ?? [],
    variables: spec.variables ?? [],
    validations: (spec.validations ?? []).map((v) => ({
      expression: v.expression,
      messageExpression: v.messageExpression,
    })),
    auditAnnotations: spec.auditAnnotations ?? [],
  };
}

/** The message of a failed validation: its messageExpression's, else its message, else the expression. */
function failureMessage(
  validation: Validation,
  evaluated: ProgramResult['validations'][number]['message'],
): string {
  const fromExpression = typeof evaluated?.value === 'string' ? evaluated.value.trim() : '';
  if (
    fromExpression &&
    Buffer.byteLength(fromExpression) <= MAX_MESSAGE_BYTES &&
    !fromExpression.includes('\n')
  )
    return fromExpression;
  if (validation.message?.trim()) return validation.message.trim();
  return `failed expression: ${validation.expression.trim()}`;
}

export class ValidatingAdmissionPolicyPlugin implements AdmissionPlugin {
  readonly name = 'ValidatingAdmissionPolicy';

  constructor(
    private readonly policies: Source<ValidatingAdmissionPolicy>,
    private readonly bindings: Source<ValidatingAdmissionPolicyBinding>,
    private readonly params: ParamSources,
    private readonly namespaces: NamespaceSource,
    private readonly evaluator: CelEvaluator,
    private readonly logger: Logger,
    private readonly metrics?: PolicyMetrics,
    /** Decides the `authorizer` variable's checks; without it every check errors. */
    private readonly authorizer?: DelegatingAuthorizer,
  ) {
    // Parameter informers start when a policy naming their kind appears, not on its first request.
    policies.on((type, policy) => {
      if (type !== 'delete' && policy.spec?.paramKind) params.prepare(policy.spec.paramKind);
    });
  }

  handles(operation: Operation): boolean {
    return operation !== 'CONNECT';
  }

  async validate(a: AdmissionAttributes): Promise<void> {
    const denials: Denial[] = [];
    const byPolicy = new Map<string, ValidatingAdmissionPolicyBinding[]>();
    for (const b of this.bindings.list()) {
      const name = b.spec?.policyName;
      if (name) byPolicy.set(name, [...(byPolicy.get(name) ?? []), b]);
    }
    // No binding, no policy in force: nothing to read for the request.
    if (!byPolicy.size) return;
    const { namespace, ctx } = await matchContext(a, this.namespaces);
    for (const policy of this.policies.list()) {
      const policyName = policy.metadata?.name ?? '';
      const bindings = byPolicy.get(policyName);
      if (!bindings?.length) continue;
      const failurePolicy = policy.spec?.failurePolicy ?? 'Fail';
      const configError = (message: string, binding?: string) => {
        if (failurePolicy === 'Fail')
          denials.push({ policy: policyName, binding, message, reason: 'Invalid' });
      };
      let matched: { matches: boolean; version: string };
      try {
        matched = matchResources(policy.spec?.matchConstraints, a, ctx, true);
      } catch (e) {
        configError(`failed to configure policy: ${(e as Error).message}`);
        continue;
      }
      if (!matched.matches) continue;
      for (const binding of bindings) {
        const bindingName = binding.metadata?.name ?? '';
        try {
          if (!matchResources(binding.spec?.matchResources, a, ctx).matches) continue;
        } catch (e) {
          configError(`failed to configure binding: ${(e as Error).message}`, bindingName);
          continue;
        }
        let params: Array<KubeObject | null>;
        try {
          params = await this.params.collect(policy.spec?.paramKind, binding.spec?.paramRef, a.namespace);
        } catch (e) {
          configError(`failed to configure binding: ${(e as Error).message}`, bindingName);
          continue;
        }
        for (const param of params) {
          const decisions = await this.evaluate(policy, bindingName, a, matched.version, param, namespace);
          this.act(a, policyName, bindingName, binding.spec?.validationActions ?? [], decisions, denials);
        }
      }
    }
    if (denials.length) throw this.denied(a, denials[0]);
  }

  /**
   * One policy over one request and parameter: the failed validations, and errors under Fail (an error
   * under Ignore lets the request through, counted as `allow`).
   */
  private async evaluate(
    policy: ValidatingAdmissionPolicy,
    binding: string,
    a: AdmissionAttributes,
    version: string,
    param: KubeObject | null,
    namespace: KubeObject | undefined,
  ): Promise<Failure[]> {
    const spec = policy.spec ?? {};
    const policyName = policy.metadata?.name ?? '';
    const fail = (spec.failurePolicy ?? 'Fail') === 'Fail';
    const objects = a.versioned?.(version) ?? { object: a.object, oldObject: a.oldObject };
    const started = process.hrtime.bigint();
    const out: Failure[] = [];
    const failed = (message: string, errorType: ErrorType, reason: StatusReason = 'Invalid') => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (fail) out.push({ message, reason, errorType, seconds });
      else this.metrics?.observe({ policy: policyName, binding, errorType, action: 'allow' }, seconds);
    };
    let result: ProgramResult;
    try {
      result = await this.evaluator.evaluate(
        program(policy),
        {
          object: objects.object ?? null,
          oldObject: objects.oldObject ?? null,
          request: admissionRequest(a, version),
          params: param,
          namespaceObject: namespace ? namespaceObject(namespace) : null,
        },
        requestAuthorizer(this.authorizer, a.userInfo),
      );
    } catch (e) {
      // Past the time limit is this server's form of kube-apiserver's running out of cost budget.
      failed((e as Error).message, e instanceof CelTimeoutError ? 'out_of_budget' : 'invalid_error');
      return out;
    }
    if (result.compileError) failed(result.compileError, 'compile_error');
    else if (result.matchError) failed(result.matchError, 'invalid_error');
    if (result.compileError || result.matchError || !result.matched) return out;
    result.validations.forEach((r, i) => {
      const validation = spec.validations![i];
      if (r.error !== undefined) failed(r.error, 'invalid_error');
      else if (r.value !== true)
        // As validating.ErrorType labels it: a failed validation that is not an error is still "invalid_error".
        out.push({
          message: failureMessage(validation, r.message),
          reason: (validation.reason as StatusReason | undefined) ?? 'Invalid',
          errorType: 'invalid_error',
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
        });
    });
    result.auditAnnotations.forEach((r, i) => {
      const { key, valueExpression } = spec.auditAnnotations![i];
      if (r.error !== undefined) failed(r.error, 'invalid_error');
      else if (typeof r.value === 'string' && r.value.trim())
        this.logger.info(
          { policy: policyName, binding, auditAnnotation: `${policyName}/${key}`, value: r.value.trim() },
          'admission policy audit annotation',
        );
      else if (r.value !== null && typeof r.value !== 'string')
        failed(
          `valueExpression '${valueExpression}' resulted in unsupported return type. Return type must be either string or null.`,
          'invalid_error',
        );
    });
    return out;
  }

  /** A binding's validationActions applied to its failed validations. */
  private act(
    a: AdmissionAttributes,
    policy: string,
    binding: string,
    actions: readonly string[],
    failures: Failure[],
    denials: Denial[],
  ): void {
    for (const f of failures) {
      for (const action of actions) {
        const labels = { policy, binding, errorType: f.errorType };
        if (action === 'Deny') {
          denials.push({ policy, binding, message: f.message, reason: f.reason });
          this.metrics?.observe({ ...labels, action: 'deny' }, f.seconds);
        } else if (action === 'Warn') {
          a.warnings?.push(
            `Validation failed for ValidatingAdmissionPolicy '${policy}' with binding '${binding}': ${f.message}`,
          );
          this.metrics?.observe({ ...labels, action: 'warn' }, f.seconds);
        } else if (action === 'Audit') {
          this.logger.info(
            {
              policy,
              binding,
              message: f.message,
              name: admissionName(a),
              namespace: a.namespace,
              operation: a.operation,
            },
            'admission policy validation failed (Audit)',
          );
          this.metrics?.observe({ ...labels, action: 'audit' }, f.seconds);
        }
      }
    }
  }

  /** kube-apiserver's denial: admission.NewForbidden's message, the decision's reason and code, a cause. */
  private denied(a: AdmissionAttributes, d: Denial): ApiError {
    const why = d.binding
      ? `ValidatingAdmissionPolicy '${d.policy}' with binding '${d.binding}' denied request: ${d.message}`
      : `ValidatingAdmissionPolicy '${d.policy}' denied request: ${d.message}`;
    const forbidden = admissionForbidden(a, why);
    return new ApiError(REASON_CODES[d.reason] ?? 422, d.reason, forbidden.message, {
      ...forbidden.details,
      causes: [{ message: why }],
    });
  }
}

/** The `request` variable: admissionv1.AdmissionRequest, in the version the policy matched. */
function admissionRequest(a: AdmissionAttributes, version: string): Record<string, unknown> {
  const user = a.userInfo;
  return {
    uid: randomUUID(),
    ...admissionRequestFields(a, version),
    subResource: a.subresource,
    requestSubResource: a.subresource,
    userInfo: user
      ? { username: user.name, uid: user.uid ?? '', groups: user.groups, extra: user.extra ?? {} }
      : { username: '', groups: [] },
  };
}

/** The `namespaceObject` variable: what cel.CreateNamespaceObject exposes of the request's Namespace. */
function namespaceObject(ns: KubeObject): Record<string, unknown> {
  const m = (ns.metadata ?? {}) as Record<string, unknown>;
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: m.name,
      generateName: m.generateName,
      namespace: m.namespace,
      labels: m.labels ?? {},
      annotations: m.annotations ?? {},
      uid: m.uid,
      creationTimestamp: m.creationTimestamp,
      deletionTimestamp: m.deletionTimestamp,
      deletionGracePeriodSeconds: m.deletionGracePeriodSeconds,
      resourceVersion: m.resourceVersion,
      ownerReferences: m.ownerReferences,
      finalizers: m.finalizers,
    },
    spec: (ns as { spec?: unknown }).spec ?? {},
    status: (ns as { status?: unknown }).status ?? {},
  };
}
