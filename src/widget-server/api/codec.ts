/**
 * One served version of the Widget kind at the HTTP edge: decoding a request body of that version into
 * the hub type (decode, the version's defaults, conversion), and encoding hub objects as that version
 * for answers and watch events. The registry and storage see only hub objects; storage writes the
 * storage version through the same codec.
 */
import { applyDefaults } from '../schema/defaults';
import { widgetVersion, type WidgetVersion } from '../apis/widgets';
import { decodeWidget, type FieldValidationMode } from './decode';
import { KIND, type Widget } from './types';
import type { KindCodec } from '../registry/generic/types';

/** The version whose shape the hub (internal) type has: its conversions are the identity. */
export const HUB_VERSION = 'v1';

export class WidgetCodec implements KindCodec<Widget> {
  readonly apiVersion: string;
  readonly version: string;
  private readonly definition: WidgetVersion;
  /** Encoded objects per hub object: a frozen watch event object is converted once, not per watcher. */
  private readonly encoded = new WeakMap<object, Widget>();

  constructor(
    readonly group: string,
    version: string,
  ) {
    const definition = widgetVersion(version);
    if (!definition) throw new Error(`Widget is not served in version ${version}`);
    this.definition = definition;
    this.version = version;
    this.apiVersion = `${group}/${version}`;
  }

  get isHub(): boolean {
    return this.version === HUB_VERSION;
  }

  /** A request body of this version as a hub object, with this version's defaults applied first. */
  decode(
    body: unknown,
    opts: { fieldValidation: FieldValidationMode },
  ): { object: Widget; warnings: string[] } {
    const { widget, warnings } = decodeWidget(body, {
      identity: { group: this.group, version: this.version },
      fieldValidation: opts.fieldValidation,
    });
    return { object: this.toHub(widget as unknown as Record<string, unknown>), warnings };
  }

  /** An object of this version (decoded, or read from storage) as a hub object. */
  toHub(o: Record<string, unknown>): Widget {
    applyDefaults(this.definition.schema.widget, o);
    const hub = this.definition.toHub(o);
    hub.apiVersion = `${this.group}/${HUB_VERSION}`;
    hub.kind = KIND;
    return hub;
  }

  /** A hub object as this version. The hub object is not changed; hub-version answers are the object itself. */
  encode(w: Widget): Widget {
    if (w.apiVersion === this.apiVersion) return w;
    const cached = this.encoded.get(w);
    if (cached) return cached;
    const out = {
      ...this.definition.fromHub(w),
      apiVersion: this.apiVersion,
      kind: KIND,
    } as unknown as Widget;
    if (Object.isFrozen(w)) this.encoded.set(w, Object.freeze(out));
    return out;
  }
}
