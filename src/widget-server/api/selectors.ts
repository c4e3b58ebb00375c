/**
 * Label and field selectors with apimachinery's grammar and matching rules (pkg/labels, pkg/fields):
 * label operators =, ==, !=, in, notin, exists, !exists, and the integer comparisons > and <; field selectors on the fields a Widget
 * exposes. Hand-written: no maintained npm package implements Kubernetes' selector grammar.
 */
import { badRequest } from '../../shared/status-errors';
import type { Widget } from './types';

export type LabelOperator = 'in' | 'notin' | 'exists' | '!' | '=' | '!=' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export interface LabelSelector {
  requirements: Requirement[];
  empty: boolean;
}

export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

export interface FieldSelector {
  requirements: FieldRequirement[];
}

export const WIDGET_SELECTABLE_FIELDS = ['metadata.name', 'metadata.namespace', 'status.phase'] as const;

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function validKey(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (!prefix || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** strconv.ParseInt(v, 10, 64): an optional sign and decimal digits, within int64. */
function parseInt64(v: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(v)) return undefined;
  const n = BigInt(v);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

function validValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else current += ch;
  }
  terms.push(current);
  return terms;
}

function labelError(term: string, why: string) {
  return badRequest(`unable to parse requirement: ${why} in "${term.trim()}"`);
}

export function parseLabelSelector(s: string): LabelSelector {
  const text = s.trim();
  if (!text) return { requirements: [], empty: true };
  const requirements: Requirement[] = [];
  for (const raw of splitTerms(text)) {
    const term = raw.trim();
    if (!term) throw badRequest(`found '', expected: identifier in "${text}"`);
    let m: RegExpExecArray | null;
    let req: Requirement;
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term))) {
      const values = m[3].split(',').map((v) => v.trim());
      if (values.length === 1 && values[0] === '')
        throw labelError(term, "for 'in', 'notin' operators, values set can't be empty");
      req = { key: m[1], operator: m[2] as 'in' | 'notin', values };
    } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term))) {
      req = { key: m[1], operator: m[2] === '!=' ? '!=' : '=', values: [m[3]] };
    } else if ((m = /^([^=!<>\s(),]+)\s*([<>])\s*(\S*)$/.exec(term))) {
      req = { key: m[1], operator: m[2] === '>' ? 'gt' : 'lt', values: [m[3]] };
    } else if ((m = /^!\s*([^=!\s(),]+)$/.exec(term))) {
      req = { key: m[1], operator: '!', values: [] };
    } else if ((m = /^([^=!\s(),]+)$/.exec(term))) {
      req = { key: m[1], operator: 'exists', values: [] };
    } else {
      throw badRequest(`unable to parse requirement: found unexpected token in "${term}"`);
    }
    if (!validKey(req.key)) {
      throw labelError(
        term,
        `key: Invalid value: "${req.key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
      );
    }
    for (const [i, v] of req.values.entries()) {
      if (req.operator === 'gt' || req.operator === 'lt') {
        if (parseInt64(v) === undefined) {
          throw labelError(
            term,
            `values[${i}]: Invalid value: "${v}": for 'Gt', 'Lt' operators, the value must be an integer`,
          );
        }
        continue;
      }
      if (!validValue(v)) {
        throw labelError(
          term,
          `values[${i}][${req.key}]: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
        );
      }
    }
    requirements.push(req);
  }
  return { requirements, empty: requirements.length === 0 };
}

export function matchesLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return sel.requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.operator) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
        return has && l[r.key] === r.values[0];
      case '!=':
        return !has || l[r.key] !== r.values[0];
      case 'in':
        return has && r.values.includes(l[r.key]);
      case 'notin':
        return !has || !r.values.includes(l[r.key]);
      case 'gt':
      case 'lt': {
        // A label that is not an integer matches neither comparison (labels.Requirement.Matches).
        const actual = has ? parseInt64(l[r.key]) : undefined;
        const bound = parseInt64(r.values[0])!;
        if (actual === undefined) return false;
        return r.operator === 'gt' ? actual > bound : actual < bound;
      }
    }
  });
}

export function parseFieldSelector(s: string, supported: readonly string[]): FieldSelector {
  const requirements: FieldRequirement[] = [];
  for (const raw of s.split(',')) {
    const term = raw.trim();
    if (!term) continue;
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
    const field = m[1].trim();
    if (!supported.includes(field)) throw badRequest(`field label not supported: ${field}`);
    requirements.push({ field, operator: m[2] === '!=' ? '!=' : '=', value: m[3].trim() });
  }
  return { requirements };
}

export function matchesFields(sel: FieldSelector, fields: Record<string, string>): boolean {
  return sel.requirements.every((r) =>
    r.operator === '=' ? fields[r.field] === r.value : fields[r.field] !== r.value,
  );
}

/** The value a selector requires for `field` exactly (`metadata.name=x`), if any. */
export function exactFieldValue(sel: FieldSelector, field: string): string | undefined {
  return sel.requirements.find((r) => r.field === field && r.operator === '=')?.value;
}

export function widgetFields(w: Widget): Record<string, string> {
  return {
    'metadata.name': w.metadata.name ?? '',
    'metadata.namespace': w.metadata.namespace ?? '',
    'status.phase': w.status?.phase ?? '',
  };
}
