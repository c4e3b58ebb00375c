/**
 * Decoding request bodies into Widgets, Scales and DeleteOptions the way kube-apiserver's JSON decoder
 * does: apiVersion/kind checks, Go-style type errors, and unknown-field detection for
 * fieldValidation=Strict|Warn|Ignore. Unknown fields are always pruned, so they are never stored.
 * The schema below is the one source of the Widget's field set for decoding.
 */
import { badRequest } from '../../shared/status-errors';
import { apiVersionOf, KIND, type ApiIdentity, type DeleteOptions, type Scale, type Widget } from './types';

type Scalar = 'string' | 'int32' | 'int64' | 'bool' | 'any';
type Schema =
  | { kind: 'scalar'; type: Scalar }
  | { kind: 'object'; goName: string; fields: Record<string, Schema> }
  | { kind: 'map'; values: Schema }
  | { kind: 'array'; items: Schema };

const str: Schema = { kind: 'scalar', type: 'string' };
const int32: Schema = { kind: 'scalar', type: 'int32' };
const int64: Schema = { kind: 'scalar', type: 'int64' };
const bool: Schema = { kind: 'scalar', type: 'bool' };
const any: Schema = { kind: 'scalar', type: 'any' };
const obj = (goName: string, fields: Record<string, Schema>): Schema => ({ kind: 'object', goName, fields });

const ownerReference = obj('OwnerReference', {
  apiVersion: str,
  kind: str,
  name: str,
  uid: str,
  controller: bool,
  blockOwnerDeletion: bool,
});

export const OBJECT_META_SCHEMA = obj('ObjectMeta', {
  name: str,
  generateName: str,
  namespace: str,
  selfLink: str,
  uid: str,
  resourceVersion: str,
  generation: int64,
  creationTimestamp: str,
  deletionTimestamp: str,
  deletionGracePeriodSeconds: int64,
  labels: { kind: 'map', values: str },
  annotations: { kind: 'map', values: str },
  ownerReferences: { kind: 'array', items: ownerReference },
  finalizers: { kind: 'array', items: str },
  managedFields: { kind: 'array', items: any },
});

const condition = obj('Condition', {
  type: str,
  status: str,
  observedGeneration: int64,
  lastTransitionTime: str,
  reason: str,
  message: str,
});

const WIDGET_SCHEMA = obj('Widget', {
  apiVersion: str,
  kind: str,
  metadata: OBJECT_META_SCHEMA,
  spec: obj('WidgetSpec', { replicas: int32, image: str, color: str }),
  status: obj('WidgetStatus', {
    availableReplicas: int32,
    phase: str,
    lastUpdated: str,
    conditions: { kind: 'array', items: condition },
  }),
});

const SCALE_SCHEMA = obj('Scale', {
  apiVersion: str,
  kind: str,
  metadata: OBJECT_META_SCHEMA,
  spec: obj('ScaleSpec', { replicas: int32 }),
  status: obj('ScaleStatus', { replicas: int32, selector: str }),
});

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return `number ${v}`.replace(/^number (-?\d+)$/, 'number');
  return typeof v;
}

const goTypes: Record<Scalar, string> = {
  string: 'string',
  int32: 'int32',
  int64: 'int64',
  bool: 'bool',
  any: 'interface {}',
};

interface DecodeState {
  unknown: string[];
  typeError?: string;
}

function walk(value: unknown, schema: Schema, path: string, structPath: string, state: DecodeState): unknown {
  if (value === null || value === undefined) return undefined;
  const fail = (goType: string) => {
    state.typeError ??= `json: cannot unmarshal ${jsonType(value).replace(/^number .*/, 'number')} into Go struct field ${structPath} of type ${goType}`;
    return undefined;
  };
  switch (schema.kind) {
    case 'scalar': {
      const t = schema.type;
      if (t === 'any') return value;
      if (t === 'string') return typeof value === 'string' ? value : fail('string');
      if (t === 'bool') return typeof value === 'boolean' ? value : fail('bool');
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail(goTypes[t]);
      const limit = t === 'int32' ? 2 ** 31 : 2 ** 63;
      if (value >= limit || value < -limit) return fail(goTypes[t]);
      return value;
    }
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) return fail('map[string]string');
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const decoded = walk(v, schema.values, `${path}.${k}`, structPath, state);
        if (decoded !== undefined) out[k] = decoded;
      }
      return out;
    }
    case 'array': {
      if (!Array.isArray(value))
        return fail(`[]${schema.items.kind === 'object' ? schema.items.goName : 'string'}`);
      return value
        .map((item, i) => walk(item, schema.items, `${path}[${i}]`, structPath, state))
        .filter((v) => v !== undefined);
    }
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return fail(schema.goName);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const fieldPath = path ? `${path}.${k}` : k;
        const field = schema.fields[k];
        if (!field) {
          state.unknown.push(fieldPath);
          continue;
        }
        // Go names the struct that holds the field, followed by the field's full JSON path.
        const decoded = walk(v, field, fieldPath, `${schema.goName}.${fieldPath}`, state);
        if (decoded !== undefined) out[k] = decoded;
      }
      return out;
    }
  }
}

