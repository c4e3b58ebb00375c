/**
 * Validation of Widgets with apimachinery's rules and messages: ObjectMeta (names, labels, annotations,
 * ownerReferences, finalizers), the Widget spec and status (metav1.Condition rules), immutable fields on
 * update, and the Scale subresource. Enums and bounds come from the schema (schema/validate.ts).
 */
import type { FieldError } from '../../shared/status-errors';
import type { ObjectMeta, Scale, Widget } from './types';
import {
  SCALE_SCHEMA,
  WIDGET_RESOURCE_NAMES,
  widgetSpec,
  widgetStatus,
  type WidgetSpec,
} from '../apis/widgets/v1';
import { quantityNanos } from './quantity';
import { schemaErrors } from '../schema/validate';
import type { ObjectNode } from '../schema/schema';

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const QUALIFIED_NAME_PART = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE = `(${QUALIFIED_NAME_PART})?`;
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_ANNOTATIONS_BYTES = 256 * 1024;
const MAX_CONDITION_MESSAGE = 32768;
const MAX_CONDITION_REASON = 1024;

const subdomainMessage =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '" +
  DNS1123_SUBDOMAIN +
  "')";
const labelMessage =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '" +
  DNS1123_LABEL +
  "')";
const qualifiedNameMessage =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" +
  QUALIFIED_NAME_PART +
  "')";
const labelValueMessage =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '" +
  LABEL_VALUE +
  "')";

const full = (re: string) => new RegExp(`^${re}$`);
const SUBDOMAIN_RE = full(DNS1123_SUBDOMAIN);
const LABEL_RE = full(DNS1123_LABEL);
const QUALIFIED_RE = full(QUALIFIED_NAME_PART);
const LABEL_VALUE_RE = full(LABEL_VALUE);

export function subdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push('must be no more than 253 characters');
  if (!SUBDOMAIN_RE.test(value)) errs.push(subdomainMessage);
  return errs;
}

/** A qualified name: optional DNS-subdomain prefix and '/', then a name part of at most 63 characters. */
export function qualifiedNameErrors(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name = value;
  if (parts.length === 2) {
    const [prefix, rest] = parts;
    name = rest;
    if (!prefix) errs.push('prefix part must be non-empty');
    else for (const e of subdomainErrors(prefix)) errs.push(`prefix part ${e}`);
  } else if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" +
        QUALIFIED_NAME_PART +
        "') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (!name) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (!QUALIFIED_RE.test(name)) errs.push(qualifiedNameMessage);
  return errs;
}

function invalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, value, detail };
}

