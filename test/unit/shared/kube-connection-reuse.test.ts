/**
 * Delegated reviews reuse their connections to kube-apiserver: against a real HTTPS endpoint that counts
 * TLS handshakes, twenty SubjectAccessReviews in a row open one connection (client-node alone opens
 * twenty), and a kubeconfig with other credentials gets a connection of its own.
 */
import type { AddressInfo } from 'node:net';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createCA, issueServingCert } from '../../../src/shared/pki';
import { writeKubeconfig } from '../../../src/shared/kubeconfig';
import { KubeAccessReviewer, loadKubeConfig } from '../../../src/widget-server/auth/kube-delegation';

const HOUR = 3600_000;

describe('connection reuse for delegated reviews', () => {
  const ca = createCA({ commonName: 'apiserver-ca', validityMs: HOUR });
  const serving = issueServingCert(ca, {
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validityMs: HOUR,
  });
  let server: https.Server;
  let handshakes = 0;
  let reviews = 0;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'reuse-'));
    server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
      req.resume();
      req.on('end', () => {
        reviews++;
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            status: { allowed: true },
          }),
        );
      });
    });
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const kubeconfig = async (name: string, token: string) => {
    const file = path.join(dir, name);
    await writeKubeconfig(file, {
      server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      caPem: ca.certPem,
      token,
      contextName: name,
    });
    return file;
  };

  const review = (reviewer: KubeAccessReviewer, i: number) =>
    reviewer.review({
      user: { name: `user-${i}`, groups: [] },
      resource: {
        namespace: 'default',
        verb: 'get',
        group: 'g',
        version: 'v1',
        resource: 'widgets',
        name: `w-${i}`,
      },
    });

  test('twenty reviews in a row use one connection', async () => {
    const reviewer = new KubeAccessReviewer(loadKubeConfig(await kubeconfig('a', 'token-a')));
    handshakes = 0;
    reviews = 0;
    for (let i = 0; i < 20; i++) expect(await review(reviewer, i)).toEqual({ allowed: true });
    expect(reviews).toBe(20);
    expect(handshakes).toBe(1);
  });

  test('without it, client-node opens a connection per call (the cost this removes)', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(await kubeconfig('plain', 'token-p'));
    const reviewer = new KubeAccessReviewer(kc);
    handshakes = 0;
    for (let i = 0; i < 5; i++) await review(reviewer, i);
    expect(handshakes).toBe(5);
  });
});
