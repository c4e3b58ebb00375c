/** The 503 text for a failed delegated review: code and kube-apiserver's message, never response headers. */
import { ApiException } from '@kubernetes/client-node';
import { describeReviewFailure } from '../../src/widget-server/auth/review-failure';

test('an ApiException becomes its code and message', () => {
  const e = new ApiException(
    401,
    'HTTP-Code: 401\nMessage: Unauthorized\nHeaders: {"audit-id":"x"}',
    JSON.stringify({ kind: 'Status', message: 'Unauthorized' }),
    { 'audit-id': 'x' },
  );
  expect(describeReviewFailure(e)).toBe('kube-apiserver answered 401: Unauthorized');
  expect(describeReviewFailure(new ApiException(500, 'x', undefined, {}))).toBe(
    'kube-apiserver answered 500',
  );
});

test('other errors keep their message', () => {
  expect(describeReviewFailure(new Error('connect ECONNREFUSED 10.96.0.1:443'))).toBe(
    'connect ECONNREFUSED 10.96.0.1:443',
  );
});