export type FieldValidationMode = 'Strict' | 'Warn' | 'Ignore';

function decodeWith(
  body: unknown,
  schema: Schema,
  kind: string,
  apiVersion: string,
  version: string,
  mode: FieldValidationMode,
): { value: Record<string, unknown>; warnings: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(
      `${kind} in version "${version}" cannot be handled as a ${kind}: json: cannot unmarshal ${jsonType(body)} into Go value of type struct`,
    );
  }
  const b = body as Record<string, unknown>;
  if (b.kind === undefined || b.kind === '') {
    throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body).slice(0, 512)}'`);
  }
  if (b.apiVersion !== apiVersion) {
    throw badRequest(
      `the API version in the data (${String(b.apiVersion ?? '')}) does not match the expected API version (${apiVersion})`,
    );
  }
  if (b.kind !== kind) {
    throw badRequest(`the kind in the data (${String(b.kind)}) does not match the expected kind (${kind})`);
  }
  const state: DecodeState = { unknown: [] };
  const value = walk(body, schema, '', schema.kind === 'object' ? schema.goName : kind, state) as Record<
    string,
    unknown
  >;
  if (state.typeError)
    throw badRequest(`${kind} in version "${version}" cannot be handled as a ${kind}: ${state.typeError}`);
  const messages = state.unknown.map((p) => `unknown field "${p}"`);
  if (messages.length && mode === 'Strict') {
    throw badRequest(
      `${kind} in version "${version}" cannot be handled as a ${kind}: strict decoding error: ${messages.join(', ')}`,
    );
  }
  return { value, warnings: mode === 'Warn' ? messages : [] };
}

export function decodeWidget(
  body: unknown,
  opts: { identity: ApiIdentity; fieldValidation: FieldValidationMode; subresource?: 'status' },
): { widget: Widget; warnings: string[] } {
  const { value, warnings } = decodeWith(
    body,
    WIDGET_SCHEMA,
    KIND,
    apiVersionOf(opts.identity),
    opts.identity.version,
    opts.fieldValidation,
  );
  const widget = value as unknown as Widget;
  widget.metadata ??= {};
  widget.spec ??= {} as Widget['spec'];
  return { widget, warnings };
}

export function decodeScale(
  body: unknown,
  opts: { fieldValidation: FieldValidationMode },
): { scale: Scale; warnings: string[] } {
  const { value, warnings } = decodeWith(
    body,
    SCALE_SCHEMA,
    'Scale',
    'autoscaling/v1',
    'v1',
    opts.fieldValidation,
  );
  const scale = value as unknown as Scale;
  scale.metadata ??= {};
  scale.spec ??= {};
  scale.status ??= { replicas: 0 };
  return { scale, warnings };
}

const PROPAGATION = ['Orphan', 'Background', 'Foreground'];

export function decodeDeleteOptions(body: unknown): DeleteOptions {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw badRequest('DeleteOptions must be a JSON object');
  const b = body as Record<string, unknown>;
  if (b.kind !== undefined && b.kind !== 'DeleteOptions') {
    throw badRequest(
      `the kind in the data (${String(b.kind)}) does not match the expected kind (DeleteOptions)`,
    );
  }
  if (b.apiVersion !== undefined && !['v1', 'meta.k8s.io/v1'].includes(String(b.apiVersion))) {
    throw badRequest(
      `the API version in the data (${String(b.apiVersion)}) does not match the expected API version (v1)`,
    );
  }
  const out: DeleteOptions = {};
  if (b.gracePeriodSeconds !== undefined && b.gracePeriodSeconds !== null) {
    if (!Number.isInteger(b.gracePeriodSeconds)) throw badRequest('gracePeriodSeconds must be an integer');
    out.gracePeriodSeconds = b.gracePeriodSeconds as number;
  }
  if (b.propagationPolicy !== undefined && b.propagationPolicy !== null) {
    if (!PROPAGATION.includes(String(b.propagationPolicy))) {
      throw badRequest(
        `propagationPolicy: Unsupported value: "${String(b.propagationPolicy)}": supported values: "Background", "Foreground", "Orphan"`,
      );
    }
    out.propagationPolicy = b.propagationPolicy as DeleteOptions['propagationPolicy'];
  }
  if (typeof b.orphanDependents === 'boolean') out.orphanDependents = b.orphanDependents;
  if (b.preconditions && typeof b.preconditions === 'object') {
    const p = b.preconditions as Record<string, unknown>;
    out.preconditions = {};
    if (typeof p.uid === 'string') out.preconditions.uid = p.uid;
    if (typeof p.resourceVersion === 'string') out.preconditions.resourceVersion = p.resourceVersion;
  }
  if (Array.isArray(b.dryRun)) out.dryRun = b.dryRun.map(String);
  return out;
}
