/**
 * The non-resource endpoints an extension API server must answer: discovery (aggregated v2 with ETag and
 * 304, legacy APIGroupList/APIGroup/APIResourceList), OpenAPI v2 and v3 (ETag, hash-addressed v3 without
 * redirects), /version, and the health endpoints /healthz, /livez and /readyz with named checks.
 * Documents are built once at start-up: they depend only on the served API identity.
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { ServingLifecycle } from './lifecycle';
import { ApiError, notAcceptable } from '../../shared/status-errors';
import { aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, versionInfo } from '../api/discovery';
import { openApiV2, openApiV3GroupVersion, openApiV3Root } from '../api/openapi';
import { openApiV2Protobuf } from '../api/openapi-v2-protobuf';
import type { ServedApi } from '../api/types';
import type { ServedResource } from '../registry/registries';
import { mediaTypeParams } from './negotiation';

export const DISCOVERY_V2_CONTENT_TYPE =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const DISCOVERY_V2BETA1_CONTENT_TYPE =
  'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

interface CachedDocument {
  body: string | Buffer;
  etag: string;
  hash: string;
}

function cached(doc: unknown): CachedDocument {
  return cachedBody(JSON.stringify(doc));
}

function cachedBody(body: string | Buffer): CachedDocument {
  const hash = createHash('sha512').update(body).digest('hex').toUpperCase();
  return { body, etag: `"${hash}"`, hash };
}

/** The protobuf form's media type, as kube-openapi returns it (it also accepts the older `@v1.0` form). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
/** What /openapi/v2 serves, in kube-openapi's order of preference: JSON, then protobuf. */
const OPENAPI_V2_FORMATS: Array<{ subtype: string; format: 'json' | 'protobuf' }> = [
  { subtype: 'json', format: 'json' },
  { subtype: 'com.github.proto-openapi.spec.v2@v1.0+protobuf', format: 'protobuf' },
  { subtype: 'com.github.proto-openapi.spec.v2.v1.0+protobuf', format: 'protobuf' },
];

export type HealthCheck = () => Promise<void> | void;

export interface PlatformRoutesOptions {
  /** The group and its served versions, preferred first. */
  api: ServedApi;
  /** The kinds served, and in which versions (the storage map's view). */
  kinds: ServedResource[];
  /** Named readiness checks beyond the built-in ones; each throws when not ready. */
  readinessChecks: Record<string, HealthCheck>;
  /** Graceful shutdown's phase: /readyz fails once shutdown is requested. */
  lifecycle: ServingLifecycle;
  livenessChecks: Record<string, HealthCheck>;
}

const notFoundError = () =>
  new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});

export class PlatformRoutes {
  private readonly discoveryV2: CachedDocument;
  private readonly discoveryV2beta1: CachedDocument;
  private readonly groupList: string;
  private readonly group: string;
  /** Per served version: its APIResourceList and its OpenAPI v3 document, by request path. */
  private readonly resourceLists = new Map<string, string>();
  private readonly openapiV3GroupVersions = new Map<string, CachedDocument>();
  private readonly version: string;
  private readonly openapiV2: CachedDocument;
  private readonly openapiV2Protobuf: CachedDocument;
  private readonly openapiV3Root: CachedDocument;

  constructor(private readonly options: PlatformRoutesOptions) {
    const api = options.api;
    const kinds = options.kinds;
    const discovery = aggregatedDiscovery(api, kinds) as Record<string, unknown>;
    this.discoveryV2 = cached(discovery);
    this.discoveryV2beta1 = cached({ ...discovery, apiVersion: 'apidiscovery.k8s.io/v2beta1' });
    this.groupList = JSON.stringify(apiGroupList(api));
    this.group = JSON.stringify(apiGroup(api));
    const hashes: Record<string, string> = {};
    for (const version of api.versions) {
      const id = { group: api.group, version };
      this.resourceLists.set(`/apis/${api.group}/${version}`, JSON.stringify(apiResourceList(id, kinds)));
      const doc = cached(openApiV3GroupVersion(id, kinds));
      this.openapiV3GroupVersions.set(`/openapi/v3/apis/${api.group}/${version}`, doc);
      hashes[version] = doc.hash;
    }
    this.version = JSON.stringify(versionInfo());
    const v2 = openApiV2(api, kinds);
    this.openapiV2 = cached(v2);
    this.openapiV2Protobuf = cachedBody(openApiV2Protobuf(v2));
    this.openapiV3Root = cached(openApiV3Root(api, hashes));
  }

