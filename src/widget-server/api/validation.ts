/**
 * Validation of Widgets with apimachinery's rules and messages: ObjectMeta (names, labels, annotations,
 * ownerReferences, finalizers), the Widget spec and status (metav1.Condition rules), immutable fields on
 * update, and the Scale subresource.
 */
import type { FieldError } from '../../shared/status-errors';
import {
  MAX_REPLICAS,
  MIN_REPLICAS,
  WIDGET_COLORS,
  WIDGET_PHASES,
  type ObjectMeta,
  type Scale,
  type Widget,
} from './types';

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const QUALIFIED_NAME_PART = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE = `(${QUALIFIED_NAME_PART})?`;
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_ANNOTATIONS_BYTES = 256 * 1024;
const MAX_CONDITION_MESSAGE = 32768;

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
  else {
    if (name.length > 63) errs.push('name part must be no more than 63 characters');
    if (!QUALIFIED_RE.test(name)) errs.push(qualifiedNameMessage);
  }
  return errs;
}

function invalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, value, detail };
}

export function validateObjectMeta(meta: ObjectMeta, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  if (!meta.name && !meta.generateName) {
    errs.push({
      type: 'FieldValueRequired',
      field: 'metadata.name',
      detail: 'name or generateName is required',
    });
  }
  if (meta.name)
    for (const e of subdomainErrors(meta.name)) errs.push(invalid('metadata.name', meta.name, e));
  if (meta.generateName && !meta.name) {
    // The generated name adds 5 characters; the prefix alone must be a valid name prefix.
    const prefix = meta.generateName.replace(/-$/, 'a');
    for (const e of subdomainErrors(prefix))
      errs.push(invalid('metadata.generateName', meta.generateName, e));
  }
  if (namespaced) {
    if (!meta.namespace) errs.push({ type: 'FieldValueRequired', field: 'metadata.namespace', detail: '' });
    else {
      if (meta.namespace.length > 63)
        errs.push(invalid('metadata.namespace', meta.namespace, 'must be no more than 63 characters'));
      if (!LABEL_RE.test(meta.namespace))
        errs.push(invalid('metadata.namespace', meta.namespace, labelMessage));
    }
  }
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    for (const e of qualifiedNameErrors(k)) errs.push(invalid('metadata.labels', k, e));
    if (v.length > 63) errs.push(invalid(`metadata.labels`, v, 'must be no more than 63 characters'));
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
      detail: `must have at most ${MAX_ANNOTATIONS_BYTES} bytes`,
    });
  }
  const refs = meta.ownerReferences ?? [];
  refs.forEach((ref, i) => {
    const p = `metadata.ownerReferences[${i}]`;
    if (!ref.apiVersion)
      errs.push(invalid(`${p}.apiVersion`, ref.apiVersion ?? '', 'version must not be empty'));
    if (!ref.kind) errs.push(invalid(`${p}.kind`, ref.kind ?? '', 'kind must not be empty'));
    if (!ref.name) errs.push(invalid(`${p}.name`, ref.name ?? '', 'name must not be empty'));
    if (!ref.uid) errs.push(invalid(`${p}.uid`, ref.uid ?? '', 'uid must not be empty'));
  });
  const controllers = refs.filter((r) => r.controller);
  if (controllers.length > 1) {
    errs.push(
      invalid('metadata.ownerReferences', refs, 'Only one reference can have Controller set to true'),
    );
  }
  (meta.finalizers ?? []).forEach((f, i) => {
    for (const e of qualifiedNameErrors(f)) errs.push(invalid(`metadata.finalizers[${i}]`, f, e));
  });
  return errs;
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
  if (spec.replicas !== undefined) {
    if (spec.replicas < MIN_REPLICAS)
      errs.push(invalid('spec.replicas', spec.replicas, `must be greater than or equal to ${MIN_REPLICAS}`));
    if (spec.replicas > MAX_REPLICAS)
      errs.push(invalid('spec.replicas', spec.replicas, `must be less than or equal to ${MAX_REPLICAS}`));
  }
  if (spec.color !== undefined && !(WIDGET_COLORS as readonly string[]).includes(spec.color)) {
    errs.push({
      type: 'FieldValueNotSupported',
      field: 'spec.color',
      value: spec.color,
      detail: `supported values: ${[...WIDGET_COLORS]
        .sort()
        .map((c) => `"${c}"`)
        .join(', ')}`,
    });
  }
  return errs;
}

