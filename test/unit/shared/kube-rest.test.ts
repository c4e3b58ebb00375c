/**
 * The shared kube client against a real HTTPS endpoint: calls reuse one connection, credentials come
 * from the kubeconfig as kubectl reads it (token file, client certificate files relative to the
 * kubeconfig, exec plugins refused), watch streams are split into events across chunk boundaries, and
 * the informer relists after a 410 ERROR event and reports what changed meanwhile, and answers and
 * watch events are bounded in size.
 */
import type { AddressInfo } from 'node:net';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import { createCA, issueClientCert, issueServingCert } from '../../../src/shared/pki';
import { kubeconfigFromFile } from '../../../src/shared/kube/client-config';
import { Informer, type ChangeType } from '../../../src/shared/kube/informer';
import { KubeApiError, KubeRest, type WatchEvent } from '../../../src/shared/kube/rest';
import { KubeAccessReviewer } from '../../../src/widget-server/auth/kube-delegation';

const HOUR = 3600_000;
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('shared kube client', () => {
  const ca = createCA({ commonName: 'apiserver-ca', validityMs: HOUR });
  const serving = issueServingCert(ca, {
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validityMs: HOUR,
  });
  const clientCA = createCA({ commonName: 'client-ca', validityMs: HOUR });
  const client = issueClientCert(clientCA, { commonName: 'op', organizations: ['g'], validityMs: HOUR });
  let server: https.Server;
  let handler: Handler = (_req, res) => res.end('{}');
  let handshakes = 0;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kube-rest-'));
    server = https.createServer(
      {
        cert: serving.certPem,
        key: serving.keyPem,
        ca: clientCA.certPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => handler(req, res),
    );
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const serverUrl = () => `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  /** A kubeconfig with files next to it, referenced by relative paths as kubectl allows. */
  const writeConfig = (name: string, user: Record<string, unknown>) => {
    writeFileSync(path.join(dir, 'ca.crt'), ca.certPem);
    const file = path.join(dir, `${name}.kubeconfig`);
    writeFileSync(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: serverUrl(), 'certificate-authority': 'ca.crt' } }],
        users: [{ name: 'u', user }],
        contexts: [{ name: name, context: { cluster: 'c', user: 'u' } }],
        'current-context': name,
      }),
    );
    return file;
  };

  test('twenty SubjectAccessReviews in a row use one connection, with the token file as bearer', async () => {
    writeFileSync(path.join(dir, 'token'), 'file-token\n');
    const seen: Array<string | undefined> = [];
    handler = (req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ status: { allowed: true } })));
    };
    const rest = new KubeRest(kubeconfigFromFile(writeConfig('token', { tokenFile: 'token' })));
    const reviewer = new KubeAccessReviewer(rest);
    handshakes = 0;
    for (let i = 0; i < 20; i++) {
      const decision = await reviewer.review({
        user: { name: `user-${i}`, groups: [] },
        resource: {
          namespace: 'ns',
          verb: 'get',
          group: 'g',
          version: 'v1',
          resource: 'widgets',
          name: `w-${i}`,
        },
      });
      expect(decision).toEqual({ allowed: true, reason: undefined });
    }
    expect(seen).toHaveLength(20);
    expect(new Set(seen)).toEqual(new Set(['Bearer file-token']));
    expect(handshakes).toBe(1);
    rest.close();
  });

  test('client certificate and key files relative to the kubeconfig are presented', async () => {
    writeFileSync(path.join(dir, 'client.crt'), client.certPem);
    writeFileSync(path.join(dir, 'client.key'), client.keyPem);
    handler = (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.end(
        JSON.stringify({
          cn: peer.subject?.CN,
          authorized: (req.socket as import('node:tls').TLSSocket).authorized,
        }),
      );
    };
    const rest = new KubeRest(
      kubeconfigFromFile(
        writeConfig('cert', { 'client-certificate': 'client.crt', 'client-key': 'client.key' }),
      ),
    );
    expect(await rest.request('GET', '/whoami')).toEqual({ cn: 'op', authorized: true });
    rest.close();
  });

  test('exec plugins are refused with a message that says what to use instead', () => {
    const file = writeConfig('exec', {
      exec: { command: 'aws', apiVersion: 'client.authentication.k8s.io/v1' },
    });
    expect(() => kubeconfigFromFile(file)).toThrow(
      /exec plugin or auth provider.*client certificates or a token/,
    );
  });

  test('a watch stream is split into events across chunk boundaries; a 410 answer is a KubeApiError', async () => {
    handler = (req, res) => {
      if (req.url?.includes('resourceVersion=1')) {
        res.statusCode = 410;
        res.end(
          JSON.stringify({
            kind: 'Status',
            reason: 'Expired',
            message: 'too old resource version: 1',
            code: 410,
          }),
        );
        return;
      }
      res.setHeader('Content-Type', 'application/json');
      const lines =
        JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5' } } }) +
        '\n' +
        JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '6' } } }) +
        '\n';
      // Split mid-line, as a proxy may.
      res.write(lines.slice(0, 17));
      setTimeout(() => res.end(lines.slice(17)), 20);
    };
    const rest = new KubeRest(kubeconfigFromFile(writeConfig('watch', { token: 't' })));
    const events: WatchEvent[] = [];
    await rest.watch('/api/v1/things', { resourceVersion: '4' }, (e) => {
      events.push(e);
    });
    expect(events.map((e) => [e.type, e.object.metadata?.resourceVersion])).toEqual([
      ['ADDED', '5'],
      ['BOOKMARK', '6'],
    ]);
    const gone = await rest
      .watch('/api/v1/things', { resourceVersion: '1' }, () => undefined)
      .catch((e) => e);
    expect(gone).toBeInstanceOf(KubeApiError);
    expect((gone as KubeApiError).code).toBe(410);
    rest.close();
  });

  test('answers and watch events beyond their bounds fail the call instead of filling memory', async () => {
    handler = (req, res) => {
      res.setHeader('Content-Type', 'application/json');
      // Without end: a list answer, or a watch event that never reaches its newline.
      const pump = () => {
        if (res.destroyed) return;
        res.write('x'.repeat(4096), () => setImmediate(pump));
      };
      res.write(req.url?.includes('watch=true') ? '{"type":"ADDED","object":{"a":"' : '{"items":["');
      pump();
    };
    const rest = new KubeRest(kubeconfigFromFile(writeConfig('bounded', { token: 't' })), {
      maxResponseBytes: 64 * 1024,
      maxWatchEventBytes: 64 * 1024,
    });
    await expect(rest.request('GET', '/api/v1/things')).rejects.toThrow(
      'GET /api/v1/things: the answer exceeds 65536 bytes',
    );
    const events: WatchEvent[] = [];
    await expect(rest.watch('/api/v1/things', {}, (e) => void events.push(e))).rejects.toThrow(
      'watch /api/v1/things: an event exceeds 65536 characters',
    );
    expect(events).toEqual([]);
    rest.close();
  });

  test('the informer relists after a 410 ERROR event and reports adds, updates and deletes', async () => {
    let lists = 0;
    handler = (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      res.setHeader('Content-Type', 'application/json');
      if (url.searchParams.get('watch') !== 'true') {
        lists++;
        const items =
          lists === 1
            ? [
                { metadata: { name: 'a', resourceVersion: '1' } },
                { metadata: { name: 'b', resourceVersion: '2' } },
              ]
            : [
                { metadata: { name: 'b', resourceVersion: '7' } },
                { metadata: { name: 'c', resourceVersion: '8' } },
              ];
        res.end(JSON.stringify({ metadata: { resourceVersion: lists === 1 ? '2' : '8' }, items }));
        return;
      }
      if (lists === 1) {
        res.end(
          JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }) + '\n',
        );
        return;
      }
      // The second watch stays open until the informer stops.
      res.write('');
    };
    const rest = new KubeRest(kubeconfigFromFile(writeConfig('informer', { token: 't' })));
    const changes: Array<[ChangeType, string | undefined]> = [];
    const informer = new Informer(rest, { path: '/api/v1/things', name: 'Thing' }, pino({ level: 'silent' }));
    informer.on((type, obj) => changes.push([type, obj.metadata?.name]));
    informer.start();
    try {
      await informer.synced;
      const deadline = Date.now() + 5000;
      while (lists < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 50));
      expect(changes).toEqual([
        ['add', 'a'],
        ['add', 'b'],
        ['update', 'b'],
        ['add', 'c'],
        ['delete', 'a'],
      ]);
      expect(
        informer
          .list()
          .map((o) => o.metadata?.name)
          .sort(),
      ).toEqual(['b', 'c']);
    } finally {
      informer.stop();
      rest.close();
    }
  });

  test('a watch the server closes at once with no events is retried with backoff, not at once', async () => {
    let watches = 0;
    handler = (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      res.setHeader('Content-Type', 'application/json');
      if (url.searchParams.get('watch') === 'true') watches++;
      // Lists answer; every watch ends at once, empty (a misbehaving proxy or a server shutting down).
      res.end(
        url.searchParams.get('watch') === 'true'
          ? ''
          : JSON.stringify({ metadata: { resourceVersion: '5' }, items: [] }),
      );
    };
    const rest = new KubeRest(kubeconfigFromFile(writeConfig('short', { token: 't' })));
    const informer = new Informer(rest, { path: '/api/v1/things', name: 'Thing' }, pino({ level: 'silent' }));
    informer.start();
    try {
      await informer.synced;
      await new Promise((r) => setTimeout(r, 1500));
      // Without the very-short-watch rule this is hundreds of watches in 1.5 s.
      expect(watches).toBeGreaterThanOrEqual(1);
      expect(watches).toBeLessThanOrEqual(3);
    } finally {
      informer.stop();
      rest.close();
    }
  });
});
