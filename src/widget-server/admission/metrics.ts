/**
 * Admission metrics with kube-apiserver's names, labels and buckets (k8s.io/apiserver
 * pkg/admission/metrics and the ValidatingAdmissionPolicy plugin's): the latency of each phase (step)
 * and each plugin (controller), of each webhook call, webhook requests, rejections and fail-opens, and
 * policy checks.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { PolicyMetrics } from './policy/validating-admission-policy';

export type StepType = 'admit' | 'validate';
/** A webhook's type as kube-apiserver labels it. */
export type WebhookType = 'admit' | 'validating';

export interface AdmissionMetrics {
  step(type: StepType, operation: string, rejected: boolean, seconds: number): void;
  controller(name: string, type: StepType, operation: string, rejected: boolean, seconds: number): void;
  webhook(
    name: string,
    type: WebhookType,
    operation: string,
    outcome: { rejected: boolean; code: number; errorType?: 'calling_webhook_error' | 'no_error' },
    seconds: number,
  ): void;
  webhookFailOpen(name: string, type: WebhookType): void;
}

const STEP_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1.0, 2.5];

export function createAdmissionMetrics(registry: Registry): AdmissionMetrics {
  const step = new Histogram({
    name: 'apiserver_admission_step_admission_duration_seconds',
    help: 'Admission sub-step latency histogram in seconds, broken out for each operation and API resource and step type (validate or admit).',
    labelNames: ['type', 'operation', 'rejected'],
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const controller = new Histogram({
    name: 'apiserver_admission_controller_admission_duration_seconds',
    help: 'Admission controller latency histogram in seconds, identified by name and broken out for each operation and API resource and type (validate or admit).',
    labelNames: ['name', 'type', 'operation', 'rejected'],
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const webhook = new Histogram({
    name: 'apiserver_admission_webhook_admission_duration_seconds',
    help: 'Admission webhook latency histogram in seconds, identified by name and broken out for each operation and API resource and type (validate or admit).',
    labelNames: ['name', 'type', 'operation', 'rejected'],
    buckets: [...STEP_BUCKETS, 10, 25],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'apiserver_admission_webhook_request_total',
    help: 'Admission webhook request total, identified by name and broken out for each admission type (validating or admit) and operation. Additional labels specify whether the request was rejected or not and an HTTP status code. Codes greater than 600 are truncated to 600, to keep the metrics cardinality bounded.',
    labelNames: ['name', 'type', 'operation', 'code', 'rejected'],
    registers: [registry],
  });
  const rejections = new Counter({
    name: 'apiserver_admission_webhook_rejection_count',
    help: 'Admission webhook rejection count, identified by name and broken out for each admission type (validating or admit) and operation. Additional labels specify an error type (calling_webhook_error or apiserver_internal_error if an error occurred; no_error otherwise) and optionally a non-zero rejection code if the webhook rejects the request with an HTTP status code (honored by the apiserver when the code is greater or equal to 400). Codes greater than 600 are truncated to 600, to keep the metrics cardinality bounded.',
    labelNames: ['name', 'type', 'operation', 'error_type', 'rejection_code'],
    registers: [registry],
  });
  const failOpen = new Counter({
    name: 'apiserver_admission_webhook_fail_open_count',
    help: 'Admission webhook fail open count, identified by name and broken out for each admission type (validating or admit).',
    labelNames: ['name', 'type'],
    registers: [registry],
  });
  return {
    step: (type, operation, rejected, seconds) =>
      step.observe({ type, operation, rejected: String(rejected) }, seconds),
    controller: (name, type, operation, rejected, seconds) =>
      controller.observe({ name, type, operation, rejected: String(rejected) }, seconds),
    webhook(name, type, operation, { rejected, code, errorType }, seconds) {
      const labels = { name, type, operation, rejected: String(rejected) };
      webhook.observe(labels, seconds);
      requests.inc({ ...labels, code: String(Math.min(code, 600)) });
      if (rejected)
        rejections.inc({
          name,
          type,
          operation,
          error_type: errorType ?? 'no_error',
          rejection_code: String(Math.min(code, 600)),
        });
    },
    webhookFailOpen: (name, type) => failOpen.inc({ name, type }),
  };
}

/** kube-apiserver's ValidatingAdmissionPolicy metrics, with its names, labels and buckets. */
export function createPolicyMetrics(registry: Registry): PolicyMetrics {
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