export function validateWidgetCreate(w: Widget): FieldError[] {
  return [...validateObjectMeta(w.metadata, true), ...validateSpec(w), ...validateWidgetStatus(w)];
}

export function validateWidgetUpdate(w: Widget, old: Widget): FieldError[] {
  const errs = [...validateObjectMeta(w.metadata, true), ...validateSpec(w)];
  const immutable: Array<keyof ObjectMeta> = ['name', 'namespace', 'uid', 'creationTimestamp'];
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
  if (status.phase !== undefined && !(WIDGET_PHASES as readonly string[]).includes(status.phase)) {
    errs.push({
      type: 'FieldValueNotSupported',
      field: 'status.phase',
      value: status.phase,
      detail: `supported values: ${WIDGET_PHASES.map((p) => `"${p}"`).join(', ')}`,
    });
  }
  if (status.availableReplicas !== undefined && status.availableReplicas < 0) {
    errs.push(
      invalid('status.availableReplicas', status.availableReplicas, 'must be greater than or equal to 0'),
    );
  }
  const seen = new Set<string>();
  (status.conditions ?? []).forEach((c, i) => {
    const p = `status.conditions[${i}]`;
    if (!c.type) errs.push({ type: 'FieldValueRequired', field: `${p}.type`, detail: '' });
    else {
      for (const e of qualifiedNameErrors(c.type)) errs.push(invalid(`${p}.type`, c.type, e));
      if (seen.has(c.type)) errs.push({ type: 'FieldValueDuplicate', field: `${p}.type`, value: c.type });
      seen.add(c.type);
    }
    if (!['True', 'False', 'Unknown'].includes(c.status)) {
      errs.push({
        type: 'FieldValueNotSupported',
        field: `${p}.status`,
        value: c.status,
        detail: 'supported values: "False", "True", "Unknown"',
      });
    }
    if (!c.lastTransitionTime)
      errs.push({ type: 'FieldValueRequired', field: `${p}.lastTransitionTime`, detail: 'must be set' });
    else if (Number.isNaN(Date.parse(c.lastTransitionTime))) {
      errs.push(invalid(`${p}.lastTransitionTime`, c.lastTransitionTime, 'must be an RFC 3339 date-time'));
    }
    if (!c.reason) errs.push({ type: 'FieldValueRequired', field: `${p}.reason`, detail: '' });
    else {
      if (c.reason.length > 1024)
        errs.push({
          type: 'FieldValueTooLong',
          field: `${p}.reason`,
          detail: 'may not be more than 1024 bytes',
        });
      if (!CONDITION_REASON.test(c.reason)) {
        errs.push(
          invalid(
            `${p}.reason`,
            c.reason,
            `a condition reason must start with alphabetic character, optionally followed by a string of alphanumeric characters or '_,:', and must end with an alphanumeric character or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName',  or 'ReasonA,ReasonB',  or 'ReasonA:ReasonB', regex used for validation is '${CONDITION_REASON.source.slice(1, -1)}')`,
          ),
        );
      }
    }
    if ((c.message ?? '').length > MAX_CONDITION_MESSAGE) {
      errs.push({
        type: 'FieldValueTooLong',
        field: `${p}.message`,
        detail: `may not be more than ${MAX_CONDITION_MESSAGE} bytes`,
      });
    }
    if (c.observedGeneration !== undefined && c.observedGeneration < 0) {
      errs.push(
        invalid(`${p}.observedGeneration`, c.observedGeneration, 'must be greater than or equal to zero'),
      );
    }
  });
  return errs;
}

export function validateScale(s: Scale): FieldError[] {
  const replicas = s.spec.replicas ?? 0;
  const errs: FieldError[] = [];
  if (replicas < MIN_REPLICAS)
    errs.push(invalid('spec.replicas', replicas, `must be greater than or equal to ${MIN_REPLICAS}`));
  if (replicas > MAX_REPLICAS)
    errs.push(invalid('spec.replicas', replicas, `must be less than or equal to ${MAX_REPLICAS}`));
  return errs;
}
