/**
 * A small REST client for kube-apiserver on top of the credentials @kubernetes/client-node resolves
 * (kubeconfig or in-cluster service account). Hand-written on purpose: the operator writes every kind,
 * and status subresources, with server-side apply and resourceVersion preconditions; client-node's
 * generic KubernetesObjectApi cannot address subresources and its typed APIs need one method per kind
 * plus per-call header middleware. This stays a thin layer: paths, verbs, JSON, Status errors.
 */
import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

export const FIELD_MANAGER = 'aggregator-operator';
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
    ownerReferences?: { uid: string; kind: string; name: string }[];
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
}

export interface KubeRestOptions {
  /**
   * Asked before every write; false refuses it without sending. A replica that is no longer the
   * leader must not write even when the event loop ran late and its loss has not been handled yet.
   */
  mayWrite?: () => boolean;
}

export class KubeRest {
  private server: URL;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: KubeRestOptions = {},
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(path, this.server);
    if (method !== 'GET' && this.opts.mayWrite && !this.opts.mayWrite()) {
      throw new Error(`${method} ${url.pathname}: refused, this replica is not the leader`);
    }
    opts.signal?.throwIfAborted();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const options: https.RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: {
        Accept: 'application/json',
        ...(payload
          ? { 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': payload.length }
          : {}),
      },
      timeout: REQUEST_TIMEOUT_MS,
      signal: opts.signal,
    };
    await this.kc.applyToHTTPSOptions(options);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = transport.request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) {
            resolve(parsed as T);
            return;
          }
          const status = (parsed ?? {}) as { reason?: string; message?: string };
          reject(
            new KubeApiError(
              code,
              status.reason ?? http.STATUS_CODES[code] ?? 'Unknown',
              `${method} ${url.pathname}: ${code} ${status.message ?? text.slice(0, 300)}`,
              parsed,
            ),
          );
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on('error', reject);
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
  apply<T extends KubeObject>(
    ref: ResourceRef,
    object: KubeObject,
    opts: { fieldManager?: string; subresource?: string; force?: boolean } = {},
  ): Promise<T> {
    const name = object.metadata?.name;
    if (!name) throw new Error('apply needs metadata.name');
    const path =
      resourcePath(ref, object.metadata?.namespace, name) + (opts.subresource ? `/${opts.subresource}` : '');
    return this.request<T>('PATCH', path, {
      body: object,
      contentType: 'application/apply-patch+yaml',
      query: {
        fieldManager: opts.fieldManager ?? FIELD_MANAGER,
        force: opts.force === false ? undefined : 'true',
      },
    });
  }

  create<T extends KubeObject>(ref: ResourceRef, object: KubeObject): Promise<T> {
    return this.request<T>('POST', resourcePath(ref, object.metadata?.namespace), {
      body: object,
      query: { fieldManager: FIELD_MANAGER },
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
}
