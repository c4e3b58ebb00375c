/**
 * The REST client both processes use to talk to kube-apiserver (client-config.ts says where and as
 * whom): paths, verbs, JSON, Status errors, server-side apply, and watch streams. One keep-alive agent
 * per client, so calls reuse their TLS connections as client-go's transport does. A thin layer on
 * purpose (docs/decisions/0002-own-kube-client.md): the operator writes every kind and status
 * subresources with server-side apply and preconditions; the Widget server posts reviews and watches
 * two kinds.
 */
import https from 'node:https';
import http from 'node:http';
import type { AppliedState } from './applied-state';
import type { KubeClientConfig } from './client-config';

const REQUEST_TIMEOUT_MS = 30_000;

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{
      uid: string;
      kind: string;
      name: string;
      apiVersion?: string;
      controller?: boolean;
    }>;
    deletionTimestamp?: string;
    finalizers?: string[];
    generation?: number;
  };
  [key: string]: unknown;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A failed call, carrying kube-apiserver's Status (code, reason, message). */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly status?: unknown,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** A non-2xx answer as a KubeApiError carrying kube-apiserver's Status (reason, message). */
function apiError(call: string, code: number, text: string): KubeApiError {
  const parsed = parseJson(text);
  const status = (parsed ?? {}) as { reason?: string; message?: string };
  return new KubeApiError(
    code,
    status.reason ?? http.STATUS_CODES[code] ?? 'Unknown',
    `${call}: ${code} ${status.message ?? text.slice(0, 300)}`,
    parsed,
  );
}

export const isNotFound = (e: unknown) => e instanceof KubeApiError && e.code === 404;
export const isConflict = (e: unknown) => e instanceof KubeApiError && e.code === 409;

/** Where a kind lives in the REST API. */
export interface ResourceRef {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

export function resourcePath(ref: ResourceRef, namespace?: string, name?: string): string {
  const prefix = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix}${ns}/${ref.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | undefined>;
  /** Aborts the call (also one already sent, or hung): the caller's deadline, e.g. the renew deadline. */
  signal?: AbortSignal;
  /** Socket inactivity bound for this call (default 30 s). */
  timeoutMs?: number;
}

export interface KubeRestOptions {
  /**
   * Asked before every write; false refuses it without sending. A replica that is no longer the
   * leader must not write even when the event loop ran late and its loss has not been handled yet.
   */
  mayWrite?: () => boolean;
  /** The field manager of create and apply. */
  fieldManager?: string;
  /** The largest answer read into memory (DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** The largest single watch event (DEFAULT_MAX_WATCH_EVENT_BYTES). */
  maxWatchEventBytes?: number;
  /** When set, applies that would change nothing are answered from it instead of sent (applied-state.ts). */
  applied?: AppliedState;
}

/**
 * What kube-apiserver answers is bounded too: a server (or a proxy in front of it) that sends without
 * end must not take the process's memory. A list page of 500 objects at etcd's 1.5 MiB object limit is
 * under 1 GiB only in theory; the informers here page at 500 over small kinds, so 256 MiB is generous.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
/** One watch event holds one object (etcd refuses more than 1.5 MiB), so 16 MiB is generous. */
export const DEFAULT_MAX_WATCH_EVENT_BYTES = 16 * 1024 * 1024;

/** One event of a watch stream; ERROR events carry a Status as `object`. */
export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeRest {
  private readonly server: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(
    private readonly config: KubeClientConfig,
    private readonly opts: KubeRestOptions = {},
  ) {
    this.server = config.server;
    const secure = config.server.protocol === 'https:';
    this.agent = secure
      ? new https.Agent({ ...config.tls, keepAlive: true })
      : new http.Agent({ keepAlive: true });
    this.transport = secure ? https : http;
  }

  /** Closes idle connections (the process is stopping). */
  close(): void {
    this.agent.destroy();
  }

  private options(method: string, url: URL, headers: http.OutgoingHttpHeaders, opts: RequestOptions) {
    const authorization = this.config.authorization();
    const options: https.RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: { ...headers, ...(authorization ? { Authorization: authorization } : {}) },
      agent: this.agent,
      timeout: opts.timeoutMs ?? REQUEST_TIMEOUT_MS,
      signal: opts.signal,
    };
    return options;
  }

