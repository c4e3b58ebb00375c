/**
 * Status conditions from observations: reasons copied from the aggregator, Ready only when everything
 * is, observedGeneration on each, and lastTransitionTime moving only on a status change.
 */
import {
  CLUSTER_WIDE_EFFECT,
  computeConditions,
  type Observation,
} from '../../../src/operator/reconcile/conditions';

const healthy: Observation = {
  generation: 3,
  certificates: { ok: true, message: 'valid' },
  deployment: {
    exists: true,
    desiredReplicas: 2,
    readyReplicas: 2,
    updatedReplicas: 2,
    observedLatest: true,
  },
  apiServices: [
    { name: 'v1.g.example.com', available: 'True', reason: 'Passed', message: 'all checks passed' },
  ],
};
const byType = (cs: ReturnType<typeof computeConditions>) => Object.fromEntries(cs.map((c) => [c.type, c]));

test('a healthy API is Ready and Available, not Progressing or Degraded', () => {
  const c = byType(computeConditions(healthy, undefined, new Date('2026-01-01T00:00:00Z')));
  expect(c.Ready).toMatchObject({ status: 'True', reason: 'Ready', observedGeneration: 3 });
  expect(c.Available).toMatchObject({ status: 'True', reason: 'APIServicesAvailable' });
  expect(c.CertificatesReady.status).toBe('True');
  expect(c.Progressing).toMatchObject({ status: 'False', reason: 'Reconciled' });
  expect(c.Degraded).toMatchObject({ status: 'False', reason: 'AsExpected' });
  expect(c.Ready.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
});

test("the aggregator's reason for an unavailable APIService becomes Available's and Ready's reason", () => {
  const obs = {
    ...healthy,
    apiServices: [
      {
        name: 'v1.g.example.com',
        available: 'False',
        reason: 'MissingEndpoints',
        message: 'endpoints for service/x in "ns" have no addresses',
      },
    ],
  };
  const c = byType(computeConditions(obs, undefined, new Date()));
  expect(c.Available).toMatchObject({ status: 'False', reason: 'MissingEndpoints' });
  expect(c.Ready).toMatchObject({ status: 'False', reason: 'MissingEndpoints' });
  expect(c.Available.message).toContain('have no addresses');
});

test('Degraded wins over everything for Ready; rotation and rollout show as Progressing', () => {
  const degraded = byType(
    computeConditions(
      { ...healthy, degraded: { reason: 'APIServiceConflict', message: 'taken' } },
      undefined,
      new Date(),
    ),
  );
  expect(degraded.Ready).toMatchObject({ status: 'False', reason: 'APIServiceConflict' });
  expect(degraded.Degraded).toMatchObject({ status: 'True', reason: 'APIServiceConflict' });
  const rotating = byType(
    computeConditions({ ...healthy, rotationStep: 'PublishingNextCA' }, undefined, new Date()),
  );
  expect(rotating.Progressing).toMatchObject({ status: 'True', reason: 'CertificateRotation' });
  expect(rotating.Ready.status).toBe('True');
  const rolling = byType(
    computeConditions(
      { ...healthy, deployment: { ...healthy.deployment, readyReplicas: 1, updatedReplicas: 1 } },
      undefined,
      new Date(),
    ),
  );
  expect(rolling.Progressing).toMatchObject({ status: 'True', reason: 'RollingOut' });
  const none = byType(
    computeConditions(
      { ...healthy, deployment: { ...healthy.deployment, readyReplicas: 0 } },
      undefined,
      new Date(),
    ),
  );
  expect(none.Ready).toMatchObject({ status: 'False', reason: 'NoReadyReplicas' });
});

test('lastTransitionTime changes only when the status does', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const first = computeConditions(healthy, undefined, t0);
  const again = byType(
    computeConditions({ ...healthy, generation: 4 }, first, new Date('2026-01-01T01:00:00Z')),
  );
  expect(again.Ready.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  expect(again.Ready.observedGeneration).toBe(4);
  const later = byType(
    computeConditions(
      { ...healthy, degraded: { reason: 'X', message: 'y' } },
      first,
      new Date('2026-01-01T02:00:00Z'),
    ),
  );
  expect(later.Ready.lastTransitionTime).toBe('2026-01-01T02:00:00Z');
});

test('an APIService the aggregator calls Available whose discovery fails makes the API unavailable', () => {
  const obs: Observation = {
    ...healthy,
    apiServices: [
      {
        ...healthy.apiServices[0],
        discovery: 'False',
        discoveryMessage: 'GET /apis/g.example.com/v1: 503 service unavailable',
      },
    ],
  };
  const c = byType(computeConditions(obs, undefined, new Date()));
  expect(c.Available).toMatchObject({ status: 'False', reason: 'DiscoveryFailed' });
  expect(c.Available.message).toContain(
    'v1.g.example.com is Available to the aggregator but its discovery through kube-apiserver failed: GET /apis/g.example.com/v1: 503',
  );
  expect(c.Available.message).toContain(CLUSTER_WIDE_EFFECT);
  expect(c.Ready).toMatchObject({ status: 'False', reason: 'DiscoveryFailed' });
  // Discovery that answered, or that was not asked yet, changes nothing.
  for (const discovery of ['True', 'Unknown'] as const) {
    const ok = { ...healthy, apiServices: [{ ...healthy.apiServices[0], discovery }] };
    expect(byType(computeConditions(ok, undefined, new Date())).Available.status).toBe('True');
  }
});

test('an unavailable API says what it blocks cluster-wide', () => {
  const obs = {
    ...healthy,
    apiServices: [
      { name: 'v1.g.example.com', available: 'False', reason: 'MissingEndpoints', message: 'none' },
    ],
  };
  const message = byType(computeConditions(obs, undefined, new Date())).Available.message;
  expect(message).toBe(`v1.g.example.com: none. ${CLUSTER_WIDE_EFFECT}`);
  expect(CLUSTER_WIDE_EFFECT).toMatch(/discovery .* incomplete/);
  expect(CLUSTER_WIDE_EFFECT).toMatch(/deleting any namespace/);
});
