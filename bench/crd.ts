/**
 * The Widget's CRD twin for the benchmarks: a CustomResourceDefinition whose openAPIV3Schema is DERIVED
 * from the Widget server's own OpenAPI v3 document (api/openapi.ts), so the CRD and the server share one
 * description of the Widget and a change to the server's schema changes the CRD with it.
 *
 * The conversion does what a CRD author does by hand from an OpenAPI document: resolve $refs (and the
 * `allOf: [$ref]` wrappers kube-openapi uses to carry a sibling description), reduce metadata to
 * `type: object` (kube-apiserver validates ObjectMeta itself and refuses anything more), and keep only the
 * JSONSchemaProps fields a structural schema accepts: x-kubernetes-list-type/-map-keys survive, the
 * strategic-merge-patch markers and x-kubernetes-group-version-kind (not JSONSchemaProps fields) and
 * uniqueItems (refused by structural schemas) are dropped. Printer columns follow the server's Table.
 * Short names get a `crd` suffix and the `all` category is left out, so the twin never changes what
 * kubectl resolves on the bed.
 */
import { openApiV3GroupVersion } from '../src/widget-server/api/openapi';
import { widgetTable } from '../src/widget-server/api/table';
import { KIND, LIST_KIND, RESOURCE, SHORT_NAMES, SINGULAR } from '../src/widget-server/api/types';

type Schema = Record<string, unknown>;

/** JSONSchemaProps fields (apiextensions.k8s.io/v1) a structural schema may carry. */
const KEPT = new Set([
  'type',
  'format',
  'title',
  'description',
  'default',
  'enum',
  'nullable',
  'required',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'maxProperties',
  'minProperties',
  'multipleOf',
  'example',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

const REF_PREFIX = '#/components/schemas/';

/** The schema a `$ref` or an `allOf: [{$ref}]` wrapper stands for, with the wrapper's own keys on top. */
function resolve(schema: Schema, components: Record<string, Schema>, seen: string[]): [Schema, string[]] {
  let s = schema;
  let chain = seen;
  for (;;) {
    const allOf = s.allOf as Schema[] | undefined;
    let ref = s.$ref as string | undefined;
    if (!ref && allOf?.length === 1 && typeof allOf[0].$ref === 'string') ref = allOf[0].$ref as string;
    if (!ref) return [s, chain];
    if (!ref.startsWith(REF_PREFIX)) throw new Error(`cannot resolve $ref ${ref}`);
    const name = ref.slice(REF_PREFIX.length);
    if (chain.includes(name)) throw new Error(`recursive schema ${[...chain, name].join(' -> ')}`);
    const target = components[name];
    if (!target) throw new Error(`$ref to missing schema ${name}`);
    // The wrapper's siblings (description) win over the referenced schema's, as kube-openapi intends.
    const { $ref: _r, allOf: _a, ...siblings } = s;
    void _r;
    void _a;
    s = { ...target, ...siblings };
    chain = [...chain, name];
  }
}

/** One OpenAPI v3 schema node as a structural CRD schema node. */
export function toStructural(
  schema: Schema,
  components: Record<string, Schema>,
  path: string[] = [],
  seen: string[] = [],
): Schema {
  const [s, chain] = resolve(schema, components, seen);
  if (s.allOf || s.anyOf || s.oneOf || s.not) {
    throw new Error(`${path.join('.') || '<root>'}: composition the conversion does not handle`);
  }
  // metadata at the root: CRDs may only restrict name/generateName; kube-apiserver owns the rest.
  if (path.length === 1 && path[0] === 'metadata') return { type: 'object' };
  const out: Schema = {};
  for (const [key, value] of Object.entries(s)) {
    if (KEPT.has(key)) out[key] = value;
  }
  if (s.properties) {
    out.properties = Object.fromEntries(
      Object.entries(s.properties as Record<string, Schema>).map(([name, child]) => [
        name,
        toStructural(child, components, [...path, name], chain),
      ]),
    );
  }
  if (s.items) out.items = toStructural(s.items as Schema, components, [...path, '[]'], chain);
  if (s.additionalProperties !== undefined && typeof s.additionalProperties === 'object') {
    out.additionalProperties = toStructural(
      s.additionalProperties as Schema,
      components,
      [...path, '{}'],
      chain,
    );
  } else if (s.additionalProperties !== undefined) {
    out.additionalProperties = s.additionalProperties;
  }
  // Structural schemas need a type everywhere except under x-kubernetes-int-or-string/preserve-unknown.
  if (!out.type && !out['x-kubernetes-int-or-string'] && !out['x-kubernetes-preserve-unknown-fields']) {
    throw new Error(`${path.join('.') || '<root>'}: no type in the server's schema`);
  }
  return out;
}

/** The Widget kind's schema in the server's OpenAPI v3 document for `group`, as a CRD openAPIV3Schema. */
export function widgetCrdSchema(openapiV3: Schema, group: string): Schema {
  const components = (openapiV3.components as { schemas: Record<string, Schema> }).schemas;
  const name = Object.keys(components).find((n) => {
    const gvk = components[n]['x-kubernetes-group-version-kind'] as
      { group: string; kind: string }[] | undefined;
    return gvk?.some((g) => g.group === group && g.kind === KIND);
  });
  if (!name) throw new Error(`no ${KIND} schema for group ${group} in the OpenAPI document`);
  return toStructural(components[name], components);
}

/**
 * The server's Table columns (api/table.ts) as CRD printer columns. kube-apiserver always prints Name
 * first, so the Name column is implied; each other column is the field its cell is computed from.
 */
export const PRINTER_COLUMN_PATHS: Record<string, string> = {
  Replicas: '.spec.replicas',
  Available: '.status.availableReplicas',
  Color: '.spec.color',
  Phase: '.status.phase',
  Age: '.metadata.creationTimestamp',
};

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export function printerColumns(columns: TableColumn[]): Schema[] {
  return columns
    .filter((c) => c.name !== 'Name')
    .map((c) => {
      const jsonPath = PRINTER_COLUMN_PATHS[c.name];
      if (!jsonPath) throw new Error(`the server's Table has a column ${c.name} the CRD twin cannot map`);
      const col: Schema = { name: c.name, type: c.type, jsonPath, description: c.description };
      if (c.format) col.format = c.format;
      if (c.priority) col.priority = c.priority;
      return col;
    });
}

/**
 * The CRD twin of the Widget served by a Widget server for `serverGroup`, in `crdGroup`. The scale
 * subresource maps the same fields as the server's (api/scale.ts); the server's status.selector is
 * computed from the name, which a CRD cannot express, so the twin has no labelSelectorPath.
 */
export function widgetCrd(crdGroup: string): Schema {
  // The server's own column definitions: the header of an empty Table.
  const { columnDefinitions: columns } = widgetTable([], {
    includeObject: 'None',
    listMeta: {},
  }) as { columnDefinitions: TableColumn[] };
  const doc = openApiV3GroupVersion({ group: crdGroup, version: 'v1' });
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${RESOURCE}.${crdGroup}` },
    spec: {
      group: crdGroup,
      scope: 'Namespaced',
      names: {
        plural: RESOURCE,
        singular: SINGULAR,
        kind: KIND,
        listKind: LIST_KIND,
        // Distinct short names and no `all` category: the twin must not change what kubectl resolves.
        shortNames: SHORT_NAMES.map((s) => `${s}crd`),
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: widgetCrdSchema(doc, crdGroup) },
          subresources: {
            status: {},
            scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.availableReplicas' },
          },
          additionalPrinterColumns: printerColumns(columns),
        },
      ],
    },
  };
}
