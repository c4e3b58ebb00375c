/**
 * Process-level behaviour of the Widget server: readiness, metrics, request ids, and graceful shutdown
 * in kube-apiserver's phases (src/widget-server/http/lifecycle.ts): /readyz fails at once, requests are
 * served through the shutdown delay, then the listener closes, watches end with a final bookmark, and
 * requests already on a connection are answered with `Connection: close` (a new watch with 429).
 */
import { ApiClient, widget } from '../support/api-client';
import { connect, parseResponse, sleep } from '../support/raw-http';
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

describe('graceful shutdown with a shutdown delay', () => {
  const DELAY_MS = 1500;
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startTestServer({ args: [`--shutdown-delay-duration=${DELAY_MS}ms`] });
    api = new ApiClient(server);
  });

  afterAll(async () => {
    await server.close();
  });

  test('serves through the delay with /readyz failing, then drains connection by connection', async () => {
    const first = await api.post(NS, widget('before'));
    expect(first.status).toBe(201);
    const watch = await api.watch(
      `${NS}?watch=true&allowWatchBookmarks=true&resourceVersion=${first.json.metadata.resourceVersion}`,
    );
    const body = JSON.stringify(widget('in-flight'));
    // A create whose body is still on its way when draining starts, and a watch whose headers are.
    const slowCreate = await connect(server);
    slowCreate.socket.write(
      `POST ${NS} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    const lateWatch = await connect(server);
    lateWatch.socket.write(`GET ${NS}?watch=true HTTP/1.1\r\nHost: localhost\r\n`);

    const started = Date.now();
    const stopping = server.stop();

    // A connection opened late in the delay and left idle: draining keeps it for a second after its
    // last activity (a client may be sending on it), then closes it.
    const lateIdle = sleep(DELAY_MS - 500).then(() => connect(server));

    // The delay: not ready, but everything else is served as before, on kept connections too.
    const readyz = await api.get('/readyz?verbose');
    expect(readyz.status).toBe(500);
    expect(readyz.text).toMatch(/\[-\]shutdown failed/);
    const during = await api.post(NS, widget('during-delay'));
    expect(during.status).toBe(201);
    expect(during.headers.connection).not.toBe('close');
    await watch.waitForEvents(1);
    expect(watch.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'during-delay' } } });

    // Then the watch ends cleanly, its last event a bookmark at the newest revision it had reached.
    await watch.waitForEnd(DELAY_MS + 3000);
    const endedAfter = Date.now() - started;
    expect(endedAfter).toBeGreaterThanOrEqual(DELAY_MS - 50);
    const last = watch.events[watch.events.length - 1];
    expect(last.type).toBe('BOOKMARK');
    expect(Number(last.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      Number(during.json.metadata.resourceVersion),
    );
    expect(watch.events.some((e: { type: string }) => e.type === 'ERROR')).toBe(false);

    // Draining: the request already on its connection is served, and that connection then closes.
    slowCreate.socket.write(body);
    const created = parseResponse((await slowCreate.closed).data);
    expect(created.status).toBe(201);
    expect(created.headers.connection).toBe('close');

    // A new watch that arrives on a connection now is refused retryably, and its connection closed.
    lateWatch.socket.write('\r\n');
    const refused = parseResponse((await lateWatch.closed).data);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers.connection).toBe('close');
    expect(refused.body).toContain('"reason":"TooManyRequests"');

    const idle = await lateIdle;
    const { atMs } = await idle.closed;
    expect(idle.received()).toBe('');
    expect(atMs).toBeGreaterThanOrEqual(900);

    // No new connections: the listener is closed.
    await expect(connect(server)).rejects.toThrow(/ECONNREFUSED/);
    await stopping;
    expect(Date.now() - started).toBeLessThan(DELAY_MS + 3000);
  });
});
