/**
 * Connection-level attacks on the real server (issue 8, items 8 and 15): slow bodies, slow headers,
 * idle keep-alive connections, too many connections, oversized headers, a hung etcd, and HTTP/1.0
 * watches. Each asserts kube-apiserver's answer (504 Timeout Status, 400 for a bad ?timeout=) or a
 * Status where Node answers before a request exists, and that a concurrent GET still answers within
 * RESPONSIVE_MS. Limits are set small through their flags so the file runs in well under a minute.
 */
import { ApiClient, widget } from '../support/api-client';
import { startServerOnStore, type TestServer } from '../support/widget-server';
import { connect, parseResponse, sleep, timedGet } from '../support/raw-http';

/** A GET on a fresh connection must answer within this while the server is under attack. */
const RESPONSIVE_MS = 1500;
const REQUEST_TIMEOUT_MS = 2000;
const READ_TIMEOUT_MS = 3000;
const HEADER_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_MS = 1000;
const NS = '/apis/custom.example.com/v1/namespaces/conn/widgets';
const TIMEOUT_MESSAGE =
  'Timeout: request did not complete within requested timeout - context deadline exceeded';

const FLAGS = [
  '--request-timeout',
  `${REQUEST_TIMEOUT_MS}ms`,
  '--read-timeout',
  `${READ_TIMEOUT_MS}ms`,
  '--read-header-timeout',
  `${HEADER_TIMEOUT_MS}ms`,
  '--idle-timeout',
  `${IDLE_TIMEOUT_MS}ms`,
  '--max-connections',
  '30',
];

describe('connections on the embedded store', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServerOnStore('memory', 'connections', FLAGS);
    api = new ApiClient(server);
    expect((await api.post(NS, widget('w-a'))).status).toBe(201);
  });
  afterAll(() => server?.close());

  it('answers a body that never completes with 504 Timeout and closes the connection', async () => {
    const conn = await connect(server);
    conn.socket.write(
      `POST ${NS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":`,
    );
    // Keep trickling, as a slowloris client does, until the server gives up.
    const trickle = setInterval(() => conn.socket.writable && conn.socket.write(' '), 200);
    try {
      await sleep(300);
      const during = await timedGet(server, `${NS}/w-a`);
      expect(during.status).toBe(200);
      expect(during.ms).toBeLessThan(RESPONSIVE_MS);
      const { data, atMs } = await conn.closed;
      const res = parseResponse(data);
      expect(res.status).toBe(504);
      expect(res.headers.connection).toBe('close');
      expect(JSON.parse(res.body)).toMatchObject({
        kind: 'Status',
        reason: 'Timeout',
        code: 504,
        message: TIMEOUT_MESSAGE,
      });
      expect(atMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
      expect(atMs).toBeLessThan(REQUEST_TIMEOUT_MS + 1500);
    } finally {
      clearInterval(trickle);
    }
  });

  it('closes an anonymous slow body after --read-timeout although the 403 was sent at once', async () => {
    const conn = await connect(server, false);
    conn.socket.write(`POST ${NS} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{`);
    const trickle = setInterval(() => conn.socket.writable && conn.socket.write(' '), 200);
    try {
      const { data, atMs } = await conn.closed;
      // system:anonymous is authenticated and refused at once, before its body has arrived.
      expect(parseResponse(data).status).toBe(403);
      expect(atMs).toBeLessThan(READ_TIMEOUT_MS + 1500);
    } finally {
      clearInterval(trickle);
    }
  });

  it('answers headers that never complete with a 408 Status after --read-header-timeout', async () => {
    const conn = await connect(server);
    conn.socket.write(`GET ${NS} HTTP/1.1\r\nHost: x\r\n`);
    const trickle = setInterval(() => conn.socket.writable && conn.socket.write('X-Slow: 1\r\n'), 200);
    try {
      const { data, atMs } = await conn.closed;
      const res = parseResponse(data);
      expect(res.status).toBe(408);
      expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 408 });
      expect(atMs).toBeLessThan(HEADER_TIMEOUT_MS + 1500);
    } finally {
      clearInterval(trickle);
    }
  });

  it('closes an idle keep-alive connection after --idle-timeout', async () => {
    const conn = await connect(server);
    conn.socket.write(`GET ${NS}/w-a HTTP/1.1\r\nHost: x\r\n\r\n`);
    await sleep(200);
    expect(parseResponse(conn.received()).status).toBe(200);
    const { atMs } = await conn.closed;
    expect(atMs).toBeLessThan(IDLE_TIMEOUT_MS + 1500);
  });

  it('closes connections beyond --max-connections, and serves again once attackers time out', async () => {
    const held = await Promise.all(Array.from({ length: 30 }, () => connect(server).catch(() => undefined)));
    try {
      const refused = await connect(server).then(
        (c) => c.closed,
        () => ({ atMs: 0 }),
      );
      expect(refused.atMs).toBeLessThan(1000);
      // The held connections send nothing: the header timeout frees them.
      await sleep(HEADER_TIMEOUT_MS + 1200);
      const after = await timedGet(server, `${NS}/w-a`);
      expect(after.status).toBe(200);
      expect(after.ms).toBeLessThan(RESPONSIVE_MS);
    } finally {
      for (const c of held) c?.socket.destroy();
    }
  });

  it('accepts headers far beyond Node’s 16 KiB default (many groups), and answers over 1 MiB with a 431 Status', async () => {
    const big = await api.get(`${NS}/w-a`, { headers: { 'X-Filler': 'g'.repeat(200 * 1024) } });
    expect(big.status).toBe(200);
    const selector = `app in (${Array.from({ length: 3000 }, (_, i) => `v${i}`).join(',')})`;
    const longUrl = await api.get(`${NS}?labelSelector=${encodeURIComponent(selector)}`);
    expect(longUrl.status).toBe(200);

    const conn = await connect(server);
    conn.socket.write(`GET ${NS} HTTP/1.1\r\nHost: x\r\nX-Filler: ${'g'.repeat(1100 * 1024)}\r\n\r\n`);
    const { data } = await conn.closed;
    const res = parseResponse(data);
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', status: 'Failure', code: 431 });
    const during = await timedGet(server, `${NS}/w-a`);
    expect(during.ms).toBeLessThan(RESPONSIVE_MS);
  });

  it('honours a shorter ?timeout= and refuses a malformed one as kube-apiserver does', async () => {
    const bad = await api.get(`${NS}?timeout=abc`);
    expect(bad.status).toBe(400);
    expect(bad.json.message).toBe(
      'invalid timeout specified in the request URL - time: invalid duration "abc"',
    );
    expect((await api.get(`${NS}?timeout=1s`)).status).toBe(200);
  });

  it('streams an HTTP/1.0 watch without chunked encoding and closes the connection at its end', async () => {
    const conn = await connect(server);
    conn.socket.write(`GET ${NS}?watch=true&timeoutSeconds=1 HTTP/1.0\r\nHost: x\r\n\r\n`);
    const { data } = await conn.closed;
    const res = parseResponse(data);
    expect(res.status).toBe(200);
    expect(res.headers['transfer-encoding']).toBeUndefined();
    const events = res.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'w-a' } } });
  });
});

