/**
 * The admission seam of the Widget server, shaped like k8s.io/apiserver pkg/admission: the attributes a
 * plugin sees for one request, plugins that mutate (`admit`) and/or validate (`validate`), and the chain
 * the registry calls between decoding and the storage write. As in kube-apiserver, every mutating plugin
 * runs (in order) before any validating plugin, the first error stops the request, and plugins run on
 * dry runs too (a plugin with side effects must look at `dryRun`).
 */
import { ApiError, type GroupResource } from '../../shared/status-errors';
import type { UserInfo } from '../auth/authentication';
import type { AdmissionMetrics, StepType } from './metrics';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** group/version/kind of the object admitted (autoscaling/v1 Scale for the scale subresource). */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** group/version/resource of the request, the subresource apart as in admission.Attributes. */
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface AdmissionAttributes {
  operation: Operation;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  /** '' for the main resource. */
  subresource: string;
  /** '' for cluster-scoped requests. */
  namespace: string;
  /** '' when the name is not known yet (a create with generateName, before the name is generated). */
  name: string;
  /**
   * The new object (CREATE, UPDATE), in the server's internal (hub) form; undefined on DELETE. A mutating
   * plugin changes it in place or replaces it; the registry stores what is here after the mutating phase.
   */
  object?: Record<string, unknown>;
  /** The current object (UPDATE, DELETE). */
  oldObject?: Record<string, unknown>;
  dryRun: boolean;
  /** The authenticated user, when the caller knows it. */
  userInfo?: UserInfo;
  /** Warnings for the response (`Warning` headers), as admission plugins add them with warning.AddWarning. */
  warnings?: string[];
  /**
   * Other versions of the requested resource (matchPolicy Equivalent), and the objects as one of them:
   * `object` and `oldObject` are the server's internal (hub) form, which plugins that show objects to
   * users (policies, webhooks) must convert to the version they match in.
   */
  versions?: readonly string[];
  /** `object` (as it is now) and `oldObject` in `version`. */
  versioned?(version: string): { object?: Record<string, unknown>; oldObject?: Record<string, unknown> };
  /**
   * A mutated object of `version` (a mutating webhook's patch applied to `versioned(version).object`)
   * back in the internal form, decoded as a request body is: unknown fields dropped, defaults applied.
   * Throws an ApiError when it does not decode.
   */
  fromVersioned?(version: string, object: Record<string, unknown>): Record<string, unknown>;
  /** The mutating phase's reinvocation state; the chain creates it. */
  reinvocation?: ReinvocationContext;
}

/**
 * admission.ReinvocationContext: a mutating plugin that changed the object after one that asked to be
 * reinvoked (a webhook's `reinvocationPolicy: IfNeeded`) sets shouldReinvoke, and the chain then runs the
 * mutating phase once more with isReinvoke set. Plugins keep their own state in `values`.
 */
export class ReinvocationContext {
  isReinvoke = false;
  shouldReinvoke = false;
  readonly values = new Map<string, unknown>();
}

/**
 * One admission plugin. `handles` filters by operation, as admission.Handler does; a plugin implements
 * `admit` (mutating), `validate` (validating), or both. Refusals are thrown ApiErrors (Status answers).
 */
export interface AdmissionPlugin {
  readonly name: string;
  handles(operation: Operation): boolean;
  admit?(attributes: AdmissionAttributes): Promise<void>;
  validate?(attributes: AdmissionAttributes): Promise<void>;
}

/** Runs plugins in the order given: `admit` for the mutating phase, `validate` for the validating one. */
export class AdmissionChain {
  constructor(
    readonly plugins: readonly AdmissionPlugin[] = [],
    private readonly metrics?: AdmissionMetrics,
  ) {}

  get names(): string[] {
    return this.plugins.map((p) => p.name);
  }

  /** The mutating phase, run a second time when a plugin asks to be reinvoked (admission.reinvoker). */
  async admit(attributes: AdmissionAttributes): Promise<void> {
    const reinvocation = (attributes.reinvocation ??= new ReinvocationContext());
    await this.phase('admit', attributes, (p) => p.admit?.bind(p));
    if (reinvocation.shouldReinvoke && !reinvocation.isReinvoke) {
      reinvocation.isReinvoke = true;
      await this.phase('admit', attributes, (p) => p.admit?.bind(p));
    }
  }

  async validate(attributes: AdmissionAttributes): Promise<void> {
    await this.phase('validate', attributes, (p) => p.validate?.bind(p));
  }

  /** Both phases, mutating first: what the registry calls where kube-apiserver runs both back to back. */
  async run(attributes: AdmissionAttributes): Promise<void> {
    await this.admit(attributes);
    await this.validate(attributes);
  }

  /** One phase, timed as a step and per plugin (kube-apiserver's admission metrics). */
  private async phase(
    type: StepType,
    attributes: AdmissionAttributes,
    method: (p: AdmissionPlugin) => ((a: AdmissionAttributes) => Promise<void>) | undefined,
  ): Promise<void> {
    const started = performance.now();
    let rejected = false;
    try {
      for (const plugin of this.plugins) {
        const run = method(plugin);
        if (!run || !plugin.handles(attributes.operation)) continue;
        const t = performance.now();
        let refused = false;
        try {
          await run(attributes);
        } catch (e) {
          refused = true;
          throw e;
        } finally {
          this.metrics?.controller(
            plugin.name,
            type,
            attributes.operation,
            refused,
            (performance.now() - t) / 1000,
          );
        }
      }
    } catch (e) {
      rejected = true;
      throw e;
    } finally {
      if (this.plugins.length)
        this.metrics?.step(type, attributes.operation, rejected, (performance.now() - started) / 1000);
    }
  }
}

/**
 * The name admission errors report (admission.extractResourceName): the request's name, else the
 * object's name or generateName (a create before name generation), else "Unknown".
 */
export function admissionName(attributes: AdmissionAttributes): string {
  if (attributes.name) return attributes.name;
  const meta = attributes.object?.metadata as { name?: string; generateName?: string } | undefined;
  return meta?.name || meta?.generateName || 'Unknown';
}

/** admission.NewForbidden: `<resource>.<group> "<name>" is forbidden: <why>`, 403 Forbidden. */
export function admissionForbidden(attributes: AdmissionAttributes, why: string): ApiError {
  const gr: GroupResource = { group: attributes.resource.group, resource: attributes.resource.resource };
  const name = admissionName(attributes);
  const qualified = gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
  const details: NonNullable<ApiError['details']> = { name, kind: gr.resource };
  if (gr.group) details.group = gr.group;
  return new ApiError(403, 'Forbidden', `${qualified} "${name}" is forbidden: ${why}`, details);
}
