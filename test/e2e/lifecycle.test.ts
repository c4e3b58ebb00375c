/**
 * Process-level behaviour of the Widget server: readiness, metrics, request ids, and graceful shutdown
 * that ends watches cleanly and lets in-flight requests finish.
 */
import { ApiClient, widget } from '../support/api-client';
import { startTestServer, type TestServer } from '../support/widget-server';

const NS = '/apis/custom.example.com/v1/namespaces/default/widgets';

describe('Widget server lifecycle', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startTestServer();
    api = new ApiClient(server);
  });

  afterAll(async () => {
    await server.close();
  });

  test('every response carries a request id; metrics count requests by verb, resource and code', async () => {
    const created = await api.post(NS, widget('m1'));
    expect(created.headers['audit-id']).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await api.get(`${NS}/m1`, { headers: { 'X-Request-Id': 'req-123' } });
    expect(echoed.headers['audit-id']).toBe('req-123');
    await api.get(`${NS}/missing`);
    const metrics = (await api.get('/metrics')).text;
    expect(metrics).toMatch(
      /apiserver_request_total\{[^}]*verb="POST"[^}]*resource="widgets"[^}]*code="201"[^}]*\} 1/,
    );
    expect(metrics).toMatch(/apiserver_request_total\{[^}]*verb="GET"[^}]*code="404"[^}]*\} 1/);
    expect(metrics).toMatch(/apiserver_request_duration_seconds_bucket\{/);
  });

  test('shutdown fails readiness, ends watches cleanly and finishes', async () => {
    const watch = await api.watch(`${NS}?watch=true`);
    await watch.waitForEvents(1);
    const stopping = server.stop();
    await watch.waitForEnd(5000);
    expect(watch.ended).toBe(true);
    expect(watch.events.every((e: { type: string }) => e.type !== 'ERROR')).toBe(true);
    await stopping;
    await expect(api.get('/readyz')).rejects.toThrow();
  });
});