  private url(path: string, query: RequestOptions['query']): URL {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    return url;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.url(path, opts.query);
    if (method !== 'GET' && this.opts.mayWrite && !this.opts.mayWrite()) {
      throw new Error(`${method} ${url.pathname}: refused, this replica is not the leader`);
    }
    opts.signal?.throwIfAborted();
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers = {
      Accept: 'application/json',
      ...(payload
        ? { 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': payload.length }
        : {}),
    };
    const options = this.options(method, url, headers, opts);
    return new Promise<T>((resolve, reject) => {
      const limit = this.opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
      const req = this.transport.request(options, (res) => {
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (c: Buffer) => {
          received += c.length;
          if (received > limit) {
            req.destroy(new Error(`${method} ${url.pathname}: the answer exceeds ${limit} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(parseJson(text) as T);
          else reject(apiError(`${method} ${url.pathname}`, code, text));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on('error', (err) => {
        const reason = opts.signal?.aborted ? (opts.signal.reason as unknown) : undefined;
        // Say which call was cut and why (a TimeoutError from AbortSignal.timeout, a renew deadline).
        if (reason === undefined) reject(err);
        else
          reject(
            new Error(
              `${method} ${url.pathname}: aborted: ${reason instanceof Error ? reason.message : String(reason)}`,
            ),
          );
      });
      req.end(payload);
    });
  }

  get<T extends KubeObject>(ref: ResourceRef, name: string, namespace?: string): Promise<T> {
    return this.request<T>('GET', resourcePath(ref, namespace, name));
  }

  async getOrUndefined<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(ref, name, namespace);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  list<T extends KubeObject>(
    ref: ResourceRef,
    opts: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', resourcePath(ref, opts.namespace), {
      query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
    });
  }

  /** Server-side apply; `subresource` addresses e.g. status. */
  async apply<T extends KubeObject>(
    ref: ResourceRef,
    object: KubeObject,
    opts: { fieldManager?: string; subresource?: string; force?: boolean } = {},
  ): Promise<T> {
    const name = object.metadata?.name;
    if (!name) throw new Error('apply needs metadata.name');
    const path =
      resourcePath(ref, object.metadata?.namespace, name) + (opts.subresource ? `/${opts.subresource}` : '');
    const query = {
      fieldManager: opts.fieldManager ?? this.opts.fieldManager,
      force: opts.force === false ? undefined : 'true',
    };
    const applied = this.opts.applied;
    const unchanged = applied?.unchanged(ref, path, object, query);
    if (unchanged) return unchanged as T;
    const result = await this.request<T>('PATCH', path, {
      body: object,
      contentType: 'application/apply-patch+yaml',
      query,
    });
    applied?.record(path, object, query, result);
    return result;
  }

  create<T extends KubeObject>(ref: ResourceRef, object: KubeObject): Promise<T> {
    return this.request<T>('POST', resourcePath(ref, object.metadata?.namespace), {
      body: object,
      query: { fieldManager: this.opts.fieldManager },
    });
  }

  async delete(
    ref: ResourceRef,
    name: string,
    namespace?: string,
    opts: { uid?: string; propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' } = {},
  ): Promise<boolean> {
    try {
      await this.request('DELETE', resourcePath(ref, namespace, name), {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: opts.propagationPolicy ?? 'Background',
          ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        },
      });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /**
   * Opens a watch (`watch=true` is added) and calls `onEvent` for each event of the stream. Resolves
   * when the stream ends cleanly (the server's timeout), or when `onEvent` returns 'stop' or `signal`
   * aborts; rejects on a non-2xx answer (a KubeApiError) or a broken stream.
   */
  watch<T = KubeObject>(
    path: string,
    query: RequestOptions['query'],
    onEvent: (event: WatchEvent<T>) => void | 'stop',
    signal?: AbortSignal,
  ): Promise<void> {
    const url = this.url(path, { ...query, watch: 'true' });
    // A watch is quiet for long stretches: its bound is the server-side timeoutSeconds plus slack.
    const serverTimeout = Number(query?.timeoutSeconds ?? 0) * 1000;
    const options = this.options(
      'GET',
      url,
      { Accept: 'application/json' },
      {
        signal,
        timeoutMs: serverTimeout ? serverTimeout + 30_000 : 0,
      },
    );
    const eventLimit = this.opts.maxWatchEventBytes ?? DEFAULT_MAX_WATCH_EVENT_BYTES;
    return new Promise<void>((resolve, reject) => {
      const req = this.transport.request(options, (res) => {
        const code = res.statusCode ?? 0;
        if (code < 200 || code >= 300) {
          const chunks: Buffer[] = [];
          let received = 0;
          res.on('data', (c: Buffer) => {
            received += c.length;
            if (received <= eventLimit) chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () =>
            reject(apiError(`watch ${url.pathname}`, code, Buffer.concat(chunks).toString('utf8'))),
          );
          return;
        }
        res.setEncoding('utf8');
        let buffered = '';
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let newline: number;
          while (!stopped && (newline = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (!line) continue;
            let verdict: void | 'stop';
            try {
              verdict = onEvent(JSON.parse(line) as WatchEvent<T>);
            } catch (err) {
              req.destroy(err instanceof Error ? err : new Error(String(err)));
              return;
            }
            if (verdict === 'stop') {
              stopped = true;
              req.destroy();
              resolve();
            }
          }
          // What stays buffered is one event in the making: bounded.
          if (!stopped && buffered.length > eventLimit) {
            req.destroy(new Error(`watch ${url.pathname}: an event exceeds ${eventLimit} characters`));
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => (stopped || signal?.aborted ? resolve() : reject(err)));
      });
      let stopped = false;
      req.on('timeout', () => req.destroy(new Error(`watch ${url.pathname}: no data in time`)));
      req.on('error', (err) => (stopped || signal?.aborted ? resolve() : reject(err)));
      req.end();
    });
  }
}
