/**
 * The ValidatingAdmissionWebhook admission plugin, as kube-apiserver runs it for its own resources
 * (k8s.io/apiserver pkg/admission/plugin/webhook/validating): every webhook of every
 * ValidatingWebhookConfiguration that selects the request (dispatch.ts) is called, all at once, with an
 * AdmissionReview v1 of the object in the version its rule matched. A denial answers with
 * kube-apiserver's Status (`admission webhook "<name>" denied the request: ...`, the webhook's code, at
 * least 400); a webhook that cannot be called fails the request (500) or is skipped, as its
 * failurePolicy says; a dry run is refused by a webhook with side effects; warnings become `Warning`
 * headers and audit annotations are logged.
 */
import type { ApiError } from '../../../shared/status-errors';
import type { AdmissionAttributes, AdmissionPlugin, Operation } from '../admission';
import {
  admissionReviewRequest,
  WebhookDispatcher,
  type WebhookPluginOptions,
  type Webhook,
  type WebhookConfiguration,
} from './dispatch';

export type ValidatingWebhook = Webhook;
export type ValidatingWebhookConfiguration = WebhookConfiguration<ValidatingWebhook>;

export class ValidatingAdmissionWebhookPlugin implements AdmissionPlugin {
  readonly name = 'ValidatingAdmissionWebhook';
  private readonly dispatcher: WebhookDispatcher<ValidatingWebhook>;

  constructor(options: WebhookPluginOptions<ValidatingWebhookConfiguration>) {
    this.dispatcher = new WebhookDispatcher('validating', options);
  }

  handles(operation: Operation): boolean {
    return operation !== 'CONNECT';
  }

  async validate(a: AdmissionAttributes): Promise<void> {
    const hooks = await this.dispatcher.select(a);
    if (!hooks.length) return;
    const outcomes = await Promise.all(
      hooks.map(({ hook, version }) => this.dispatcher.call(hook, a, admissionReviewRequest(a, version))),
    );
    const errors = outcomes.flatMap((o) => ('error' in o ? [o.error] : [])) as ApiError[];
    if (errors.length) throw errors[0];
  }
}
