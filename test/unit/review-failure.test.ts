/** The 503 text for a failed delegated review: code and kube-apiserver's message, never our request line. */
import { KubeApiError } from '../../src/shared/kube/rest';
import { describeReviewFailure } from '../../src/widget-server/auth/review-failure';

test('a KubeApiError becomes its code and Status message', () => {
  const e = new KubeApiError(
    401,
    'Unauthorized',
    'POST /apis/authorization.k8s.io/v1/subjectaccessreviews: 401 Unauthorized',
    { kind: 'Status', message: 'Unauthorized' },
  );
  expect(describeReviewFailure(e)).toBe('kube-apiserver answered 401: Unauthorized');
  expect(describeReviewFailure(new KubeApiError(500, 'InternalError', 'x', undefined))).toBe(
    'kube-apiserver answered 500',
  );
});

test('other errors keep their message', () => {
  expect(describeReviewFailure(new Error('connect ECONNREFUSED 10.96.0.1:443'))).toBe(
    'connect ECONNREFUSED 10.96.0.1:443',
  );
});
