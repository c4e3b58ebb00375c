/**
 * The REST endpoints of every served resource and its status and scale subresources: finds the
 * resource's registry in the storage map (registry/registries.ts), maps each RequestInfo verb to it,
 * parses write options (dryRun, fieldValidation, fieldManager, force), DeleteOptions from body or
 * query, sends server-side apply (application/apply-patch+yaml) to the registry's apply, and streams
 * watches as chunked JSON WatchEvents in the negotiated form. Everything about semantics lives in the
 * registry; this file is the HTTP shape of it.
 */
import type { KindCodec, StoredObject } from '../registry/generic/types';
import type { ApiRegistries } from '../registry/registries';
import type { KindRegistry } from '../registry/kind-registry';
import type { Request, Response } from 'express';
import {
  ApiError,
  badRequest,
  invalid,
  methodNotAllowedOnResource,
  notAcceptable,
  type Status,
} from '../../shared/status-errors';
import { decodeDeleteOptions } from '../api/decode';
import { objectTable, partialObjectMetadata } from '../api/table';
import type { DeleteOptions, WatchEvent } from '../api/types';
import type { ListQuery } from '../registry/list-options';
import { asPatchType, isApplyPatch } from '../registry/patch';
import type { BookmarkObject, FieldValidation, WriteOptions } from '../registry/generic/types';
import { baseContentType, decodeObjectBody, readBody } from './body';
import { negotiateOutput, type OutputForm } from './negotiation';
import type { RequestQuery } from './query';
import type { UserInfo } from '../auth/authentication';
import type { RequestInfo } from './request-info';
import { addWarnings, includeObjectPolicy, renderList, renderObject, writeDocument } from './responses';
import { DEFAULT_MAX_WATCH_PENDING_BYTES, WatchStream } from './watch-stream';

export interface ResourceHandlerOptions {
  registries: ApiRegistries;
  maxBodyBytes: number;
  /** Called when a watch starts and ends, for the long-running request gauge. */
  onWatch?: (delta: 1 | -1, version: string, resource: string) => void;
  /** --max-watch-pending-bytes (watch-stream.ts). */
  maxWatchPendingBytes?: number;
  /** A watcher was closed for falling behind. */
  onWatcherTerminated?: (pendingBytes: number, resource: string) => void;
}

/** Write options from the query, with the authenticated user for admission (set by the auth filter). */
export function parseWriteOptions(query: RequestQuery, user?: UserInfo): WriteOptions {
  // dryRun is a list parameter ([]string): every value counts, as in CreateOptions.DryRun.
  const dryRunValues = query.all('dryRun').filter((v) => v !== '');
  for (const v of dryRunValues) {
    if (v !== 'All') throw badRequest(`Invalid dry run value: ${v}; supported values: "All"`);
  }
  const rawValidation = query.get('fieldValidation');
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
  const fieldManager = query.get('fieldManager');
  if (fieldManager !== undefined && fieldManager.length > 128) {
    throw badRequest('fieldManager: Too long: may not be more than 128 bytes');
  }
  return { dryRun: dryRunValues.length > 0, fieldValidation, fieldManager, user };
}

