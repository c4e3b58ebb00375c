/**
 * The MutatingAdmissionWebhook admission plugin (k8s.io/apiserver pkg/admission/plugin/webhook/mutating):
 * the webhooks of the cluster's MutatingWebhookConfigurations that select the request (dispatch.ts) are
 * called one after another, each with the object as the previous one left it, in the version its rule
 * matched. A JSON patch in the answer is applied to that object, which is then decoded as a request
 * body of that version is (unknown fields dropped, defaults applied) and becomes the request's object;
 * the registry prepares and validates it again, and validating admission sees it. `reinvocationPolicy:
 * IfNeeded` webhooks are called once more when a later webhook changed the object, as the reinvocation
 * context says. Denials, failures, dry runs, warnings and audit annotations are as for validating
 * webhooks; a patch that does not apply or decode is an internal error whatever the failurePolicy.
 */
import { jsonEqual } from '../../../shared/json-equal';
import { ApiError } from '../../../shared/status-errors';
import type { AdmissionAttributes, AdmissionPlugin, Operation } from '../admission';
import { applyPatchDocument, JSON_PATCH, parsePatchBody } from '../../registry/patch';
import type { JsonObject } from '../../storage/storage';
import { WebhookCallError, type AdmissionResponse } from './call';
import {
  admissionReviewRequest,
  internalError,
  WebhookDispatcher,
  type WebhookPluginOptions,
  type Webhook,
  type WebhookConfiguration,
} from './dispatch';

export interface MutatingWebhook extends Webhook {
  reinvocationPolicy?: 'Never' | 'IfNeeded';
}
export type MutatingWebhookConfiguration = WebhookConfiguration<MutatingWebhook>;

/** What this plugin remembers between the two rounds of one request (webhookReinvokeContext). */
class WebhookReinvocation {
  /** The object as the last round of webhooks left it. */
  lastOutput: unknown;
  /** IfNeeded webhooks called so far, to call again if something changes the object after them. */
  previouslyInvoked = new Set<string>();
  /** The webhooks the second round calls. */
  reinvoke = new Set<string>();

  requireReinvokingPreviouslyInvoked(): void {
    for (const uid of this.previouslyInvoked) this.reinvoke.add(uid);
    this.previouslyInvoked.clear();
  }
}

const PLUGIN = 'MutatingAdmissionWebhook';

export class MutatingAdmissionWebhookPlugin implements AdmissionPlugin {
  readonly name = PLUGIN;
  private readonly dispatcher: WebhookDispatcher<MutatingWebhook>;

  constructor(options: WebhookPluginOptions<MutatingWebhookConfiguration>) {
    this.dispatcher = new WebhookDispatcher('admit', options);
  }

  handles(operation: Operation): boolean {
    return operation !== 'CONNECT';
  }

  async admit(a: AdmissionAttributes): Promise<void> {
    if (!this.dispatcher.any) return;
    const context = a.reinvocation;
    let state = context?.values.get(PLUGIN) as WebhookReinvocation | undefined;
    if (!state) {
      state = new WebhookReinvocation();
      context?.values.set(PLUGIN, state);
    }
    const round = context?.isReinvoke ? 1 : 0;
    // Something after this plugin (another plugin's reinvocation) changed the object: every IfNeeded
    // webhook already called sees it again.
    if (round === 1 && !jsonEqual(state.lastOutput, a.object)) state.requireReinvokingPreviouslyInvoked();
    try {
      for (const { hook, version, uid, index } of await this.dispatcher.select(a)) {
        // A webhook is never called for the first time in the second round.
        if (round === 1 && !state.reinvoke.has(uid)) continue;
        const request = admissionReviewRequest(a, version);
        const outcome = await this.dispatcher.call(hook, a, request);
        if ('error' in outcome) throw outcome.error;
        let changed = false;
        if ('response' in outcome) {
          try {
            changed = this.applyPatch(hook, a, version, request.object, outcome.response, round, index);
          } catch (e) {
            if (!(e instanceof WebhookCallError)) throw e;
            if (hook.failurePolicy === 'Ignore') {
              this.dispatcher.logger.warn({ webhook: hook.name, err: e.message }, 'failing open');
            } else throw internalError(e.message);
          }
        }
        if (changed) {
          state.requireReinvokingPreviouslyInvoked();
          if (context) context.shouldReinvoke = true;
        }
        if (hook.reinvocationPolicy === 'IfNeeded') state.previouslyInvoked.add(uid);
      }
    } finally {
      state.lastOutput = a.object === undefined ? undefined : structuredClone(a.object);
    }
  }

  /**
   * Applies a webhook's JSON patch to the object it was sent (`sent`, in `version`) and makes the
   * result the request's object. True when the object changed. A patch kube-apiserver could not read
   * is a WebhookCallError (the failurePolicy decides); one that does not apply or decode is an
   * internal error.
   */
  private applyPatch(
    hook: MutatingWebhook,
    a: AdmissionAttributes,
    version: string,
    sent: unknown,
    response: AdmissionResponse,
    round: number,
    index: number,
  ): boolean {
    if (!response.patch) return false;
    if (response.patchType !== 'JSONPatch')
      throw new WebhookCallError(hook.name, `unsupported patch type "${response.patchType}"`);
    let operations: unknown[];
    try {
      operations = parsePatchBody(
        Buffer.from(response.patch, 'base64').toString('utf8'),
        JSON_PATCH,
      ) as unknown[];
    } catch (e) {
      throw new WebhookCallError(
        hook.name,
        `received undecodable patch in webhook response: ${(e as Error).message}`,
      );
    }
    if (!operations.length) return false;
    if (!sent || !a.fromVersioned)
      throw internalError(
        `admission webhook "${hook.name}" attempted to modify the object, which is not supported for this operation`,
      );
    let mutated: Record<string, unknown>;
    try {
      const patched = applyPatchDocument(sent as JsonObject, JSON_PATCH, operations);
      mutated = a.fromVersioned(version, patched);
    } catch (e) {
      const causes = e instanceof ApiError ? (e.details?.causes ?? []) : [];
      const why = [(e as Error).message, ...causes.map((c) => c.message)].filter(Boolean).join(': ');
      throw internalError(`admission webhook "${hook.name}" returned a patch that cannot be applied: ${why}`);
    }
    a.object = mutated;
    const changed = !jsonEqual(sent, a.versioned?.(version).object ?? mutated);
    const key = `round_${round}_index_${index}`;
    this.dispatcher.logger.info(
      {
        webhook: hook.name,
        auditAnnotations: {
          [`patch.webhook.admission.k8s.io/${key}`]: JSON.stringify({
            webhook: hook.name,
            patch: operations,
            patchType: 'JSONPatch',
          }),
          [`mutation.webhook.admission.k8s.io/${key}`]: JSON.stringify({
            webhook: hook.name,
            mutated: changed,
          }),
        },
      },
      'admission webhook patched the object',
    );
    return changed;
  }
}