/** NameIsDNSSubdomain with prefix=true masks one trailing dash: the server appends random characters. */
function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -1)}a` : name;
}

const ORPHAN_FINALIZER = 'orphan';
const FOREGROUND_FINALIZER = 'foregroundDeletion';

/** apimachinery's ValidateObjectMeta (pkg/api/validation/objectmeta.go), in its order and with its messages. */
export function validateObjectMeta(meta: ObjectMeta, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  if (meta.generateName) {
    for (const e of subdomainErrors(maskTrailingDash(meta.generateName)))
      errs.push(invalid('metadata.generateName', meta.generateName, e));
  }
  if (!meta.name) {
    errs.push({
      type: 'FieldValueRequired',
      field: 'metadata.name',
      detail: 'name or generateName is required',
    });
  } else {
    for (const e of subdomainErrors(meta.name)) errs.push(invalid('metadata.name', meta.name, e));
  }
  if (namespaced) {
    if (!meta.namespace) errs.push({ type: 'FieldValueRequired', field: 'metadata.namespace', detail: '' });
    else {
      if (meta.namespace.length > 63)
        errs.push(invalid('metadata.namespace', meta.namespace, 'must be no more than 63 characters'));
      if (!LABEL_RE.test(meta.namespace))
        errs.push(invalid('metadata.namespace', meta.namespace, labelMessage));
    }
  } else if (meta.namespace) {
    errs.push({
      type: 'FieldValueForbidden',
      field: 'metadata.namespace',
      detail: 'not allowed on this type',
    });
  }
  if (meta.generation !== undefined && meta.generation < 0) {
    errs.push(invalid('metadata.generation', meta.generation, 'must be greater than or equal to 0'));
  }
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    for (const e of qualifiedNameErrors(k)) errs.push(invalid('metadata.labels', k, e));
    if (v.length > 63) errs.push(invalid('metadata.labels', v, 'must be no more than 63 characters'));
    if (!LABEL_VALUE_RE.test(v)) errs.push(invalid('metadata.labels', v, labelValueMessage));
  }
  let annotationBytes = 0;
  for (const [k, v] of Object.entries(meta.annotations ?? {})) {
    for (const e of qualifiedNameErrors(k.toLowerCase())) errs.push(invalid('metadata.annotations', k, e));
    annotationBytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (annotationBytes > MAX_ANNOTATIONS_BYTES) {
    errs.push({
      type: 'FieldValueTooLong',
      field: 'metadata.annotations',
      detail: `may not be more than ${MAX_ANNOTATIONS_BYTES} bytes`,
    });
  }
  // ValidateOwnerReferences reports on the list's path, not per index.
  const refs = meta.ownerReferences ?? [];
  let controllerName = '';
  for (const ref of refs) {
    const p = 'metadata.ownerReferences';
    if (!apiVersionHasVersion(ref.apiVersion ?? ''))
      errs.push(invalid(`${p}.apiVersion`, ref.apiVersion ?? '', 'version must not be empty'));
    if (!ref.kind) errs.push(invalid(`${p}.kind`, ref.kind ?? '', 'kind must not be empty'));
    if (!ref.name) errs.push(invalid(`${p}.name`, ref.name ?? '', 'name must not be empty'));
    if (!ref.uid) errs.push(invalid(`${p}.uid`, ref.uid ?? '', 'uid must not be empty'));
    if (ref.controller) {
      const current = `${ref.kind}/${ref.name}`;
      if (controllerName) {
        errs.push(
          invalid(
            p,
            refs,
            `Only one reference can have Controller set to true. Found "true" in references for ${controllerName} and ${current}`,
          ),
        );
      } else controllerName = current;
    }
  }
  const finalizers = meta.finalizers ?? [];
  for (const f of finalizers) {
    for (const e of qualifiedNameErrors(f)) errs.push(invalid('metadata.finalizers', f, e));
  }
  if (finalizers.includes(ORPHAN_FINALIZER) && finalizers.includes(FOREGROUND_FINALIZER)) {
    errs.push(
      invalid(
        'metadata.finalizers',
        finalizers,
        `finalizer ${ORPHAN_FINALIZER} and ${FOREGROUND_FINALIZER} cannot be both set`,
      ),
    );
  }
  return errs;
}

/** schema.ParseGroupVersion: "v1" and "apps/v1" have a version; "", "apps/" and "a/b/c" do not. */
function apiVersionHasVersion(apiVersion: string): boolean {
  const parts = apiVersion.split('/');
  if (parts.length === 1) return parts[0] !== '';
  return parts.length === 2 && parts[1] !== '';
}

/** Docker reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest]. */
const IMAGE_REFERENCE =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;

function validateSpec(w: Widget): FieldError[] {
  const errs: FieldError[] = [];
  const spec = w.spec ?? {};
  if (!spec.image) errs.push({ type: 'FieldValueRequired', field: 'spec.image', detail: '' });
  else if (spec.image.length > 1024 || !IMAGE_REFERENCE.test(spec.image)) {
    errs.push(
      invalid(
        'spec.image',
        spec.image,
        'must be a valid image reference, e.g. registry.example.com/team/app:1.2',
      ),
    );
  }
  errs.push(...resourceErrors(spec.resources));
  // Bounds and enums are the schema's.
  errs.push(...schemaErrors(widgetSpec, spec, 'spec'));
  return errs;
}

/** Requests and limits as kube-apiserver checks a container's: known names, quantities, request <= limit. */
function resourceErrors(resources: WidgetSpec['resources']): FieldError[] {
  const errs: FieldError[] = [];
  const values: Record<string, Map<string, bigint>> = {};
  for (const kind of ['requests', 'limits'] as const) {
    values[kind] = new Map();
    for (const [name, value] of Object.entries(resources?.[kind] ?? {})) {
      const field = `spec.resources.${kind}[${name}]`;
      if (!(WIDGET_RESOURCE_NAMES as readonly string[]).includes(name)) {
        errs.push({
          type: 'FieldValueNotSupported',
          field,
          value: name,
          detail: `supported values: ${WIDGET_RESOURCE_NAMES.map((n) => `"${n}"`).join(', ')}`,
        });
        continue;
      }
      const q = typeof value === 'string' ? quantityNanos(value) : { error: 'must be a string' };
      if ('error' in q) errs.push(invalid(field, value, q.error));
      else if (q.nanos < 0n) errs.push(invalid(field, value, 'must be greater than or equal to 0'));
      else values[kind].set(name, q.nanos);
    }
  }
  for (const [name, request] of values.requests) {
    const limit = values.limits.get(name);
    if (limit !== undefined && request > limit)
      errs.push(
        invalid(
          `spec.resources.requests[${name}]`,
          resources!.requests![name],
          `must be less than or equal to ${name} limit of ${resources!.limits![name]}`,
        ),
      );
  }
  return errs;
}

export function validateWidgetCreate(w: Widget): FieldError[] {
  return [...validateObjectMeta(w.metadata, true), ...validateSpec(w), ...validateWidgetStatus(w)];
}

export function validateWidgetUpdate(w: Widget, old: Widget): FieldError[] {
  const errs = [...validateObjectMeta(w.metadata, true), ...validateSpec(w)];
  const immutable: Array<keyof ObjectMeta> = [
    'name',
    'namespace',
    'uid',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
  ];
  for (const key of immutable) {
    if (w.metadata[key] !== old.metadata[key]) {
      errs.push(invalid(`metadata.${key}`, w.metadata[key] ?? '', 'field is immutable'));
    }
  }
  return errs;
}

export function validateWidgetStatus(w: Widget): FieldError[] {
  const errs: FieldError[] = [];
  const status = w.status;
  if (!status) return errs;
  errs.push(...schemaErrors(widgetStatus, status, 'status'));
  // metav1 validation.ValidateConditions: duplicates first, then each condition.
  const seen = new Set<string>();
  (status.conditions ?? []).forEach((c, i) => {
    const p = `status.conditions[${i}]`;
    const type = c.type ?? '';
    if (seen.has(type)) errs.push({ type: 'FieldValueDuplicate', field: `${p}.type`, value: type });
    seen.add(type);
    for (const e of qualifiedNameErrors(type)) errs.push(invalid(`${p}.type`, type, e));
    if (!['True', 'False', 'Unknown'].includes(c.status)) {
      errs.push({
        type: 'FieldValueNotSupported',
        field: `${p}.status`,
        value: c.status ?? '',
        detail: 'supported values: "False", "True", "Unknown"',
      });
    }
    if (c.observedGeneration !== undefined && c.observedGeneration < 0) {
      errs.push(
        invalid(`${p}.observedGeneration`, c.observedGeneration, 'must be greater than or equal to zero'),
      );
    }
    if (!c.lastTransitionTime)
      errs.push({ type: 'FieldValueRequired', field: `${p}.lastTransitionTime`, detail: 'must be set' });
    else if (Number.isNaN(Date.parse(c.lastTransitionTime))) {
      errs.push(invalid(`${p}.lastTransitionTime`, c.lastTransitionTime, 'must be an RFC 3339 date-time'));
    }
    if (!c.reason) errs.push({ type: 'FieldValueRequired', field: `${p}.reason`, detail: 'must be set' });
    else {
      if (!CONDITION_REASON.test(c.reason)) {
        errs.push(
          invalid(
            `${p}.reason`,
            c.reason,
            `a condition reason must start with alphabetic character, optionally followed by a string of alphanumeric characters or '_,:', and must end with an alphanumeric character or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName',  or 'ReasonA,ReasonB',  or 'ReasonA:ReasonB', regex used for validation is '${CONDITION_REASON.source.slice(1, -1)}')`,
          ),
        );
      }
      if (c.reason.length > MAX_CONDITION_REASON) {
        errs.push({
          type: 'FieldValueTooLong',
          field: `${p}.reason`,
          detail: `may not be more than ${MAX_CONDITION_REASON} bytes`,
        });
      }
    }
    if ((c.message ?? '').length > MAX_CONDITION_MESSAGE) {
      errs.push({
        type: 'FieldValueTooLong',
        field: `${p}.message`,
        detail: `may not be more than ${MAX_CONDITION_MESSAGE} bytes`,
      });
    }
  });
  return errs;
}

/** A Scale against the scaled kind's Scale schema (its replica bounds); the Widget's by default. */
export function validateScale(s: Scale, schema: ObjectNode = SCALE_SCHEMA): FieldError[] {
  return schemaErrors(schema, { spec: { replicas: s.spec.replicas ?? 0 } }, '');
}
