/**
 * Admission attributes of a widget write for the admission plugin tests: a v1 (hub) Widget, the
 * Widget's versions for matchPolicy Equivalent, and a converter that shows the objects as v1alpha1
 * (where spec.replicas is spec.size) as the registry's does; and the refusal a plugin answers with.
 */
import type { AdmissionAttributes, AdmissionPlugin } from '../../../src/widget-server/admission/admission';
import { ApiError } from '../../../src/shared/status-errors';

export const GROUP = 'custom.example.com';

export function widgetAttributes(over: Partial<AdmissionAttributes> = {}): AdmissionAttributes {
  const version = over.resource?.version ?? 'v1';
  const a: AdmissionAttributes = {
    operation: 'CREATE',
    kind: { group: GROUP, version, kind: 'Widget' },
    resource: { group: GROUP, version, resource: 'widgets' },
    subresource: '',
    namespace: 'prod',
    name: 'w',
    dryRun: false,
    warnings: [],
    versions: ['v1', 'v1beta1', 'v1alpha1'],
    ...over,
  };
  const toVersion = (o: Record<string, unknown> | undefined, v: string) => {
    if (!o || v !== 'v1alpha1') return o;
    const { replicas, ...spec } = o.spec as Record<string, unknown>;
    return { ...o, apiVersion: `${GROUP}/v1alpha1`, spec: { ...spec, size: replicas } };
  };
  a.versioned = (v) => ({ object: toVersion(a.object, v), oldObject: toVersion(a.oldObject, v) });
  return a;
}

/** The ApiError a plugin's validate refuses with, or undefined when it admits. */
export async function refusal(
  plugin: AdmissionPlugin,
  a: AdmissionAttributes,
): Promise<ApiError | undefined> {
  try {
    await plugin.validate!(a);
    return undefined;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
}
