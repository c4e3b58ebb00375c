/**
 * The REST endpoints of the widgets resource and its status and scale subresources: maps each
 * RequestInfo verb to the registry, parses write options (dryRun, fieldValidation, fieldManager),
 * DeleteOptions from body or query, and streams watches as chunked JSON WatchEvents in the negotiated
 * form. Everything about semantics lives in the registry; this file is the HTTP shape of it.
 */
import type { Request, Response } from 'express';
import {
  ApiError,
  badRequest,
  methodNotAllowed,
  notAcceptable,
  type Status,
} from '../../shared/status-errors';
import { decodeDeleteOptions } from '../api/decode';
import { partialObjectMetadata, widgetTable } from '../api/table';
import { RESOURCE, type DeleteOptions, type Widget, type WatchEvent } from '../api/types';
import { parseListQuery } from '../registry/list-options';
import { asPatchType } from '../registry/patch';
import type {
  BookmarkObject,
  FieldValidation,
  WidgetRegistry,
  WriteOptions,
} from '../registry/widget-registry';
import { baseContentType, decodeObjectBody, readBody } from './body';
import { negotiateOutput } from './negotiation';
import type { RequestInfo } from './request-info';
import { addWarnings, includeObjectPolicy, renderWidget, renderWidgetList, writeDocument } from './responses';
import { DEFAULT_MAX_WATCH_PENDING_BYTES, WatchStream } from './watch-stream';

export interface ResourceHandlerOptions {
  registry: WidgetRegistry;
  maxBodyBytes: number;
  /** Called when a watch starts and ends, for the long-running request gauge. */
  onWatch?: (delta: 1 | -1) => void;
  /** --max-watch-pending-bytes (watch-stream.ts). */
  maxWatchPendingBytes?: number;
  /** A watcher was closed for falling behind. */
  onWatcherTerminated?: (pendingBytes: number) => void;
}

type Query = Record<string, unknown>;

function single(query: Query, key: string): string | undefined {
  const v = query[key];
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return v === undefined ? undefined : String(v);
}

export function parseWriteOptions(query: Query): WriteOptions {
  const dryRunValues = ([] as unknown[])
    .concat(query.dryRun ?? [])
    .map(String)
    .filter((v) => v !== '');
  for (const v of dryRunValues) {
    if (v !== 'All') throw badRequest(`Invalid dry run value: ${v}; supported values: "All"`);
  }
  const rawValidation = single(query, 'fieldValidation');
  let fieldValidation: FieldValidation = 'Warn';
  if (rawValidation !== undefined && rawValidation !== '') {
    const normalized = rawValidation.toLowerCase();
    if (normalized === 'strict') fieldValidation = 'Strict';
    else if (normalized === 'warn') fieldValidation = 'Warn';
    else if (normalized === 'ignore') fieldValidation = 'Ignore';
    else {
      throw badRequest(
        `fieldValidation parameter unsupported: ${rawValidation}, supported values: [Ignore, Strict, Warn]`,
      );
    }
  }
  const fieldManager = single(query, 'fieldManager');
  if (fieldManager !== undefined && fieldManager.length > 128) {
    throw badRequest('fieldManager: Too long: may not be more than 128 bytes');
  }
  return { dryRun: dryRunValues.length > 0, fieldValidation, fieldManager };
}

function deleteOptionsFrom(body: unknown, query: Query): DeleteOptions {
  const options = decodeDeleteOptions(body);
  const grace = single(query, 'gracePeriodSeconds');
  if (grace !== undefined && grace !== '') {
    if (!/^-?\d+$/.test(grace)) throw badRequest(`invalid value for gracePeriodSeconds: ${grace}`);
    options.gracePeriodSeconds = Number(grace);
  }
  const policy = single(query, 'propagationPolicy');
  if (policy) {
    if (policy !== 'Orphan' && policy !== 'Background' && policy !== 'Foreground') {
      throw badRequest(
        `propagationPolicy: Unsupported value: "${policy}": supported values: "Background", "Foreground", "Orphan"`,
      );
    }
    options.propagationPolicy = policy;
  }
  const orphan = single(query, 'orphanDependents');
  if (orphan !== undefined && orphan !== '') options.orphanDependents = orphan === 'true';
  return options;
}

