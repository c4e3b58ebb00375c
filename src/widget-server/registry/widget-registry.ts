/**
 * The Widget kind's registry: the generic store (generic/store.ts) with the Widget strategy
 * (apis/widgets/strategy.ts) and a codec per version, plus the scale subresource as an adapter over
 * the store's read-modify-write loop (autoscaling/v1 Scale in and out, spec.replicas underneath).
 */
import { invalid, badRequest } from '../../shared/status-errors';
import { jsonEqual } from '../../shared/json-equal';
import type { ApiIdentity, Scale, Widget } from '../api/types';
import { decodeScale } from '../api/decode';
import { HUB_VERSION, WidgetCodec } from '../api/codec';
import { validateScale, validateWidgetUpdate } from '../api/validation';
import { applyScaleToWidget, widgetToScale } from '../api/scale';
import { DEFAULT_STORAGE_VERSION, WIDGET_VERSION_NAMES } from '../apis/widgets';
import { widgetStrategy } from '../apis/widgets/strategy';
import type { JsonObject, Storage } from '../storage/storage';
import { applyPatchDocument, parsePatchBody, type PatchType } from './patch';
import type { AdmissionChain } from '../admission/admission';
import { Store, type AdmissionView } from './generic/store';
import type { WriteOptions, WriteResult } from './generic/types';

export type {
  BookmarkObject,
  DeleteResult,
  FieldValidation,
  WatchSink,
  WriteOptions,
  WriteResult,
} from './generic/types';

export interface RegistryOptions {
  /** The group, and the version requests are in when they do not say (the preferred one). */
  identity: ApiIdentity;
  /** The versions served (default: all the kind has), preferred first; each has a codec. */
  versions?: readonly string[];
  /** The version objects are written in (default v1); objects of any version the kind has are read. */
  storageVersion?: string;
  now?: () => Date;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK (kube-apiserver: about once a minute). */
  bookmarkIntervalMs?: number;
  /** Admission plugins run on every write, after decoding and before storage (none by default). */
  admission?: AdmissionChain;
}

/** The scale subresource shows itself to admission as the Scale clients send. */
const SCALE_ADMISSION: AdmissionView = {
  subresource: 'scale',
  kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
  // Mapping a mutating plugin's change of that Scale back onto the Widget is for when such a plugin
  // exists (issue 13).
  view: (o) => widgetToScale(o as Widget),
};

export class WidgetRegistry extends Store<Widget> {
  readonly identity: ApiIdentity;

  constructor(storage: Storage, options: RegistryOptions) {
    const group = options.identity.group;
    super(storage, {
      group,
      strategy: widgetStrategy,
      codecs: new Map(WIDGET_VERSION_NAMES.map((v) => [v, new WidgetCodec(group, v)])),
      versions: options.versions ?? WIDGET_VERSION_NAMES,
      defaultVersion: options.identity.version,
      hubVersion: HUB_VERSION,
      storageVersion: options.storageVersion ?? DEFAULT_STORAGE_VERSION,
      now: options.now,
      bookmarkIntervalMs: options.bookmarkIntervalMs,
      admission: options.admission,
    });
    this.identity = options.identity;
  }

  // ---- scale subresource ----

  async getScale(namespace: string, name: string): Promise<Scale> {
    return widgetToScale(await this.get(namespace, name));
  }

  private scaleUpdate(
    namespace: string,
    name: string,
    opts: WriteOptions,
    toScale: (current: Scale) => Scale,
  ) {
    return this.guaranteedUpdate(namespace, name, opts, SCALE_ADMISSION, (current) => {
      const scale = toScale(widgetToScale(current));
      if (scale.metadata.name !== undefined && scale.metadata.name !== name) {
        throw badRequest(
          `the name of the object (${scale.metadata.name}) does not match the name on the URL (${name})`,
        );
      }
      const errors = validateScale(scale);
      if (errors.length) throw invalid('autoscaling', 'Scale', name, errors);
      const pinned = this.checkResourceVersion(scale.metadata.resourceVersion, current, name);
      const next = applyScaleToWidget(structuredClone(current), scale);
      if (!jsonEqual(next.spec, current.spec)) {
        next.metadata.generation = (current.metadata.generation ?? 1) + 1;
      }
      const specErrors = validateWidgetUpdate(next, current);
      if (specErrors.length) throw this.invalid(name, specErrors);
      return { next, pinnedResourceVersion: pinned };
    });
  }

  async updateScale(
    namespace: string,
    name: string,
    body: unknown,
    opts: WriteOptions,
  ): Promise<WriteResult<Scale>> {
    const { scale, warnings } = decodeScale(body, { fieldValidation: opts.fieldValidation });
    const result = await this.scaleUpdate(namespace, name, opts, () => scale);
    return { object: widgetToScale(result.object), warnings };
  }

  async patchScale(
    namespace: string,
    name: string,
    type: PatchType,
    rawPatch: string,
    opts: WriteOptions,
  ): Promise<WriteResult<Scale>> {
    const patch = parsePatchBody(rawPatch, type);
    let warnings: string[] = [];
    const result = await this.scaleUpdate(namespace, name, opts, (current) => {
      const patched = applyPatchDocument(current as unknown as JsonObject, type, patch);
      const decoded = decodeScale(patched, { fieldValidation: opts.fieldValidation });
      warnings = decoded.warnings;
      return decoded.scale;
    });
    return { object: widgetToScale(result.object), warnings };
  }
}
