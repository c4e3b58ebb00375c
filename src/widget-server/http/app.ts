/**
 * Assembles the Widget server's express application: request ids, structured access logs, request
 * metrics in kube-apiserver's names, the in-flight gauge, platform endpoints, the widgets resource, and
 * a final handler that turns every failure into a Kubernetes Status. Authentication and authorization
 * plug in as an optional filter in front of both.
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ApiError } from '../../shared/status-errors';
import type { ApiRegistries } from '../registry/registries';
import { enterDeadline, StorageTimeoutError } from '../storage/deadline';
import { ValueTooLargeError } from '../storage/storage';
import { DEFAULT_MAX_BODY_BYTES } from './body';
import { isHeavyList, type InflightLimiter, type InflightSlot } from './inflight';
import { DRAINING_RETRY_AFTER_SECONDS, ServingLifecycle } from './lifecycle';
import { PlatformRoutes, type HealthCheck } from './platform-routes';
import { parseRequestInfo, type RequestInfo } from './request-info';
import { ResourceHandler } from './resource-handler';
import { writeStatus } from './responses';
import { armRequestDeadline, requestTimeoutError, requestTimeoutMs } from './timeouts';

/** What the app reports about each request; implemented over prom-client by the caller. */
export interface RequestMetrics {
  observe(info: RequestInfo, code: number, seconds: number, dryRun: boolean): void;
  inflight(kind: 'readOnly' | 'mutating', delta: 1 | -1): void;
  watchers(delta: 1 | -1, version: string, resource: string): void;
}

/** Runs before any handler; throws an ApiError (401/403/503) to refuse the request. */
export type RequestFilter = (req: Request, info: RequestInfo) => Promise<void>;

export interface AppOptions {
  /** The storage map: which registry serves each group, version and resource. */
  registries: ApiRegistries;
  logger: Logger;
  metricsRegistry: Registry;
  metrics: RequestMetrics;
  readinessChecks: Record<string, HealthCheck>;
  livenessChecks?: Record<string, HealthCheck>;
  maxBodyBytes?: number;
  filter?: RequestFilter;
  /** --max-requests-inflight and friends; absent: no limit. */
  inflight?: InflightLimiter;
  /** --request-timeout in milliseconds for requests that are not long-running; absent or 0: none. */
  requestTimeoutMs?: number;
  /** --max-watch-pending-bytes: a watcher further behind than this is closed. */
  maxWatchPendingBytes?: number;
  /** Counts a watcher closed for falling behind (apiserver_terminated_watchers_total). */
  onWatcherTerminated?: (resource: string) => void;
}

export interface WidgetApp {
  app: express.Express;
  platform: PlatformRoutes;
  /** Graceful shutdown's phase (lifecycle.ts), moved on by the listener's shutdown (server.ts). */
  lifecycle: ServingLifecycle;
}

const READ_ONLY_VERBS = new Set(['get', 'list', 'watch']);
/** Probes must answer under any load: they take no in-flight slot (and are not access-logged). */
const HEALTH_PATH = /^\/(healthz|livez|readyz)(\/|$)/;

/** kube-apiserver's answer after its shutdown delay (filters/with_retry_after.go). */
function shuttingDownError(): ApiError {
  return new ApiError(429, 'TooManyRequests', 'The apiserver is shutting down, please try again later.', {
    retryAfterSeconds: DRAINING_RETRY_AFTER_SECONDS,
  });
}

