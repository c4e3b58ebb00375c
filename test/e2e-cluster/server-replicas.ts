/**
 * Requests sent to each replica of the sample's server directly, the way kube-apiserver's aggregator sends
 * them: over TLS checked against the APIService's caBundle for the Service's name, with the bed's
 * front-proxy client certificate and the user in X-Remote-* headers.
 *
 * Why: through kube-apiserver a request reaches one replica, whichever the connection kube-proxy picked
 * leads to. A test that waits for the server to see something its informers watch (a webhook
 * configuration, a policy, a namespace's phase) must wait for every replica, or the request it then
 * checks may reach one that has not seen it yet. CI saw exactly that: a probe was denied by one replica
 * and the create after it was let through by the other.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { clusterDir, eventually, k } from './cluster';

const SAMPLE_NS = 'widgets-system';
const SAMPLE_SERVICE = 'widgets-apiserver';
const SAMPLE_APISERVICE = 'v1.custom.example.com';

export interface RequestAs {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path and query, as the aggregator forwards them (`/apis/custom.example.com/v1/...`). */
  path: string;
  body?: unknown;
  /** Who kube-apiserver authenticated; the bed's admin (system:masters) unless given. */
  user?: { name: string; groups: string[] };
}

export interface ReplicaReply {
  /** The replica's address and port. */
  address: string;
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  /** Each Warning header's text. */
  warnings: string[];
}

const ADMIN = { name: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };

/** The ready endpoints of the sample's Service: the replicas kube-apiserver may send a request to. */
async function readyReplicas(): Promise<string[]> {
  const slices = JSON.parse(
    await k([
      '-n',
      SAMPLE_NS,
      'get',
      'endpointslices',
      '-l',
      `kubernetes.io/service-name=${SAMPLE_SERVICE}`,
      '-o',
      'json',
    ]),
  ) as {
    items: Array<{
      endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }>;
      ports?: Array<{ name?: string; port?: number }>;
    }>;
  };
  const out: string[] = [];
  for (const slice of slices.items) {
    const port = slice.ports?.find((p) => p.name === 'https')?.port;
    if (!port) continue;
    for (const e of slice.endpoints ?? []) {
      if (e.conditions?.ready !== false) out.push(`${e.addresses[0]}:${port}`);
    }
  }
  return out;
}

async function caBundle(): Promise<Buffer> {
  const b64 = await k(['get', 'apiservice', SAMPLE_APISERVICE, '-o', 'jsonpath={.spec.caBundle}']);
  return Buffer.from(b64.trim(), 'base64');
}

/** What kube-apiserver's aggregator presents: the serving CA to trust and its front-proxy client pair. */
interface ProxyCredentials {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

function send(address: string, creds: ProxyCredentials, req: RequestAs): Promise<ReplicaReply> {
  const [host, port] = address.split(':');
  const user = req.user ?? ADMIN;
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  return new Promise((resolve, reject) => {
    const r = https.request(
      {
        host,
        port: Number(port),
        method: req.method,
        path: req.path,
        ca: creds.ca,
        servername: `${SAMPLE_SERVICE}.${SAMPLE_NS}.svc`,
        cert: creds.cert,
        key: creds.key,
        timeout: 10_000,
        headers: {
          Accept: 'application/json',
          'X-Remote-User': user.name,
          'X-Remote-Group': user.groups,
          ...(payload
            ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          const warnings: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            if (res.rawHeaders[i].toLowerCase() === 'warning') warnings.push(res.rawHeaders[i + 1]);
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // Not JSON: kept as text.
          }
          resolve({ address, status: res.statusCode ?? 0, body, warnings });
        });
      },
    );
    r.on('timeout', () => r.destroy(new Error(`${address}: no answer within 10 s`)));
    r.on('error', reject);
    r.end(payload);
  });
}

/** Sends `req` to every ready replica of the sample's server; one reply each. */
export async function toEachReplica(req: RequestAs): Promise<ReplicaReply[]> {
  const [addresses, ca] = await Promise.all([readyReplicas(), caBundle()]);
  if (!addresses.length) throw new Error(`${SAMPLE_NS}/${SAMPLE_SERVICE} has no ready endpoints`);
  const pki = path.join(clusterDir, 'pki');
  const creds = {
    ca,
    cert: readFileSync(path.join(pki, 'front-proxy-client.crt')),
    key: readFileSync(path.join(pki, 'front-proxy-client.key')),
  };
  return Promise.all(addresses.map((a) => send(a, creds, req)));
}

/** Waits until every ready replica's reply to `req` is one `accepted` takes (within `ms`). */
export async function untilEveryReplica(
  what: string,
  req: RequestAs,
  accepted: (reply: ReplicaReply) => boolean,
  ms = 60_000,
): Promise<void> {
  let last: ReplicaReply[] = [];
  await eventually(
    `every server replica ${what}`,
    async () => {
      last = await toEachReplica(req);
      return last.every(accepted);
    },
    ms,
  ).catch((e: Error) => {
    const seen = last.map((r) => `${r.address}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    throw new Error(`${e.message}\nlast replies:\n${seen.join('\n')}`);
  });
}

/** A server-side dry run of creating `body` in `namespace`: what a probe sends. */
export function dryRunCreate(namespace: string, body: object, user?: RequestAs['user']): RequestAs {
  return {
    method: 'POST',
    path: `/apis/custom.example.com/v1/namespaces/${namespace}/widgets?dryRun=All`,
    body,
    user,
  };
}

/** The message of a refusal's Status ('' for anything else). */
export const messageOf = (reply: ReplicaReply): string =>
  typeof reply.body?.message === 'string' && reply.body.kind === 'Status' ? reply.body.message : '';
