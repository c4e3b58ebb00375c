/**
 * One served version of a kind at the HTTP edge: decoding a request body of that version into the
 * kind's hub type (decode, the version's defaults, conversion), and encoding hub objects as that
 * version for answers and watch events. The store and storage see only hub objects; storage writes
 * the storage version through the same codec.
 */
import { applyDefaults } from '../schema/defaults';
import type { ObjectNode } from '../schema/schema';
import { kindVersion, type KindDefinition, type KindVersion } from '../apis/kind';
import { widgetKind } from '../apis/widgets';
import type { KindCodec, StoredObject } from '../registry/generic/types';
import { decodeApplyConfiguration, decodeObject, type FieldValidationMode } from './decode';
import type { Widget } from './types';

export class VersionCodec<T extends StoredObject> implements KindCodec<T> {
  readonly apiVersion: string;
  readonly version: string;
  private readonly definition: KindVersion<T>;
  private readonly hubApiVersion: string;
  /** Encoded objects per hub object: a frozen watch event object is converted once, not per watcher. */
  private readonly encoded = new WeakMap<object, T>();

  constructor(
    readonly group: string,
    private readonly kind: KindDefinition<T>,
    version: string,
  ) {
    this.definition = kindVersion(kind, version);
    this.version = version;
    this.apiVersion = `${group}/${version}`;
    this.hubApiVersion = `${group}/${kind.hubVersion}`;
  }

  get schema(): ObjectNode {
    return this.definition.schema.object;
  }

  get isHub(): boolean {
    return this.version === this.kind.hubVersion;
  }

  /** A request body of this version as a hub object, with this version's defaults applied first. */
  decode(body: unknown, opts: { fieldValidation: FieldValidationMode }): { object: T; warnings: string[] } {
    const { value, warnings } = decodeObject(body, {
      schema: this.definition.schema.object,
      kind: this.kind.names.kind,
      identity: { group: this.group, version: this.version },
      fieldValidation: opts.fieldValidation,
    });
    return { object: this.toHub(value), warnings };
  }

  /** A server-side apply configuration of this version: decoded and pruned, not defaulted or converted. */
  decodeApplyConfiguration(
    body: unknown,
    opts: { fieldValidation: FieldValidationMode },
  ): { object: Record<string, unknown>; warnings: string[] } {
    const { value, warnings } = decodeApplyConfiguration(body, {
      schema: this.definition.schema.object,
      kind: this.kind.names.kind,
      identity: { group: this.group, version: this.version },
      fieldValidation: opts.fieldValidation,
    });
    return { object: value, warnings };
  }

  /** An object of this version (decoded, or read from storage) as a hub object. */
  toHub(o: Record<string, unknown>): T {
    applyDefaults(this.definition.schema.object, o);
    const hub = this.definition.toHub(o);
    hub.apiVersion = this.hubApiVersion;
    hub.kind = this.kind.names.kind;
    return hub;
  }

  /** A hub object as this version. The hub object is not changed; hub-version answers are the object itself. */
  encode(o: T): T {
    if (o.apiVersion === this.apiVersion) return o;
    const cached = this.encoded.get(o);
    if (cached) return cached;
    const out = {
      ...this.definition.fromHub(o),
      apiVersion: this.apiVersion,
      kind: this.kind.names.kind,
    } as unknown as T;
    if (Object.isFrozen(o)) this.encoded.set(o, Object.freeze(out));
    return out;
  }
}

export class WidgetCodec extends VersionCodec<Widget> {
  constructor(group: string, version: string) {
    super(group, widgetKind, version);
  }
}
