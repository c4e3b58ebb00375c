/**
 * A minimal HTTPS client for API-level tests: talks to a test server with its CA and admin client
 * certificate, returns status, headers and body, and can read a watch stream event by event.
 */
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { TestServer } from './widget-server';

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string | Buffer;
  contentType?: string;
  accept?: string;
  headers?: Record<string, string>;
}

export class ApiClient {
  constructor(private readonly server: TestServer) {}

  private open(method: string, path: string, options: RequestOptions): Promise<IncomingMessage> {
    const url = new URL(path, this.server.url);
    const creds = this.server.standalone!;
    const body =
      options.rawBody !== undefined
        ? options.rawBody
        : options.body !== undefined
          ? JSON.stringify(options.body)
          : undefined;
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      // Node sends DELETE bodies without framing unless the length is given; real clients always give it.
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    if (options.accept) headers.Accept = options.accept;
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        { method, headers, ca: creds.caCertPem, cert: creds.adminCertPem, key: creds.adminKeyPem },
        resolve,
      );
      req.on('error', reject);
      if (body !== undefined) req.end(body);
      else req.end();
    });
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const res = await this.open(method, path, options);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode ?? 0, headers: res.headers, text, json };
  }

  get(path: string, options?: RequestOptions) {
    return this.request('GET', path, options);
  }
  post(path: string, body: unknown, options: RequestOptions = {}) {
    return this.request('POST', path, { ...options, body });
  }
  put(path: string, body: unknown, options: RequestOptions = {}) {
    return this.request('PUT', path, { ...options, body });
  }
  patch(path: string, body: unknown, contentType: string, options: RequestOptions = {}) {
    return this.request('PATCH', path, { ...options, body, contentType });
  }
  delete(path: string, body?: unknown, options: RequestOptions = {}) {
    return this.request('DELETE', path, { ...options, body });
  }

  /** Opens a watch and yields parsed events until `stop()` or the server ends the stream. */
  async watch(path: string, options: RequestOptions = {}) {
    const res = await this.open('GET', path, options);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const events: any[] = [];
    let buffer = '';
    let ended = false;
    const waiters: Array<() => void> = [];
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buffer += d;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) events.push(JSON.parse(line));
      }
      for (const w of waiters.splice(0)) w();
    });
    res.on('end', () => {
      ended = true;
      for (const w of waiters.splice(0)) w();
    });
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      events,
      get ended() {
        return ended;
      },
      /** Resolves when at least `count` events arrived (or the stream ended). */
      waitForEvents(count: number, timeoutMs = 10000): Promise<typeof events> {
        return new Promise((resolve, reject) => {
          const timer = setTimeout(
            () =>
              reject(new Error(`expected ${count} events, got ${events.length}: ${JSON.stringify(events)}`)),
            timeoutMs,
          );
          const check = () => {
            if (events.length >= count || ended) {
              clearTimeout(timer);
              resolve(events);
            } else waiters.push(check);
          };
          check();
        });
      },
      waitForEnd(timeoutMs = 10000): Promise<void> {
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('watch did not end')), timeoutMs);
          const check = () => {
            if (ended) {
              clearTimeout(timer);
              resolve();
            } else waiters.push(check);
          };
          check();
        });
      },
      stop() {
        res.destroy();
      },
    };
  }
}

export function widget(
  name: string,
  spec: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: 'custom.example.com/v1',
    kind: 'Widget',
    metadata: { name, ...((extra.metadata as object) ?? {}) },
    spec: { image: 'nginx:1.27', replicas: 1, ...spec },
  };
}
