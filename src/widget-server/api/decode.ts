/**
 * Decoding request bodies into Widgets, Scales and DeleteOptions the way kube-apiserver's JSON decoder
 * does: apiVersion/kind checks, Go-style type errors, and unknown-field detection for
 * fieldValidation=Strict|Warn|Ignore. Unknown fields are always pruned, so they are never stored.
 * The field set is the schema's (apis/), as for every other derived piece.
 */
import { badRequest } from '../../shared/status-errors';
import { strictFindingsOf } from './json-bounded';
import { KIND, type ApiIdentity, type DeleteOptions, type Scale, type Widget } from './types';
import type { Node, ObjectNode } from '../schema/schema';
import { goTypeName, type TypeContext } from '../schema/openapi';
import { SCALE_SCHEMA, widgetSchemas } from '../apis/widgets';

/** How encoding/json names a JSON value in "cannot unmarshal <value> into ..." errors. */
function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/** The Go type as reflect prints it: v1.WidgetSpec, []v1.OwnerReference, map[string]string. */
function goType(node: Node, ctx: TypeContext): string {
  switch (node.type) {
    case 'string':
      return 'string';
    case 'integer':
      return node.format;
    case 'boolean':
      return 'bool';
    case 'any':
      return 'interface {}';
    case 'object':
      return node.named ? goTypeName(node.named, ctx) : 'struct';
    case 'map':
      return `map[string]${goType(node.values, ctx)}`;
    case 'array':
      return `[]${goType(node.items, ctx)}`;
  }
}

/**
 * Sets an own property even for the key `__proto__` (plain assignment would replace the prototype and
 * drop the value, so a `__proto__` label would vanish before validation could refuse it).
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

interface DecodeState {
  ctx: TypeContext;
  unknown: string[];
  typeError?: string;
}

/**
 * Decodes `value` against `schema`. `path` is the JSON path with list indices (how strict decoding names
 * unknown fields: `spec.foo`, `metadata.ownerReferences[0].bar`); `goPath` is encoding/json's error
 * context: the innermost struct's name and the JSON field names without indices.
 */
function walk(
  value: unknown,
  schema: Node,
  path: string,
  goPath: { struct: string; fields: string[] },
  state: DecodeState,
): unknown {
  if (value === null || value === undefined) return undefined;
  const fail = (jsonValue = jsonType(value)) => {
    const into = goPath.fields.length
      ? `Go struct field ${goPath.struct}.${goPath.fields.join('.')}`
      : 'Go value';
    state.typeError ??= `json: cannot unmarshal ${jsonValue} into ${into} of type ${goType(schema, state.ctx)}`;
    return undefined;
  };
  switch (schema.type) {
    case 'any':
      return value;
    case 'string':
      return typeof value === 'string' ? value : fail();
    case 'boolean':
      return typeof value === 'boolean' ? value : fail();
    case 'integer': {
      if (typeof value !== 'number') return fail();
      const limit = schema.format === 'int32' ? 2 ** 31 : 2 ** 63;
      // Go quotes the literal when a number does not fit the integer type.
      if (!Number.isInteger(value) || value >= limit || value < -limit) return fail(`number ${value}`);
      return value;
    }
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) return fail();
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        // encoding/json stores a null map element as the element type's zero value.
        if (v === null && schema.values.type === 'string') {
          setOwn(out, k, '');
          continue;
        }
        const decoded = walk(v, schema.values, `${path}.${k}`, goPath, state);
        if (decoded !== undefined) setOwn(out, k, decoded);
      }
      return out;
    }
    case 'array': {
      if (!Array.isArray(value)) return fail();
      return value
        .map((item, i) => walk(item, schema.items, `${path}[${i}]`, goPath, state))
        .filter((v) => v !== undefined);
    }
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return fail();
      const out: Record<string, unknown> = {};
      const struct = schema.named?.name ?? goPath.struct;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const fieldPath = path ? `${path}.${k}` : k;
        // Own properties only: `__proto__` or `constructor` must be unknown fields, not Object's members.
        const field = Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
        if (!field) {
          state.unknown.push(fieldPath);
          continue;
        }
        const decoded = walk(v, field, fieldPath, { struct, fields: [...goPath.fields, k] }, state);
        if (decoded !== undefined) setOwn(out, k, decoded);
      }
      return out;
    }
  }
}

export type FieldValidationMode = 'Strict' | 'Warn' | 'Ignore';