describe('a hung etcd (SIGSTOP)', () => {
  let server: TestServer & { etcd?: { pid: number } };
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServerOnStore('etcd', 'connections-hang', FLAGS);
    api = new ApiClient(server);
    expect((await api.post(NS, widget('w-a'))).status).toBe(201);
  });
  afterAll(() => server?.close());

  it('answers 504 Timeout at the request deadline, does not pile up calls, and recovers', async () => {
    const pid = server.etcd!.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const burst = await Promise.all(Array.from({ length: 20 }, () => api.get(`${NS}/w-a`)));
      const elapsed = Date.now() - started;
      for (const r of burst) {
        expect(r.status).toBe(504);
        expect(r.json).toMatchObject({
          kind: 'Status',
          reason: 'Timeout',
          code: 504,
          message: TIMEOUT_MESSAGE,
        });
      }
      expect(elapsed).toBeLessThan(REQUEST_TIMEOUT_MS + 2000);
      // A shorter client timeout is honoured.
      const short = Date.now();
      expect((await api.get(`${NS}?timeout=500ms`)).status).toBe(504);
      expect(Date.now() - short).toBeLessThan(1500);
      // Endpoints that do not touch storage stay responsive.
      const live = await timedGet(server, '/livez');
      expect(live.status).toBe(200);
      expect(live.ms).toBeLessThan(RESPONSIVE_MS);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The store skips a member that failed a call for 1 s (EtcdStorage's circuit breaker), then probes it.
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await api.get(`${NS}/w-a`)).status;
      if (status !== 200) await sleep(250);
    }
    expect(status).toBe(200);
  });
});
