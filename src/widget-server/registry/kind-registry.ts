/**
 * One kind's registry: the generic store (generic/store.ts) for a kind definition (apis/kind.ts), with
 * a codec per version, and the scale subresource, when the kind has one, as an adapter over the
 * store's read-modify-write loop (autoscaling/v1 Scale in and out, the kind's replicas underneath).
 */
import { ApiError, badRequest, invalid } from '../../shared/status-errors';
import { VersionCodec } from '../api/codec';
import { decodeScale } from '../api/decode';
import type { Scale } from '../api/types';
import type { KindDefinition, ScaleSubresource } from '../apis/kind';
import type { AdmissionChain } from '../admission/admission';
import { validateScale } from '../api/validation';
import { rfc3339Seconds } from '../../shared/time';
import type { JsonObject, Storage } from '../storage/storage';
import { Store, type AdmissionView } from './generic/store';
import type { StoredObject, WriteOptions, WriteResult } from './generic/types';
import { applyPatchDocument, parsePatchBody, type PatchType } from './patch';

export interface KindRegistryOptions {
  group: string;
  /** The versions served (default: all the kind has), preferred first. */
  versions?: readonly string[];
  /** The version of requests that do not say (default: the first served). */
  defaultVersion?: string;
  /** The version objects are written in (default: the kind's). */
  storageVersion?: string;
  now?: () => Date;
  bookmarkIntervalMs?: number;
  admission?: AdmissionChain;
  /** False only to measure what managedFields cost (bench/managed-fields.ts). */
  trackManagedFields?: boolean;
}

const notFoundError = () =>
  new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});

export class KindRegistry<T extends StoredObject> extends Store<T> {
  constructor(
    storage: Storage,
    readonly kind: KindDefinition<T>,
    options: KindRegistryOptions,
  ) {
    const all = kind.versions.map((v) => v.version);
    super(storage, {
      group: options.group,
      names: kind.names,
      strategy: kind.strategy,
      codecs: new Map(all.map((v) => [v, new VersionCodec(options.group, kind, v)])),
      versions: options.versions ? all.filter((v) => options.versions!.includes(v)) : all,
      defaultVersion: options.defaultVersion,
      hubVersion: kind.hubVersion,
      storageVersion: options.storageVersion ?? kind.defaultStorageVersion,
      now: options.now,
      bookmarkIntervalMs: options.bookmarkIntervalMs,
      admission: options.admission,
      trackManagedFields: options.trackManagedFields,
    });
  }

  private get scale(): ScaleSubresource<T> {
    if (!this.kind.scale) throw notFoundError();
    return this.kind.scale;
  }

  async getScale(namespace: string, name: string): Promise<Scale> {
    const scale = this.scale;
    return scale.toScale(await this.get(namespace, name));
  }

  private scaleUpdate(
    namespace: string,
    name: string,
    opts: WriteOptions,
    toScale: (current: Scale) => Scale,
  ) {
    const adapter = this.scale;
    // The scale subresource shows itself to admission as the Scale clients send; a mutating webhook's
    // change of that Scale is applied to the object as the client's would be.
    const admission: AdmissionView = {
      subresource: 'scale',
      kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
      view: (o) => adapter.toScale(o as T),
      fromView: (o) => decodeScale(o, { fieldValidation: 'Ignore', schema: adapter.schema }).scale,
    };
    /** The object with `scale` applied, prepared and validated against the current one. */
    const scaled = (scale: Scale, current: T): T => {
      if (scale.metadata.name !== undefined && scale.metadata.name !== name) {
        throw badRequest(
          `the name of the object (${scale.metadata.name}) does not match the name on the URL (${name})`,
        );
      }
      const errors = validateScale(scale, adapter.schema);
      if (errors.length) throw invalid('autoscaling', 'Scale', name, errors);
      const next = adapter.applyScale(structuredClone(current), scale);
      this.strategy.prepareForUpdate(next, current);
      const specErrors = this.strategy.validateUpdate(next, current);
      if (specErrors.length) throw this.invalid(name, specErrors);
      return next;
    };
    return this.guaranteedUpdate(namespace, name, opts, admission, (current) => {
      const scale = toScale(adapter.toScale(current));
      const next = scaled(scale, current);
      this.checkResourceVersion(scale.metadata.resourceVersion, current, name);
      this.tracker.trackUpdate(next, current, undefined, opts, 'scale', rfc3339Seconds(this.now()));
      return {
        next,
        // Webhooks' changes are not tracked: the managedFields of the client's change stand.
        readmit: (admitted) => {
          const again = scaled(admitted as Scale, current);
          again.metadata.managedFields = next.metadata.managedFields;
          return again;
        },
      };
    });
  }

  async updateScale(
    namespace: string,
    name: string,
    body: unknown,
    opts: WriteOptions,
  ): Promise<WriteResult<Scale>> {
    const adapter = this.scale;
    const { scale, warnings } = decodeScale(body, {
      fieldValidation: opts.fieldValidation,
      schema: adapter.schema,
    });
    const result = await this.scaleUpdate(namespace, name, opts, () => scale);
    return { object: adapter.toScale(result.object), warnings };
  }

  async patchScale(
    namespace: string,
    name: string,
    type: PatchType,
    rawPatch: string,
    opts: WriteOptions,
  ): Promise<WriteResult<Scale>> {
    const adapter = this.scale;
    const patch = parsePatchBody(rawPatch, type);
    let warnings: string[] = [];
    const result = await this.scaleUpdate(namespace, name, opts, (current) => {
      const patched = applyPatchDocument(current as unknown as JsonObject, type, patch);
      const decoded = decodeScale(patched, { fieldValidation: opts.fieldValidation, schema: adapter.schema });
      warnings = decoded.warnings;
      return decoded.scale;
    });
    return { object: adapter.toScale(result.object), warnings };
  }
}