function decodeWith(
  body: unknown,
  schema: ObjectNode,
  kind: string,
  ctx: TypeContext,
  mode: FieldValidationMode,
): { value: Record<string, unknown>; warnings: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(
      `couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonType(body)} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`,
    );
  }
  const b = body as Record<string, unknown>;
  const shown = () => JSON.stringify(body);
  if (b.kind !== undefined && typeof b.kind !== 'string') {
    throw badRequest(
      `couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonType(b.kind)} into Go struct field .kind of type string`,
    );
  }
  if (b.apiVersion !== undefined && typeof b.apiVersion !== 'string') {
    throw badRequest(
      `couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonType(b.apiVersion)} into Go struct field .apiVersion of type string`,
    );
  }
  if (!b.kind) throw badRequest(`Object 'Kind' is missing in '${shown()}'`);
  if (!b.apiVersion) throw badRequest(`Object 'apiVersion' is missing in '${shown()}'`);
  const { version } = ctx;
  const apiVersion = ctx.group ? `${ctx.group}/${version}` : version;
  if (b.apiVersion !== apiVersion) {
    throw badRequest(
      `the API version in the data (${String(b.apiVersion ?? '')}) does not match the expected API version (${apiVersion})`,
    );
  }
  if (b.kind !== kind) {
    throw badRequest(`the kind in the data (${String(b.kind)}) does not match the expected kind (${kind})`);
  }
  const state: DecodeState = { ctx, unknown: [] };
  const value = walk(body, schema, '', { struct: kind, fields: [] }, state) as Record<string, unknown>;
  if (state.typeError)
    throw badRequest(`${kind} in version "${version}" cannot be handled as a ${kind}: ${state.typeError}`);
  // kube-apiserver's strict decoding errors: JSON duplicate fields (sigs.k8s.io/json), unknown fields
  // by path, then YAML keys set twice (YAMLToJSONStrict).
  const unknown = state.unknown.map((p) => `unknown field "${p}"`);
  const found = strictFindingsOf(body);
  const merge = (own: string[]) => (found.afterUnknownFields ? [...unknown, ...own] : [...own, ...unknown]);
  const errors = merge(found.errors);
  if (errors.length && mode === 'Strict') {
    throw badRequest(
      `${kind} in version "${version}" cannot be handled as a ${kind}: strict decoding error: ${errors.join(', ')}`,
    );
  }
  return { value, warnings: mode === 'Warn' ? merge(found.warnings) : [] };
}

/**
 * A request body of one kind and version, decoded against that version's schema: a required field of
 * a struct type that is absent decodes to an empty object, as Go's zero value of a non-pointer struct.
 */
export function decodeObject(
  body: unknown,
  opts: { schema: ObjectNode; kind: string; identity: ApiIdentity; fieldValidation: FieldValidationMode },
): { value: Record<string, unknown> & { metadata: Record<string, unknown> }; warnings: string[] } {
  const { value, warnings } = decodeWith(body, opts.schema, opts.kind, opts.identity, opts.fieldValidation);
  value.metadata ??= {};
  for (const field of opts.schema.required ?? []) {
    if (value[field] === undefined && opts.schema.properties[field]?.type === 'object') value[field] = {};
  }
  return { value: value as Record<string, unknown> & { metadata: Record<string, unknown> }, warnings };
}

/**
 * A server-side apply configuration of one kind and version: type-checked and pruned like a body, but
 * nothing added (no zero values, no defaults), since a manager owns exactly the fields it sends.
 */
export function decodeApplyConfiguration(
  body: unknown,
  opts: { schema: ObjectNode; kind: string; identity: ApiIdentity; fieldValidation: FieldValidationMode },
): { value: Record<string, unknown>; warnings: string[] } {
  return decodeWith(body, opts.schema, opts.kind, opts.identity, opts.fieldValidation);
}

export function decodeWidget(
  body: unknown,
  opts: { identity: ApiIdentity; fieldValidation: FieldValidationMode },
): { widget: Widget; warnings: string[] } {
  const { value, warnings } = decodeObject(body, {
    schema: widgetSchemas(opts.identity.version).object,
    kind: KIND,
    identity: opts.identity,
    fieldValidation: opts.fieldValidation,
  });
  return { widget: value as unknown as Widget, warnings };
}

export function decodeScale(
  body: unknown,
  opts: { fieldValidation: FieldValidationMode; schema?: ObjectNode },
): { scale: Scale; warnings: string[] } {
  const { value, warnings } = decodeWith(
    body,
    opts.schema ?? SCALE_SCHEMA,
    'Scale',
    { group: 'autoscaling', version: 'v1' },
    opts.fieldValidation,
  );
  const scale = value as unknown as Scale;
  scale.metadata ??= {};
  scale.spec ??= {};
  scale.status ??= { replicas: 0 };
  return { scale, warnings };
}