export function createApp(options: AppOptions): WidgetApp {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Handlers read the query through RequestInfo.query (one parse for authorization and serving);
  // express's own parse stays the plain one for the platform routes.
  app.set('query parser', 'simple');

  const lifecycle = new ServingLifecycle();
  const platform = new PlatformRoutes({
    lifecycle,
    api: { group: options.registries.group, versions: options.registries.versions },
    kinds: options.registries.served(),
    readinessChecks: options.readinessChecks,
    livenessChecks: options.livenessChecks ?? {},
  });
  const resources = new ResourceHandler({
    registries: options.registries,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    onWatch: (delta, version, resource) => options.metrics.watchers(delta, version, resource),
    maxWatchPendingBytes: options.maxWatchPendingBytes,
    onWatcherTerminated: (pendingBytes, resource) => {
      // kube-apiserver's cacher: "Forcing <type> watcher close due to unresponsiveness".
      options.logger.warn(
        { resource, pendingBytes, limitBytes: options.maxWatchPendingBytes },
        `Forcing ${resource} watcher close due to unresponsiveness`,
      );
      options.onWatcherTerminated?.(resource);
    },
  });

  app.use(async (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    const requestId = String(req.headers['audit-id'] ?? req.headers['x-request-id'] ?? randomUUID());
    res.setHeader('Audit-Id', requestId);
    const log = options.logger.child({ requestId });
    const info = parseRequestInfo(req.method, req.originalUrl, (group, version, resource) =>
      group === options.registries.group
        ? options.registries.lookup(version, resource)?.kind.strategy.selectableFields
        : undefined,
    );
    const kind = READ_ONLY_VERBS.has(info.verb) || !info.isResourceRequest ? 'readOnly' : 'mutating';
    const longRunning = info.verb === 'watch';
    if (!longRunning) options.metrics.inflight(kind, 1);
    let finished = false;
    let slot: InflightSlot | undefined;
    let timedOut = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      slot?.release();
      if (!longRunning) options.metrics.inflight(kind, -1);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const dryRun = info.query.has('dryRun');
      options.metrics.observe(info, res.statusCode, seconds, dryRun);
      if (req.path !== '/metrics' && !HEALTH_PATH.test(req.path)) {
        log.info(
          {
            verb: info.verb,
            method: req.method,
            path: req.path,
            resource: info.resource,
            subresource: info.subresource,
            namespace: info.namespace,
            name: info.name,
            code: res.statusCode,
            durationMs: Math.round(seconds * 1000),
            userAgent: req.headers['user-agent'],
          },
          'request',
        );
      }
    };
    res.on('finish', finish);
    res.on('close', finish);

    try {
      if (lifecycle.draining && !HEALTH_PATH.test(req.path)) {
        // Each kept-alive connection ends with its next answer, so the client's next request dials a
        // replica that is not going away (answers already in flight are marked by the listener, server.ts).
        // A new watch would be ended at once: refuse it retryably.
        res.setHeader('Connection', 'close');
        if (longRunning) throw shuttingDownError();
      }
      if (!longRunning && options.requestTimeoutMs) {
        // The deadline covers authentication, the body, storage calls and the answer, as in kube-apiserver.
        const ms = requestTimeoutMs(info.query.get('timeout'), options.requestTimeoutMs);
        enterDeadline(Date.now() + ms);
        armRequestDeadline(req, res, ms, () => {
          timedOut = true;
          log.warn({ verb: info.verb, path: req.path, timeoutMs: ms }, 'request deadline exceeded');
          writeStatus(res, requestTimeoutError());
        });
      }
      if (req.path === '/metrics' && req.method === 'GET') {
        if (options.filter) await options.filter(req, info);
        res.type(options.metricsRegistry.contentType).send(await options.metricsRegistry.metrics());
        return;
      }
      if (options.filter) await options.filter(req, info);
      // After authentication and authorization, as kube-apiserver's WithMaxInFlightLimit.
      if (options.inflight && !longRunning && !HEALTH_PATH.test(req.path)) {
        const heavy = isHeavyList(info.verb, info.query.get('limit'));
        slot = await options.inflight.acquire(kind, heavy);
        // Answered (the deadline's 504) or gone while it waited for a heavy-list slot.
        if (finished || res.writableEnded) {
          slot.release();
          return;
        }
      }
      if (info.isResourceRequest) {
        if (
          info.apiGroup !== options.registries.group ||
          !options.registries.versions.includes(info.apiVersion ?? '')
        ) {
          throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
        }
        await resources.handle(info, req, res);
        slot?.built();
        return;
      }
      if (await platform.handle(req, res)) return;
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    } catch (caught) {
      // The client already has its 504; what the handler did afterwards is of no interest to it.
      if (timedOut) return;
      const err =
        caught instanceof StorageTimeoutError
          ? requestTimeoutError()
          : caught instanceof ValueTooLargeError
            ? new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${caught.limit}`)
            : caught;
      if (!(err instanceof ApiError) || err.code >= 500) log.error({ err: caught }, 'request failed');
      if (res.headersSent) {
        res.end();
        return;
      }
      writeStatus(res, err);
    }
    void next;
  });

  return { app, platform, lifecycle };
}
