/**
 * Raw TLS connections to a test server for attack tests that need control below an HTTP client: slow
 * or partial requests, HTTP/1.0, oversized headers, connections that never read. Also a timed GET used to
 * state how responsive the server stays while under attack, and a metrics reader.
 */
import https from 'node:https';
import tls from 'node:tls';
import type { TestServer } from './widget-server';

export interface RawConnection {
  socket: tls.TLSSocket;
  /** Everything received so far. */
  received(): string;
  /** Resolves with everything received once the server closes the connection. */
  closed: Promise<{ data: string; atMs: number }>;
  openedAt: number;
}

export function connect(server: TestServer, withClientCert = true): Promise<RawConnection> {
  const { hostname, port } = new URL(server.url);
  const creds = server.standalone!;
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: hostname,
        port: Number(port),
        ca: creds.caCertPem,
        servername: 'localhost',
        ...(withClientCert ? { cert: creds.adminCertPem, key: creds.adminKeyPem } : {}),
      },
      () => {
        socket.off('error', reject);
        resolve(conn);
      },
    );
    let data = '';
    const openedAt = Date.now();
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    const closed = new Promise<{ data: string; atMs: number }>((res) => {
      socket.on('close', () => res({ data, atMs: Date.now() - openedAt }));
    });
    socket.once('error', reject);
    socket.on('error', () => undefined);
    const conn: RawConnection = { socket, received: () => data, closed, openedAt };
  });
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses the first HTTP response in raw bytes (a Content-Length body, or all that follows). */
export function parseResponse(raw: string): ParsedResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, end).split('\r\n');
  const status = Number(head[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.slice(end + 4);
  if (headers['content-length']) body = body.slice(0, Number(headers['content-length']));
  return { status, headers, body };
}

/** A GET with the admin credentials on a fresh connection: its status and how long it took. */
export function timedGet(
  server: TestServer,
  path: string,
): Promise<{ status: number; ms: number; body: string }> {
  const creds = server.standalone!;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = https.get(
      new URL(path, server.url),
      { ca: creds.caCertPem, cert: creds.adminCertPem, key: creds.adminKeyPem, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - started, body }));
      },
    );
    req.on('error', reject);
  });
}

/** The value of one Prometheus sample from /metrics, 0 when absent. */
export async function metricValue(server: TestServer, name: string, labels: Record<string, string>) {
  const { body } = await timedGet(server, '/metrics');
  for (const line of body.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
