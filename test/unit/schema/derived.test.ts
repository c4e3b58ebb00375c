/**
 * The pieces derived from each Widget version's schema agree with each other: every field the OpenAPI
 * document publishes is one decoding keeps (and nothing else is), every enum and bound it publishes is
 * one validation enforces, every default is one defaulting applies, and every patch strategy is one
 * strategic merge patch uses.
 */
import { openApiV3GroupVersion } from '../../../src/widget-server/api/openapi';
import { WidgetCodec } from '../../../src/widget-server/api/codec';
import { WIDGET_VERSION_NAMES, widgetSchemas } from '../../../src/widget-server/apis/widgets';
import { applyDefaults } from '../../../src/widget-server/schema/defaults';
import { listStrategies } from '../../../src/widget-server/schema/list-strategies';
import { schemaErrors } from '../../../src/widget-server/schema/validate';
import { decodeWidget } from '../../../src/widget-server/api/decode';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const GROUP = 'custom.example.com';

interface Field {
  path: string;
  schema: Any;
  /** Declared in a meta.k8s.io type (validated by apimachinery's own rules, not the schema walk). */
  meta: boolean;
}

/** Every field of the Widget definition, refs resolved, list items transparent. */
function fieldsOf(doc: Any, version: string): Field[] {
  const schemas = doc.components.schemas;
  const resolve = (s: Any): { schema: Any; name?: string } => {
    const ref = s.allOf?.[0]?.$ref ?? s.$ref;
    if (!ref) return { schema: s };
    const name = ref.split('/').pop();
    return { schema: { ...schemas[name], description: s.description }, name };
  };
  const out: Field[] = [];
  const walk = (s: Any, path: string, meta: boolean, depth: number) => {
    const { schema, name } = resolve(s);
    const inMeta = meta || (name?.startsWith('io.k8s.apimachinery') ?? false);
    if (path && !path.endsWith('[]')) out.push({ path, schema, meta: inMeta });
    if (depth > 6) return;
    if (schema.type === 'array') walk(schema.items, `${path}[]`, inMeta, depth + 1);
    for (const [k, v] of Object.entries(schema.properties ?? {}))
      walk(v, path ? `${path}.${k}` : k, inMeta, depth + 1);
  };
  walk({ $ref: `#/components/schemas/com.example.custom.${version}.Widget` }, '', false, 0);
  return out;
}

/** A value every derived piece must accept for a field's schema. */
function sampleOf(s: Any): unknown {
  if (s.enum) return s.enum[0];
  switch (s.type) {
    case 'string':
      return s.format === 'date-time' ? '2026-01-01T00:00:00Z' : 'x';
    case 'integer':
      return s.minimum ?? 0;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return s.additionalProperties ? { k: 'v' } : {};
    default:
      return {};
  }
}

/** Sets a field; `[]` after a name is the list's first item. */
function setPath(o: Any, path: string, value: unknown) {
  const parts = path.split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    if (p.endsWith('[]')) {
      const list = (cur[p.slice(0, -2)] ??= [{}]);
      cur = list[0];
    } else cur = cur[p] ??= {};
  }
  cur[parts[parts.length - 1]] = value;
}

describe.each(WIDGET_VERSION_NAMES)('Widget %s: derived pieces agree', (version) => {
  const doc = openApiV3GroupVersion({ group: GROUP, version });
  const fields = fieldsOf(doc, version);
  const scalarFields = fields.filter((f) => f.schema.type !== 'object' && f.schema.type !== 'array');
  const apiVersion = `${GROUP}/${version}`;

  test('the published fields are the ones decoding keeps', () => {
    expect(fields.length).toBeGreaterThan(20);
    const body: Any = { apiVersion, kind: 'Widget', metadata: {}, spec: {} };
    for (const f of scalarFields)
      if (f.path !== 'apiVersion' && f.path !== 'kind') setPath(body, f.path, sampleOf(f.schema));
    const { widget, warnings } = decodeWidget(structuredClone(body), {
      identity: { group: GROUP, version },
      fieldValidation: 'Warn',
    });
    expect(warnings).toEqual([]);
    expect(widget).toEqual(body);
  });

  test('a field the document does not publish is an unknown field at every object', () => {
    const objects = [
      '',
      ...fields.filter((f) => f.schema.type === 'object' && f.schema.properties).map((f) => f.path),
    ];
    for (const at of objects) {
      const body: Any = { apiVersion, kind: 'Widget', metadata: {}, spec: {} };
      setPath(body, at ? `${at}.notAField` : 'notAField', 1);
      const { warnings } = decodeWidget(body, {
        identity: { group: GROUP, version },
        fieldValidation: 'Warn',
      });
      const named = at.replace(/\[\]/g, '[0]');
      expect(warnings).toEqual([`unknown field "${named ? `${named}.` : ''}notAField"`]);
    }
  });

  test('published enums and bounds are the ones validation enforces', () => {
    const root = widgetSchemas(version).object;
    const constrained = scalarFields.filter(
      (f) => !f.meta && (f.schema.enum || f.schema.minimum !== undefined || f.schema.maximum !== undefined),
    );
    expect(constrained.map((f) => f.path).sort()).toEqual(
      (version === 'v1alpha1'
        ? ['spec.size', 'status.availableReplicas', 'status.phase']
        : ['spec.color', 'spec.replicas', 'status.availableReplicas', 'status.phase']
      ).sort(),
    );
    for (const f of constrained) {
      const valid: Any = {};
      setPath(valid, f.path, sampleOf(f.schema));
      expect(schemaErrors(root, valid, '')).toEqual([]);
      const bad: Any[] = [];
      if (f.schema.enum) bad.push('not-in-the-enum');
      if (f.schema.minimum !== undefined) bad.push(f.schema.minimum - 1);
      if (f.schema.maximum !== undefined) bad.push(f.schema.maximum + 1);
      for (const value of bad) {
        const o: Any = {};
        setPath(o, f.path, value);
        expect(schemaErrors(root, o, '').map((e) => e.field)).toEqual([f.path]);
      }
    }
  });

  test('published defaults are the ones defaulting applies', () => {
    const withDefaults = fields.filter((f) => f.schema.default !== undefined);
    expect(withDefaults.length).toBeGreaterThan(0);
    const o: Any = { spec: {}, status: {} };
    applyDefaults(widgetSchemas(version).object, o);
    const expected: Any = { spec: {}, status: {} };
    for (const f of withDefaults) setPath(expected, f.path, f.schema.default);
    expect(o).toEqual(expected);
  });

  test('published patch strategies are the ones strategic merge patch uses', () => {
    const published = Object.fromEntries(
      fields
        .filter((f) => f.schema['x-kubernetes-patch-strategy'])
        .map((f) => [
          f.path,
          f.schema['x-kubernetes-patch-merge-key']
            ? { kind: 'map', key: f.schema['x-kubernetes-patch-merge-key'] }
            : { kind: 'set' },
        ]),
    );
    expect(Object.keys(published).sort()).toEqual([
      'metadata.finalizers',
      'metadata.ownerReferences',
      'status.conditions',
    ]);
    expect({ ...listStrategies(widgetSchemas(version).object) }).toEqual(published);
  });

  test('the codec answers in this version', () => {
    const codec = new WidgetCodec(GROUP, version);
    expect(codec.apiVersion).toBe(apiVersion);
  });
});
