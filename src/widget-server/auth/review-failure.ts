/**
 * How a failed TokenReview or SubjectAccessReview is described in the 503 the client sees: the status
 * code and kube-apiserver's Status message, without our request line or any response headers.
 */
import { KubeApiError } from '../../shared/kube/rest';

export function describeReviewFailure(e: unknown): string {
  if (e instanceof KubeApiError) {
    const message = (e.status as { message?: unknown } | undefined)?.message;
    return `kube-apiserver answered ${e.code}${typeof message === 'string' && message ? `: ${message}` : ''}`;
  }
  return (e as { message?: string } | undefined)?.message ?? String(e);
}
