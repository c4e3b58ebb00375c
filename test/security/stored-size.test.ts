/**
 * An object larger than etcd takes (its --max-request-bytes, 1.5 MiB by default) but within the 3 MiB
 * body limit is refused with 413 before it reaches etcd, and the server keeps serving: sent to etcd it
 * would fail as RESOURCE_EXHAUSTED, which the etcd client counts against its circuit breaker, failing
 * every other request for seconds.
 */
import { ApiClient } from '../support/api-client';
import { startServerOnStore, type TestServer } from '../support/widget-server';

jest.setTimeout(60000);

const NS = '/apis/custom.example.com/v1/namespaces/default/widgets';
const widget = (name: string, finalizers = 0) => ({
  apiVersion: 'custom.example.com/v1',
  kind: 'Widget',
  metadata: {
    name,
    finalizers: Array.from({ length: finalizers }, (_, i) => `example.com/f-${String(i).padStart(20, '0')}`),
  },
  spec: { image: 'nginx' },
});

let server: TestServer;
let api: ApiClient;

beforeAll(async () => {
  server = await startServerOnStore('etcd', 'stored-size');
  api = new ApiClient(server);
  expect((await api.post(NS, widget('small'))).status).toBe(201);
});

afterAll(async () => {
  await server?.close();
});

test('a 1.9 MB object is 413 on etcd, and every other request is still served at once', async () => {
  for (let i = 0; i < 4; i++) {
    const big = await api.post(NS, widget(`big-${i}`, 50_000));
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ reason: 'RequestEntityTooLarge' });
    expect(big.json.message).toMatch(/^Request entity too large: limit is \d+$/);
  }
  const started = Date.now();
  const small = await api.get(`${NS}/small`);
  expect(small.status).toBe(200);
  expect(Date.now() - started).toBeLessThan(2000);
  expect((await api.get(`${NS}/big-0`)).status).toBe(404);
});