function mergeDryRun(opts: WriteOptions, options: DeleteOptions): WriteOptions {
  if (options.dryRun?.length) {
    for (const v of options.dryRun)
      if (v !== 'All') throw badRequest(`Invalid dry run value: ${v}; supported values: "All"`);
    return { ...opts, dryRun: true };
  }
  return opts;
}

export class ResourceHandler {
  constructor(private readonly options: ResourceHandlerOptions) {}

  private get registry(): WidgetRegistry {
    return this.options.registry;
  }

  async handle(info: RequestInfo, req: Request, res: Response): Promise<void> {
    if (info.resource !== RESOURCE || info.parts.length > 0) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    const query = req.query as Query;
    const { subresource, name } = info;
    if (subresource !== undefined && subresource !== 'status' && subresource !== 'scale') {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    if (info.namespace === undefined && name !== undefined) {
      // Namespaced resource addressed without a namespace.
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    const namespace = info.namespace;

    switch (info.verb) {
      case 'list':
        return this.list(namespace, req, res);
      case 'watch':
        return this.watch(namespace, name, req, res, info.legacyWatch);
      case 'get':
        return subresource === 'scale'
          ? this.writeScale(res, await this.registry.getScale(namespace!, name!), req)
          : this.writeWidget(res, 200, await this.registry.get(namespace!, name!), req);
      case 'create': {
        if (name !== undefined || namespace === undefined) throw methodNotAllowed('POST', 'Widget');
        const opts = parseWriteOptions(query);
        const body = await this.readObject(req);
        const result = await this.registry.create(namespace, body, opts);
        addWarnings(res, result.warnings);
        return this.writeWidget(res, 201, result.object, req);
      }
      case 'update': {
        const opts = parseWriteOptions(query);
        const body = await this.readObject(req);
        if (subresource === 'scale') {
          const result = await this.registry.updateScale(namespace!, name!, body, opts);
          addWarnings(res, result.warnings);
          return this.writeScale(res, result.object, req);
        }
        const result = await this.registry.update(namespace!, name!, body, opts, subresource);
        addWarnings(res, result.warnings);
        return this.writeWidget(res, 200, result.object, req);
      }
      case 'patch': {
        const opts = parseWriteOptions(query);
        const type = asPatchType(req.headers['content-type']);
        const raw = await readBody(req, this.options.maxBodyBytes);
        if (subresource === 'scale') {
          const result = await this.registry.patchScale(namespace!, name!, type, raw, opts);
          addWarnings(res, result.warnings);
          return this.writeScale(res, result.object, req);
        }
        const result = await this.registry.patch(namespace!, name!, type, raw, opts, subresource);
        addWarnings(res, result.warnings);
        return this.writeWidget(res, 200, result.object, req);
      }
      case 'delete': {
        if (subresource !== undefined)
          throw methodNotAllowed('DELETE', subresource === 'scale' ? 'Scale' : 'Widget');
        const raw = await readBody(req, this.options.maxBodyBytes);
        const options = deleteOptionsFrom(decodeObjectBody(raw, baseContentType(req)), query);
        const opts = mergeDryRun(parseWriteOptions(query), options);
        const result = await this.registry.delete(namespace!, name!, options, opts);
        const accepted = !result.deleted && options.orphanDependents === false;
        return this.writeWidget(res, accepted ? 202 : 200, result.object, req);
      }
      case 'deletecollection': {
        const raw = await readBody(req, this.options.maxBodyBytes);
        const options = deleteOptionsFrom(decodeObjectBody(raw, baseContentType(req)), query);
        const opts = mergeDryRun(parseWriteOptions(query), options);
        const listQuery = parseListQuery(query);
        const list = await this.registry.deleteCollection(namespace, listQuery, options, opts);
        const form = negotiateOutput(req.headers.accept, 'list');
        return writeDocument(res, 200, renderWidgetList(list, form, includeObjectPolicy(query)), form);
      }
      default:
        throw methodNotAllowed(req.method, 'Widget');
    }
  }

  private async readObject(req: Request): Promise<unknown> {
    const raw = await readBody(req, this.options.maxBodyBytes);
    const body = decodeObjectBody(raw, baseContentType(req));
    if (body === undefined) throw badRequest('the body of the request was empty');
    return body;
  }

  private writeWidget(res: Response, code: number, w: Widget, req: Request): void {
    const form = negotiateOutput(req.headers.accept, 'object');
    writeDocument(res, code, renderWidget(w, form, includeObjectPolicy(req.query as Query)), form);
  }

  private writeScale(res: Response, scale: unknown, req: Request): void {
    const form = negotiateOutput(req.headers.accept, 'object');
    if (form.transform) {
      throw notAcceptable(['application/json', 'application/yaml']);
    }
    writeDocument(res, 200, scale, form);
  }

  private async list(namespace: string | undefined, req: Request, res: Response): Promise<void> {
    const query = req.query as Query;
    const form = negotiateOutput(req.headers.accept, 'list');
    const list = await this.registry.list(namespace, parseListQuery(query));
    writeDocument(res, 200, renderWidgetList(list, form, includeObjectPolicy(query)), form);
  }

  private async watch(
    namespace: string | undefined,
    name: string | undefined,
    req: Request,
    res: Response,
    legacyWatch: boolean,
  ): Promise<void> {
    const query = req.query as Query;
    const form = negotiateOutput(req.headers.accept, 'watch');
    const listQuery = parseListQuery(query, true);
    const includeObject = includeObjectPolicy(query);
    // Set once the registry's watch exists; a watcher closed for falling behind stops it.
    let handle: { stop(): void } | undefined = undefined;
    const stream = new WatchStream(req, res, {
      maxPendingBytes: this.options.maxWatchPendingBytes ?? DEFAULT_MAX_WATCH_PENDING_BYTES,
      onTerminated: (pendingBytes) => {
        handle?.stop();
        this.options.onWatcherTerminated?.(pendingBytes);
      },
    });
    let firstTableRow = true;
    const encode = (event: WatchEvent<Widget | Status | BookmarkObject>): unknown => {
      if (event.type === 'ERROR' || !form.transform) return event;
      if (event.type === 'BOOKMARK') {
        const meta = (event.object as BookmarkObject).metadata;
        if (form.transform === 'PartialObjectMetadata') {
          return {
            type: 'BOOKMARK',
            object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta },
          };
        }
        return {
          type: 'BOOKMARK',
          object: {
            kind: 'Table',
            apiVersion: `meta.k8s.io/${form.transformVersion ?? 'v1'}`,
            metadata: meta,
            columnDefinitions: [],
            rows: [],
          },
        };
      }
      const w = event.object as Widget;
      if (form.transform === 'PartialObjectMetadata')
        return { type: event.type, object: partialObjectMetadata(w) };
      const table = widgetTable([w], {
        includeObject,
        listMeta: { resourceVersion: w.metadata.resourceVersion },
        noHeaders: !firstTableRow,
      }) as Record<string, unknown>;
      firstTableRow = false;
      if (form.transformVersion === 'v1beta1') table.apiVersion = 'meta.k8s.io/v1beta1';
      return { type: event.type, object: table };
    };
    let ended = false;
    handle = await this.registry.watch(
      namespace,
      listQuery,
      {
        send: (event) => {
          if (ended) return;
          stream.send(JSON.stringify(encode(event)) + '\n');
        },
        end: () => {
          if (ended) return;
          ended = true;
          stream.end();
          this.options.onWatch?.(-1);
        },
      },
      legacyWatch || name !== undefined ? name : undefined,
    );
    // Events from here on are live: a client that stops reading them is closed past the limit.
    stream.established();
    this.options.onWatch?.(1);
    stream.writeHead();
    const stop = handle.stop;
    req.on('close', () => stop());
    res.on('close', () => stop());
  }
}
