/**
 * A real HTTPS admission webhook server for the webhook plugin tests, on 127.0.0.1 with a CA of its own
 * (its bundle is what a configuration's caBundle names). It records every AdmissionReview it receives
 * with the request's path, and answers with what `respond` returns for it: a response (uid filled in)
 * after an optional delay, or a raw body.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCA, issueServingCert } from '../../../src/shared/pki';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Review = Record<string, any>;

export type WebhookAnswer =
  { response: Record<string, unknown>; delayMs?: number } | { raw: string } | { status: number };

export interface TestWebhookServer {
  /** https://127.0.0.1:<port> */
  base: string;
  /** The server's CA, base64, as a caBundle. */
  caBundle: string;
  /** What it was sent: the path, the query (`?timeout=...`) and the review. */
  received: Array<{ path: string; query: string; review: Review }>;
  close(): Promise<void>;
}

const HOUR = 3600_000;

export async function startWebhookServer(
  respond: (path: string, query: URLSearchParams, review: Review) => WebhookAnswer,
): Promise<TestWebhookServer> {
  const ca = createCA({ commonName: 'webhook-ca', validityMs: HOUR });
  const serving = issueServingCert(ca, {
    commonName: 'webhook',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validityMs: HOUR,
  });
  const received: TestWebhookServer['received'] = [];
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString()) as Review;
      const url = new URL(req.url ?? '/', 'https://webhook');
      received.push({ path: url.pathname, query: url.search, review });
      const answer = respond(url.pathname, url.searchParams, review);
      if ('status' in answer) {
        res.statusCode = answer.status;
        return res.end();
      }
      if ('raw' in answer) return res.end(answer.raw);
      const body = JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: review.request.uid, ...answer.response },
      });
      if (answer.delayMs) setTimeout(() => res.end(body), answer.delayMs);
      else res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caBundle: Buffer.from(ca.certPem).toString('base64'),
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
