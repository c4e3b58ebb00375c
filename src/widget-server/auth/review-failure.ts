/**
 * How a failed TokenReview or SubjectAccessReview is described in the 503 the client sees: the status
 * code and kube-apiserver's message, not client-node's ApiException text, which dumps the response
 * headers.
 */
export function describeReviewFailure(e: unknown): string {
  const err = e as { code?: unknown; body?: unknown; message?: string };
  if (typeof err?.code === 'number') {
    let detail = '';
    try {
      const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
        detail = `: ${(body as { message: string }).message}`;
      }
    } catch {
      // not JSON
    }
    return `kube-apiserver answered ${err.code}${detail}`;
  }
  return err?.message ?? String(e);
}