  /** Answers the path if it is a platform endpoint; returns false when it is not ours. */
  async handle(req: Request, res: Response): Promise<boolean> {
    const path = req.path.replace(/\/+$/, '') || '/';
    const { group } = this.options.api;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (this.isPlatformPath(path))
        throw new ApiError(
          405,
          'MethodNotAllowed',
          `the server does not allow this method on the requested resource`,
        );
      return false;
    }
    switch (path) {
      case '/apis':
        this.serveApis(req, res);
        return true;
      case `/apis/${group}`:
        this.sendJson(res, this.group);
        return true;
      case '/version':
        this.sendJson(res, this.version);
        return true;
      case '/api':
        // An extension server has no legacy core group; k8s.io/apiserver leaves /api unregistered.
        throw notFoundError();
      case '/openapi/v2':
        this.serveOpenApiV2(req, res);
        return true;
      case '/openapi/v3':
        this.serveCached(req, res, this.openapiV3Root, 'application/json', false);
        return true;

      case '/healthz':
        await this.serveHealth(
          req,
          res,
          { ...this.options.livenessChecks, ...this.options.readinessChecks },
          'healthz',
        );
        return true;
      case '/livez':
        await this.serveHealth(req, res, this.options.livenessChecks, 'livez');
        return true;
      case '/readyz':
        await this.serveHealth(
          req,
          res,
          {
            ...this.options.readinessChecks,
            shutdown: () => {
              if (this.options.lifecycle.shutdownRequested) throw new Error('process is shutting down');
            },
          },
          'readyz',
        );
        return true;
      default: {
        const resourceList = this.resourceLists.get(path);
        if (resourceList) {
          this.sendJson(res, resourceList);
          return true;
        }
        const v3 = this.openapiV3GroupVersions.get(path);
        if (v3) {
          this.serveCached(req, res, v3, 'application/json', req.query.hash === v3.hash);
          return true;
        }
        if (path.startsWith('/openapi/v3/')) throw notFoundError();
        if (/^\/(healthz|livez|readyz)\/[^/]+$/.test(path)) {
          await this.serveSingleCheck(path, res);
          return true;
        }
        return false;
      }
    }
  }

  private isPlatformPath(path: string): boolean {
    return [
      '/apis',
      '/version',
      '/api',
      '/openapi/v2',
      '/openapi/v3',
      '/healthz',
      '/livez',
      '/readyz',
    ].includes(path);
  }

  private sendJson(res: Response, body: string): void {
    res.status(200).type('application/json').send(body);
  }

  private serveApis(req: Request, res: Response): void {
    res.setHeader('Vary', 'Accept');
    for (const { type, params } of mediaTypeParams(req.headers.accept)) {
      if (
        type !== 'application/json' ||
        params.g !== 'apidiscovery.k8s.io' ||
        params.as !== 'APIGroupDiscoveryList'
      ) {
        continue;
      }
      if (params.v === 'v2' || params.v === 'v2beta1') {
        const doc = params.v === 'v2' ? this.discoveryV2 : this.discoveryV2beta1;
        const contentType = params.v === 'v2' ? DISCOVERY_V2_CONTENT_TYPE : DISCOVERY_V2BETA1_CONTENT_TYPE;
        res.setHeader('ETag', doc.etag);
        res.setHeader('Cache-Control', 'public');
        if (req.headers['if-none-match'] === doc.etag) {
          res.status(304).end();
          return;
        }
        res.status(200).setHeader('Content-Type', contentType);
        res.end(doc.body);
        return;
      }
    }
    this.sendJson(res, this.groupList);
  }

  /** JSON or protobuf, by the first Accept clause (highest q first) that names one; 406 when none does. */
  private serveOpenApiV2(req: Request, res: Response): void {
    const clauses = mediaTypeParams(req.headers.accept);
    for (const { type } of clauses.length ? clauses : [{ type: '*/*' }]) {
      const [major, minor] = type.split('/');
      if (major !== 'application' && major !== '*') continue;
      const match = OPENAPI_V2_FORMATS.find((f) => minor === '*' || minor === f.subtype);
      if (!match) continue;
      if (match.format === 'json')
        this.serveCached(req, res, this.openapiV2, 'application/json', false, true);
      else this.serveCached(req, res, this.openapiV2Protobuf, OPENAPI_V2_PROTOBUF, false, true);
      return;
    }
    throw notAcceptable([
      'application/json',
      ...OPENAPI_V2_FORMATS.filter((f) => f.format === 'protobuf').map((f) => `application/${f.subtype}`),
    ]);
  }

  private serveCached(
    req: Request,
    res: Response,
    doc: CachedDocument,
    type: string,
    immutable: boolean,
    /** The caller has matched the Accept header already. */
    negotiated = false,
  ): void {
    const accept = mediaTypeParams(req.headers.accept);
    if (
      !negotiated &&
      accept.length &&
      !accept.some((a) => a.type === 'application/json' || a.type === '*/*' || a.type === 'application/*')
    ) {
      throw notAcceptable(['application/json']);
    }
    res.setHeader('ETag', doc.etag);
    res.setHeader('Vary', 'Accept');
    if (immutable) {
      res.setHeader('Cache-Control', 'public, immutable');
      res.setHeader('Expires', new Date(Date.now() + 365 * 24 * 3600 * 1000).toUTCString());
    } else {
      res.setHeader('Cache-Control', 'no-cache, private');
    }
    if (req.headers['if-none-match'] === doc.etag) {
      res.status(304).end();
      return;
    }
    res.status(200).setHeader('Content-Type', type);
    res.end(doc.body);
  }

  private async runChecks(
    checks: Record<string, HealthCheck>,
  ): Promise<Array<{ name: string; error?: string }>> {
    return Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await check();
          return { name };
        } catch (e) {
          return { name, error: e instanceof Error ? e.message : String(e) };
        }
      }),
    );
  }

  private async serveHealth(req: Request, res: Response, checks: Record<string, HealthCheck>, kind: string) {
    const results = await this.runChecks({ ping: () => undefined, ...checks });
    const failed = results.filter((r) => r.error);
    const verbose = req.query.verbose !== undefined;
    res.type('text/plain; charset=utf-8');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (!failed.length && !verbose) {
      res.status(200).send('ok');
      return;
    }
    const lines = results.map((r) => (r.error ? `[-]${r.name} failed: reason withheld` : `[+]${r.name} ok`));
    lines.push(failed.length ? `${kind} check failed` : `${kind} check passed`);
    res.status(failed.length ? 500 : 200).send(lines.join('\n') + '\n');
  }

  private async serveSingleCheck(path: string, res: Response) {
    const [, kind, name] = path.split('/');
    const checks: Record<string, HealthCheck> =
      kind === 'livez'
        ? this.options.livenessChecks
        : { ...this.options.livenessChecks, ...this.options.readinessChecks };
    const check = name === 'ping' ? () => undefined : checks[name];
    if (!check) throw notFoundError();
    const [result] = await this.runChecks({ [name]: check });
    res.type('text/plain; charset=utf-8');
    if (result.error) res.status(500).send(`internal server error: ${result.error}\n`);
    else res.status(200).send('ok');
  }
}