function deleteOptionsFrom(body: unknown, query: RequestQuery): DeleteOptions {
  const options = decodeDeleteOptions(body);
  const grace = query.get('gracePeriodSeconds');
  if (grace !== undefined && grace !== '') {
    if (!/^-?\d+$/.test(grace)) throw badRequest(`invalid value for gracePeriodSeconds: ${grace}`);
    options.gracePeriodSeconds = Number(grace);
  }
  const policy = query.get('propagationPolicy');
  if (policy) {
    if (policy !== 'Orphan' && policy !== 'Background' && policy !== 'Foreground') {
      throw badRequest(
        `propagationPolicy: Unsupported value: "${policy}": supported values: "Background", "Foreground", "Orphan"`,
      );
    }
    options.propagationPolicy = policy;
  }
  if (query.has('orphanDependents')) options.orphanDependents = query.bool('orphanDependents');
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

/**
 * A watch event as its JSON line, encoded once for every watcher that sends it: the watch cache hands
 * all of them the same (frozen) object, as kube-apiserver's cachingObject serializes once per format.
 */
const encodedLines = new WeakMap<object, Partial<Record<string, string>>>();
function watchLine(event: WatchEvent<StoredObject | Status | BookmarkObject>): string {
  if (event.type === 'ERROR' || event.type === 'BOOKMARK') return JSON.stringify(event) + '\n';
  let lines = encodedLines.get(event.object);
  if (!lines) encodedLines.set(event.object, (lines = {}));
  return (lines[event.type] ??= JSON.stringify(event) + '\n');
}

export class ResourceHandler {
  constructor(private readonly options: ResourceHandlerOptions) {}

  async handle(info: RequestInfo, req: Request, res: Response): Promise<void> {
    const registry = this.options.registries.lookup(info.apiVersion ?? '', info.resource ?? '');
    if (!registry || info.parts.length > 0) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    const kind = registry.kind;
    const { query, subresource, pathName: name } = info;
    if (subresource !== undefined && subresource !== 'status' && subresource !== 'scale') {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    if (info.namespace === undefined && name !== undefined) {
      // Namespaced resource addressed without a namespace.
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    const namespace = info.namespace;
    const collection = name === undefined;
    // Routes as kube-apiserver installs them: a method with no route at this URL is 405, never a guess.
    const allowed = collection
      ? ['list', 'watch', 'create', 'deletecollection']
      : subresource === undefined
        ? ['get', 'watch', 'update', 'patch', 'delete']
        : ['get', 'update', 'patch'];
    if (!allowed.includes(info.verb) || (info.verb === 'create' && namespace === undefined)) {
      throw methodNotAllowedOnResource();
    }
    // Negotiate before anything happens: a request whose answer cannot be written must not write.
    const form = negotiateOutput(
      req.headers.accept,
      collection && info.verb !== 'create' ? (info.verb === 'watch' ? 'watch' : 'list') : 'object',
    );
    if (subresource === 'scale' && form.transform) {
      throw notAcceptable(['application/json', 'application/yaml']);
    }
    // Bodies are decoded from, and answers encoded in, the version of the request's path.
    const codec = registry.codec(info.apiVersion);
    const writeOptions = () => ({
      ...parseWriteOptions(query, (req as Request & { user?: UserInfo }).user),
      version: codec.version,
      userAgent: req.headers['user-agent'],
    });
    const listQuery = () => {
      const parsed = info.listOptions ?? { error: new Error('list options were not parsed') };
      if ('error' in parsed) throw parsed.error;
      return parsed.query;
    };

    switch (info.verb) {
      case 'list': {
        const list = await registry.list(namespace, listQuery());
        return writeDocument(res, 200, renderList(kind, list, form, includeObjectPolicy(query), codec), form);
      }
      case 'watch':
        return this.watch(
          registry,
          namespace,
          name,
          req,
          res,
          info.legacyWatch,
          listQuery(),
          query,
          form,
          codec,
        );
      case 'get':
        return subresource === 'scale'
          ? writeDocument(res, 200, await registry.getScale(namespace!, name!), form)
          : this.writeObject(registry, res, 200, await registry.get(namespace!, name!), query, form, codec);
      case 'create': {
        const opts = writeOptions();
        const body = await this.readObject(req);
        const result = await registry.create(namespace!, body, opts);
        addWarnings(res, result.warnings);
        return this.writeObject(registry, res, 201, result.object, query, form, codec);
      }
      case 'update': {
        const opts = writeOptions();
        const body = await this.readObject(req);
        if (subresource === 'scale') {
          const result = await registry.updateScale(namespace!, name!, body, opts);
          addWarnings(res, result.warnings);
          return writeDocument(res, 200, result.object, form);
        }
        const result = await registry.update(namespace!, name!, body, opts, subresource);
        addWarnings(res, result.warnings);
        return this.writeObject(registry, res, 200, result.object, query, form, codec);
      }
      case 'patch': {
        const opts = writeOptions();
        const force = query.has('force') ? query.bool('force') : undefined;
        if (isApplyPatch(req.headers['content-type']) && subresource !== 'scale') {
          const raw = await readBody(req, this.options.maxBodyBytes);
          // YAML, of which JSON is a subset, with the bounds every body has.
          const body = decodeObjectBody(raw, 'application/yaml');
          if (body === undefined) throw badRequest('the body of the request was empty');
          const result = await registry.apply(
            namespace!,
            name!,
            body,
            { ...opts, force: !!force },
            subresource,
          );
          addWarnings(res, result.warnings);
          return this.writeObject(
            registry,
            res,
            result.created ? 201 : 200,
            result.object,
            query,
            form,
            codec,
          );
        }
        if (force !== undefined) {
          throw invalid('meta.k8s.io', 'PatchOptions', '', [
            {
              type: 'FieldValueForbidden',
              field: 'force',
              detail: 'may not be specified for non-apply patch',
            },
          ]);
        }
        const type = asPatchType(req.headers['content-type']);
        const raw = await readBody(req, this.options.maxBodyBytes);
        if (subresource === 'scale') {
          const result = await registry.patchScale(namespace!, name!, type, raw, opts);
          addWarnings(res, result.warnings);
          return writeDocument(res, 200, result.object, form);
        }
        const result = await registry.patch(namespace!, name!, type, raw, opts, subresource);
        addWarnings(res, result.warnings);
        return this.writeObject(registry, res, 200, result.object, query, form, codec);
      }
      case 'delete': {
        const raw = await readBody(req, this.options.maxBodyBytes);
        const options = deleteOptionsFrom(decodeObjectBody(raw, baseContentType(req)), query);
        const opts = mergeDryRun(writeOptions(), options);
        const result = await registry.delete(namespace!, name!, options, opts);
        const accepted = !result.deleted && options.orphanDependents === false;
        addWarnings(res, result.warnings);
        return this.writeObject(registry, res, accepted ? 202 : 200, result.object, query, form, codec);
      }
      case 'deletecollection': {
        const raw = await readBody(req, this.options.maxBodyBytes);
        const options = deleteOptionsFrom(decodeObjectBody(raw, baseContentType(req)), query);
        const opts = mergeDryRun(writeOptions(), options);
        const { list, warnings } = await registry.deleteCollection(namespace, listQuery(), options, opts);
        addWarnings(res, warnings);
        return writeDocument(res, 200, renderList(kind, list, form, includeObjectPolicy(query), codec), form);
      }
      default:
        throw methodNotAllowedOnResource();
    }
  }

  private async readObject(req: Request): Promise<unknown> {
    const raw = await readBody(req, this.options.maxBodyBytes);
    const body = decodeObjectBody(raw, baseContentType(req));
    if (body === undefined) throw badRequest('the body of the request was empty');
    return body;
  }

  private writeObject<T extends StoredObject>(
    registry: KindRegistry<T>,
    res: Response,
    code: number,
    o: T,
    query: RequestQuery,
    form: OutputForm,
    codec: KindCodec<T>,
  ): void {
    writeDocument(res, code, renderObject(registry.kind, o, form, includeObjectPolicy(query), codec), form);
  }

  private async watch<T extends StoredObject>(
    registry: KindRegistry<T>,
    namespace: string | undefined,
    name: string | undefined,
    req: Request,
    res: Response,
    legacyWatch: boolean,
    listQuery: ListQuery,
    query: RequestQuery,
    form: OutputForm,
    codec: KindCodec<T>,
  ): Promise<void> {
    const includeObject = includeObjectPolicy(query);
    // Set once the registry's watch exists; a watcher closed for falling behind stops it.
    let handle: { stop(): void } | undefined = undefined;
    const stream = new WatchStream(req, res, {
      maxPendingBytes: this.options.maxWatchPendingBytes ?? DEFAULT_MAX_WATCH_PENDING_BYTES,
      onTerminated: (pendingBytes) => {
        handle?.stop();
        this.options.onWatcherTerminated?.(pendingBytes, registry.kind.names.resource);
      },
    });
    let firstTableRow = true;
    const encode = (event: WatchEvent<StoredObject | Status | BookmarkObject>): unknown => {
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
      const w = event.object as T;
      if (form.transform === 'PartialObjectMetadata')
        return { type: event.type, object: partialObjectMetadata(w) };
      const table = objectTable(registry.kind, [w], {
        includeObject,
        listMeta: { resourceVersion: w.metadata.resourceVersion },
        noHeaders: !firstTableRow,
        version: codec.version,
        encode: (o) => codec.encode(o),
      }) as Record<string, unknown>;
      firstTableRow = false;
      if (form.transformVersion === 'v1beta1') table.apiVersion = 'meta.k8s.io/v1beta1';
      return { type: event.type, object: table };
    };
    // Objects in the watch's version: a hub-version watch sends the (shared) event objects themselves.
    const inVersion = (
      event: WatchEvent<StoredObject | Status | BookmarkObject>,
    ): WatchEvent<StoredObject | Status | BookmarkObject> => {
      if (event.type === 'ERROR' || codec.isHub) return event;
      if (event.type === 'BOOKMARK')
        return {
          type: 'BOOKMARK',
          object: { ...(event.object as BookmarkObject), apiVersion: codec.apiVersion },
        };
      return { type: event.type, object: codec.encode(event.object as T) };
    };
    let ended = false;
    handle = await registry.watch(
      namespace,
      listQuery,
      {
        send: (event) => {
          if (ended) return;
          if (form.transform) {
            stream.send(JSON.stringify(encode(event)) + '\n');
            return;
          }
          stream.send(watchLine(inVersion(event)));
        },
        end: () => {
          if (ended) return;
          ended = true;
          stream.end();
          this.options.onWatch?.(-1, codec.version, registry.kind.names.resource);
        },
      },
      legacyWatch || name !== undefined ? name : undefined,
    );
    // Events from here on are live: a client that stops reading them is closed past the limit.
    stream.established();
    this.options.onWatch?.(1, codec.version, registry.kind.names.resource);
    stream.writeHead();
    const stop = handle.stop;
    req.on('close', () => stop());
    res.on('close', () => stop());
  }
}
