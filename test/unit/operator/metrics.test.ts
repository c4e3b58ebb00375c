/**
 * The operator's per-AggregatedAPI series: expiry computed at scrape time beside each certificate's renew
 * window, APIService availability that follows the versions an API has, and forgetting one deleted API
 * without touching the others.
 */
import { Registry } from 'prom-client';
import { certificatePolicy } from '../../../src/operator/api/aggregated-api';
import { createOperatorMetrics } from '../../../src/operator/controller/metrics';

async function series(registry: Registry, name: string): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`));
}

test('APIService availability follows each API, and forget drops only that API', async () => {
  const registry = new Registry();
  const m = createOperatorMetrics(registry);
  m.setApiServicesAvailable(
    'a',
    new Map([
      ['v1.a.example.com', true],
      ['v2.a.example.com', false],
    ]),
  );
  m.setApiServicesAvailable('b', new Map([['v1.b.example.com', true]]));
  m.setApiServicesAvailable('a', new Map([['v1.a.example.com', true]]));
  expect(await series(registry, 'aggregator_operator_apiservice_available')).toEqual([
    'aggregator_operator_apiservice_available{aggregatedapi="a",apiservice="v1.a.example.com"} 1',
    'aggregator_operator_apiservice_available{aggregatedapi="b",apiservice="v1.b.example.com"} 1',
  ]);
  m.ready.set({ aggregatedapi: 'a' }, 1);
  m.setCertificateNotAfter('a', 'serving', new Date(Date.now() + 100_000), 10_000);
  m.forget('a');
  expect(await series(registry, 'aggregator_operator_apiservice_available')).toEqual([
    'aggregator_operator_apiservice_available{aggregatedapi="b",apiservice="v1.b.example.com"} 1',
  ]);
  expect(await series(registry, 'aggregator_operator_aggregatedapi_ready')).toEqual([]);
  expect(await series(registry, 'aggregator_operator_certificate_expiry_seconds')).toEqual([]);
});

test('seconds until expiry are computed when scraped', async () => {
  const registry = new Registry();
  const m = createOperatorMetrics(registry);
  m.setCertificateNotAfter('a', 'ca', new Date(Date.now() + 3600_000), 600_000);
  const [line] = await series(registry, 'aggregator_operator_certificate_expiry_seconds');
  const value = Number(line.split(' ').pop());
  expect(value).toBeGreaterThan(3590);
  expect(value).toBeLessThanOrEqual(3600);
});

test('renew windows are exported beside the expiry, per certificate, and forget drops them', async () => {
  const registry = new Registry();
  const m = createOperatorMetrics(registry);
  // The defaults (renewBefore 720h, caDuration 8760h): the CA's window is the larger, a third of its life.
  const policy = certificatePolicy({ group: 'a.example.com', versions: [{ name: 'v1' }], namespace: 'n' });
  const inAnHour = new Date(Date.now() + 3600_000);
  m.setCertificateNotAfter('a', 'ca', inAnHour, policy.caRenewBeforeMs);
  m.setCertificateNotAfter('a', 'serving', inAnHour, policy.renewBeforeMs);
  m.setCertificateNotAfter('b', 'serving', inAnHour, 3600_000);
  expect(await series(registry, 'aggregator_operator_certificate_renew_before_seconds')).toEqual([
    'aggregator_operator_certificate_renew_before_seconds{aggregatedapi="a",certificate="ca"} 10512000',
    'aggregator_operator_certificate_renew_before_seconds{aggregatedapi="a",certificate="serving"} 2592000',
    'aggregator_operator_certificate_renew_before_seconds{aggregatedapi="b",certificate="serving"} 3600',
  ]);
  m.forget('a');
  expect(await series(registry, 'aggregator_operator_certificate_renew_before_seconds')).toEqual([
    'aggregator_operator_certificate_renew_before_seconds{aggregatedapi="b",certificate="serving"} 3600',
  ]);
  expect(await series(registry, 'aggregator_operator_certificate_expiry_seconds')).toEqual([
    expect.stringMatching(
      /^aggregator_operator_certificate_expiry_seconds\{aggregatedapi="b",certificate="serving"\} /,
    ),
  ]);
});
