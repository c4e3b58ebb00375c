/**
 * Authentication, authorization and TLS at the Widget server's own edge, over real TLS connections:
 * front-proxy request headers trusted only with the front-proxy certificate, client certificates from the
 * right CA only, unknown bearer tokens and unreachable review endpoints refused, and certificate reload
 * without a restart (including kubelet's `..data` symlink swap).
 */
import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import pino from 'pino';
import { writeKubeconfig } from '../../src/shared/kubeconfig';
import { createCA, issueClientCert, issueServingCert, type IssuedCert } from '../../src/shared/pki';
import { parseConfig } from '../../src/widget-server/config';
import { startWidgetServer, type RunningWidgetServer } from '../../src/widget-server/widget-server';
import { freePort } from '../support/ports';

const HOUR = 3600_000;
const NS = '/apis/custom.example.com/v1/namespaces/default/widgets';

interface Creds {
  cert?: string;
  key?: string;
  headers?: Record<string, string | string[]>;
}

function request(url: string, ca: string, method: string, p: string, creds: Creds = {}, body?: unknown) {
  return new Promise<{ status: number; json: { reason?: string; message?: string; code?: number } }>(
    (resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | string[]> = { ...(creds.headers ?? {}) };
      if (payload) headers['Content-Type'] = 'application/json';
      const req = https.request(
        new URL(p, url),
        { method, ca, cert: creds.cert, key: creds.key, headers },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            let json = {};
            try {
              json = JSON.parse(text);
            } catch {
              json = { message: text };
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    },
  );
}

function servedCertificateSerial(url: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, servername: 'localhost' }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

describe('delegated authentication and authorization at the server edge', () => {
  let dir: string;
  let servingCA: IssuedCert;
  let clientCA: IssuedCert;
  let frontProxyCA: IssuedCert;
  let otherCA: IssuedCert;
  let server: RunningWidgetServer;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'widget-auth-'));
    servingCA = createCA({ commonName: 'serving-ca', validityMs: HOUR });
    clientCA = createCA({ commonName: 'client-ca', validityMs: HOUR });
    frontProxyCA = createCA({ commonName: 'front-proxy-ca', validityMs: HOUR });
    otherCA = createCA({ commonName: 'other-ca', validityMs: HOUR });
    const serving = issueServingCert(servingCA, {
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityMs: HOUR,
    });
    // A Secret volume as kubelet writes it: files are symlinks through `..data` to a timestamped dir.
    const first = path.join(dir, 'secret', '..2026_01_01_v1');
    await mkdir(first, { recursive: true });
    await writeFile(path.join(first, 'tls.crt'), serving.certPem);
    await writeFile(path.join(first, 'tls.key'), serving.keyPem);
    await symlink('..2026_01_01_v1', path.join(dir, 'secret', '..data'));
    await symlink('..data/tls.crt', path.join(dir, 'secret', 'tls.crt'));
    await symlink('..data/tls.key', path.join(dir, 'secret', 'tls.key'));
    await writeFile(path.join(dir, 'client-ca.crt'), clientCA.certPem);
    await writeFile(path.join(dir, 'front-proxy-ca.crt'), frontProxyCA.certPem);
    // Delegation through a kube-apiserver that is down: TokenReview and SubjectAccessReview cannot be reached.
    const deadPort = await freePort();
    await writeKubeconfig(path.join(dir, 'dead.kubeconfig'), {
      server: `https://127.0.0.1:${deadPort}`,
      caPem: servingCA.certPem,
      token: 'x',
      contextName: 'dead',
    });
    const config = parseConfig(
      [
        '--secure-port=0',
        `--tls-cert-file=${path.join(dir, 'secret', 'tls.crt')}`,
        `--tls-private-key-file=${path.join(dir, 'secret', 'tls.key')}`,
        `--client-ca-file=${path.join(dir, 'client-ca.crt')}`,
        `--requestheader-client-ca-file=${path.join(dir, 'front-proxy-ca.crt')}`,
        '--requestheader-allowed-names=front-proxy-client',
        `--authentication-kubeconfig=${path.join(dir, 'dead.kubeconfig')}`,
        '--delegate-auth=true',
        `--local-dir=${dir}`,
        '--shutdown-grace-seconds=1',
      ],
      {},
    );
    server = await startWidgetServer(config, pino({ level: 'silent' }));
  });

  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (method: string, p: string, creds?: Creds, body?: unknown) =>
    request(server.url, servingCA.certPem, method, p, creds, body);

  test('front-proxy headers are trusted with the front-proxy certificate and an allowed name', async () => {
    const proxy = issueClientCert(frontProxyCA, {
      commonName: 'front-proxy-client',
      organizations: [],
      validityMs: HOUR,
    });
    const r = await call('GET', `${NS}`, {
      cert: proxy.certPem,
      key: proxy.keyPem,
      // One header per group, as kube-apiserver's proxy sends them.
      headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': ['system:authenticated', 'system:masters'] },
    });
    expect(r.status).toBe(200);
    const wrongName = issueClientCert(frontProxyCA, {
      commonName: 'somebody',
      organizations: [],
      validityMs: HOUR,
    });
    const refused = await call('GET', NS, {
      cert: wrongName.certPem,
      key: wrongName.keyPem,
      headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' },
    });
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized' });
  });

  test('forged X-Remote headers without the front-proxy certificate are ignored', async () => {
    const forged = await call('GET', NS, {
      headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' },
    });
    // Anonymous, and the authorizer cannot be reached: never a pass.
    expect(forged.status).toBe(503);
    const client = issueClientCert(clientCA, {
      commonName: 'alice',
      organizations: ['devs'],
      validityMs: HOUR,
    });
    const asAlice = await call('GET', NS, {
      cert: client.certPem,
      key: client.keyPem,
      headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' },
    });
    expect(asAlice.status).toBe(503);
    expect(asAlice.json.message).toMatch(/authorization is unavailable/);
  });

  test('client certificates: right CA authenticates, wrong CA or expired does not', async () => {
    const master = issueClientCert(clientCA, {
      commonName: 'root',
      organizations: ['system:masters'],
      validityMs: HOUR,
    });
    expect((await call('GET', NS, { cert: master.certPem, key: master.keyPem })).status).toBe(200);
    const wrongCA = issueClientCert(otherCA, {
      commonName: 'root',
      organizations: ['system:masters'],
      validityMs: HOUR,
    });
    expect((await call('GET', NS, { cert: wrongCA.certPem, key: wrongCA.keyPem })).status).toBe(503);
    const expired = issueClientCert(clientCA, {
      commonName: 'root',
      organizations: ['system:masters'],
      validityMs: 60_000,
      now: new Date(Date.now() - 2 * HOUR),
    });
    expect((await call('GET', NS, { cert: expired.certPem, key: expired.keyPem })).status).toBe(503);
  });

  test('a keep-alive connection is verified once, yet its client certificate still expires on it', async () => {
    // UTCTime has whole seconds: this certificate's notAfter is 1-2 s from now.
    const shortLived = issueClientCert(clientCA, {
      commonName: 'root',
      organizations: ['system:masters'],
      validityMs: 1500,
    });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const onSocket = (req: import('node:http').ClientRequest) => req.on('socket', (s) => sockets.add(s));
    const get = () =>
      new Promise<number>((resolve, reject) => {
        const req = https.request(
          new URL(NS, server.url),
          { agent, ca: servingCA.certPem, cert: shortLived.certPem, key: shortLived.keyPem },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        onSocket(req);
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get()).toBe(200);
      expect(await get()).toBe(200);
      const notAfter = new Date(new X509Certificate(shortLived.certPem).validTo).getTime();
      await new Promise((r) => setTimeout(r, Math.max(0, notAfter - Date.now()) + 1100));
      // Anonymous now, and the authorizer cannot be reached: 503, on the very same connection.
      expect(await get()).toBe(503);
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  test('TLS renegotiation is refused, so a connection cannot swap its client certificate', async () => {
    const { hostname, port } = new URL(server.url);
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect(
        {
          host: hostname,
          port: Number(port),
          ca: servingCA.certPem,
          servername: 'localhost',
          maxVersion: 'TLSv1.2',
        },
        () => {
          const started = socket.renegotiate({ rejectUnauthorized: true }, (err) =>
            resolve(err ? `error: ${err.message}` : 'renegotiated'),
          );
          if (!started) resolve('not started');
        },
      );
      socket.on('error', (err) => resolve(`error: ${err.message}`));
      socket.on('close', () => resolve('closed'));
      // OpenSSL 3 answers a client's renegotiation with a warning alert that Node's client never reports.
      setTimeout(() => {
        resolve('no renegotiation within 3 s');
        socket.destroy();
      }, 3000);
    });
    expect(outcome).not.toBe('renegotiated');
  });

  test('a bearer token whose TokenReview cannot be made is refused with 503; health stays open', async () => {
    const r = await call('GET', NS, { headers: { Authorization: 'Bearer unknown-token' } });
    expect(r.status).toBe(503);
    expect(r.json.reason).toBe('ServiceUnavailable');
    const health = await call('GET', '/livez');
    expect(health.status).toBe(200);
  });

  test('certificate and key reload without a restart via the ..data symlink swap; a mismatched pair is rejected', async () => {
    const before = await servedCertificateSerial(server.url, servingCA.certPem);
    const next = issueServingCert(servingCA, {
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityMs: HOUR,
    });
    const secretDir = path.join(dir, 'secret');
    const second = path.join(secretDir, '..2026_01_01_v2');
    await mkdir(second);
    await writeFile(path.join(second, 'tls.crt'), next.certPem);
    await writeFile(path.join(second, 'tls.key'), next.keyPem);
    await symlink('..2026_01_01_v2', path.join(secretDir, '..data_tmp'));
    await rename(path.join(secretDir, '..data_tmp'), path.join(secretDir, '..data'));
    let after = before;
    for (let i = 0; i < 50 && after === before; i++) {
      await new Promise((r) => setTimeout(r, 200));
      after = await servedCertificateSerial(server.url, servingCA.certPem);
    }
    expect(after).not.toBe(before);
    // A key that does not match the certificate: the current pair keeps serving.
    const stray = issueServingCert(servingCA, {
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: [],
      validityMs: HOUR,
    });
    const third = path.join(secretDir, '..2026_01_01_v3');
    await mkdir(third);
    await writeFile(path.join(third, 'tls.crt'), stray.certPem);
    await writeFile(path.join(third, 'tls.key'), next.keyPem);
    await symlink('..2026_01_01_v3', path.join(secretDir, '..data_tmp'));
    await rename(path.join(secretDir, '..data_tmp'), path.join(secretDir, '..data'));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await servedCertificateSerial(server.url, servingCA.certPem)).toBe(after);
    const master = issueClientCert(clientCA, {
      commonName: 'root',
      organizations: ['system:masters'],
      validityMs: HOUR,
    });
    expect((await call('GET', NS, { cert: master.certPem, key: master.keyPem })).status).toBe(200);
  });
});

describe('standalone mode serves nothing unauthenticated', () => {
  test('anonymous requests are forbidden; the admin certificate works', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'widget-standalone-'));
    const server = await startWidgetServer(
      parseConfig(['--secure-port=0', `--local-dir=${dir}`, '--shutdown-grace-seconds=1'], {}),
      pino({ level: 'silent' }),
    );
    try {
      const ca = server.standalone!.caCertPem;
      const anon = await request(server.url, ca, 'GET', NS);
      expect(anon.status).toBe(403);
      expect(anon.json.message).toBe(
        'widgets.custom.example.com is forbidden: User "system:anonymous" cannot list resource "widgets" in API group "custom.example.com" in the namespace "default"',
      );
      const admin = await request(server.url, ca, 'GET', NS, {
        cert: server.standalone!.adminCertPem,
        key: server.standalone!.adminKeyPem,
      });
      expect(admin.status).toBe(200);
      expect((await request(server.url, ca, 'GET', '/readyz')).status).toBe(200);
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