const PROPAGATION = ['Orphan', 'Background', 'Foreground'];

const deleteOptionsError = (why: string) =>
  badRequest(`DeleteOptions in version "v1" cannot be handled as a DeleteOptions: ${why}`);

function typed<T>(
  b: Record<string, unknown>,
  field: string,
  type: 'string' | 'boolean' | 'int64',
): T | undefined {
  const v = b[field];
  if (v === undefined || v === null) return undefined;
  const ok = type === 'int64' ? Number.isInteger(v) : typeof v === type;
  if (!ok) {
    const goType = type === 'boolean' ? 'bool' : type;
    throw deleteOptionsError(
      `json: cannot unmarshal ${jsonType(v)} into Go struct field DeleteOptions.${field} of type ${goType}`,
    );
  }
  return v as T;
}

/**
 * DeleteOptions from a DELETE body (kind DeleteOptions, apiVersion v1 or meta.k8s.io/v1, both optional),
 * checked like apimachinery's ValidateDeleteOptions: propagationPolicy values, orphanDependents and
 * propagationPolicy not both set, dryRun only "All".
 */
export function decodeDeleteOptions(body: unknown): DeleteOptions {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw deleteOptionsError(
      `json: cannot unmarshal ${jsonType(body)} into Go value of type v1.DeleteOptions`,
    );
  }
  const b = body as Record<string, unknown>;
  if (b.kind !== undefined && b.kind !== '' && b.kind !== 'DeleteOptions') {
    throw badRequest(
      `the kind in the data (${String(b.kind)}) does not match the expected kind (DeleteOptions)`,
    );
  }
  if (
    b.apiVersion !== undefined &&
    b.apiVersion !== '' &&
    !['v1', 'meta.k8s.io/v1'].includes(String(b.apiVersion))
  ) {
    throw badRequest(
      `the API version in the data (${String(b.apiVersion)}) does not match the expected API version (v1)`,
    );
  }
  const out: DeleteOptions = {};
  if (typeof b.kind === 'string' && b.kind) out.kind = b.kind;
  if (typeof b.apiVersion === 'string' && b.apiVersion) out.apiVersion = b.apiVersion;
  const grace = typed<number>(b, 'gracePeriodSeconds', 'int64');
  if (grace !== undefined) out.gracePeriodSeconds = grace;
  const policy = typed<string>(b, 'propagationPolicy', 'string');
  const orphan = typed<boolean>(b, 'orphanDependents', 'boolean');
  if (orphan !== undefined) out.orphanDependents = orphan;
  if (policy !== undefined) {
    if (!PROPAGATION.includes(policy)) {
      throw badRequest(
        `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan", "nil"`,
      );
    }
    if (orphan !== undefined) {
      throw badRequest(
        `propagationPolicy: Invalid value: "${policy}": orphanDependents and deletionPropagation cannot be both set`,
      );
    }
    out.propagationPolicy = policy as DeleteOptions['propagationPolicy'];
  }
  if (b.preconditions !== undefined && b.preconditions !== null) {
    if (typeof b.preconditions !== 'object' || Array.isArray(b.preconditions)) {
      throw deleteOptionsError(
        `json: cannot unmarshal ${jsonType(b.preconditions)} into Go struct field DeleteOptions.preconditions of type v1.Preconditions`,
      );
    }
    const p = b.preconditions as Record<string, unknown>;
    out.preconditions = {};
    for (const key of ['uid', 'resourceVersion'] as const) {
      const v = p[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') {
        throw deleteOptionsError(
          `json: cannot unmarshal ${jsonType(v)} into Go struct field Preconditions.preconditions.${key} of type string`,
        );
      }
      out.preconditions[key] = v;
    }
  }
  if (b.dryRun !== undefined && b.dryRun !== null) {
    if (!Array.isArray(b.dryRun) || b.dryRun.some((v) => typeof v !== 'string')) {
      throw deleteOptionsError(
        `json: cannot unmarshal ${jsonType(b.dryRun)} into Go struct field DeleteOptions.dryRun of type []string`,
      );
    }
    for (const v of b.dryRun as string[]) {
      if (v !== 'All') throw badRequest(`dryRun: Unsupported value: "${v}": supported values: "All"`);
    }
    out.dryRun = b.dryRun as string[];
  }
  return out;
}
