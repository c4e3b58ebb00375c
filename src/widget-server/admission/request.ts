/**
 * The fields of admissionv1.AdmissionRequest that admission policies (the CEL `request` variable) and
 * webhooks (the AdmissionReview) both show, in the version the policy's or webhook's rule matched: kind
 * and resource in that version, the request's own as requestKind and requestResource.
 */
import type { AdmissionAttributes } from './admission';

export function admissionRequestFields(a: AdmissionAttributes, version: string) {
  return {
    // A subresource's kind (autoscaling/v1 Scale) keeps its own version.
    kind: { ...a.kind, version: a.kind.group === a.resource.group ? version : a.kind.version },
    resource: { ...a.resource, version },
    requestKind: a.kind,
    requestResource: a.resource,
    name: a.name,
    namespace: a.namespace,
    operation: a.operation,
    dryRun: a.dryRun,
  };
}
