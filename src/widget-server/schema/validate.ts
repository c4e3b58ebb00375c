/**
 * Validation the schema states for itself: enums (NotSupported, values in declared order, as
 * kube-apiserver reports a CRD's enum) and integer bounds (Invalid), with the paths and messages of
 * apimachinery's field errors. Types that apimachinery validates with its own rules (the meta.k8s.io
 * ones: ObjectMeta, Condition) are left to those rules, so an error is never reported twice.
 */
import type { FieldError } from '../../shared/status-errors';
import type { Node } from './schema';

export function schemaErrors(node: Node, value: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  walk(node, value, path, errs);
  return errs;
}

function walk(node: Node, value: unknown, path: string, errs: FieldError[]): void {
  if (value === undefined || value === null) return;
  switch (node.type) {
    case 'string':
      if (node.enum && typeof value === 'string' && !(node.enum as readonly string[]).includes(value)) {
        errs.push({
          type: 'FieldValueNotSupported',
          field: path,
          value,
          detail: `supported values: ${node.enum.map((v) => `"${v}"`).join(', ')}`,
        });
      }
      return;
    case 'integer':
      if (typeof value !== 'number') return;
      if (node.minimum !== undefined && value < node.minimum)
        errs.push(invalid(path, value, `must be greater than or equal to ${node.minimum}`));
      if (node.maximum !== undefined && value > node.maximum)
        errs.push(invalid(path, value, `must be less than or equal to ${node.maximum}`));
      return;
    case 'array':
      if (Array.isArray(value)) value.forEach((item, i) => walk(node.items, item, `${path}[${i}]`, errs));
      return;
    case 'map':
      if (typeof value === 'object')
        for (const [k, v] of Object.entries(value)) walk(node.values, v, `${path}[${k}]`, errs);
      return;
    case 'object':
      if (node.named?.pkg === 'meta' || typeof value !== 'object' || Array.isArray(value)) return;
      for (const [key, child] of Object.entries(node.properties)) {
        if (Object.hasOwn(value, key))
          walk(child, (value as Record<string, unknown>)[key], path ? `${path}.${key}` : key, errs);
      }
      return;
    default:
      return;
  }
}

function invalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, value, detail };
}
