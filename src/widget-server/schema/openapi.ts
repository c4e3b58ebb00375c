/**
 * OpenAPI schemas derived from the schema language: named types become definitions under kube-openapi's
 * names (reversed group, version, Go type), fields reference them with their own descriptions, and the
 * list, merge and group-version-kind extensions are written as kube-openapi writes them.
 */
import type { NamedType, Node, ObjectNode } from './schema';

type Doc = Record<string, unknown>;

export interface TypeContext {
  /** The API group and version `api` types belong to (the served group is a flag). */
  group: string;
  version: string;
}

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const AUTOSCALING = 'io.k8s.api.autoscaling.v1';

/** kube-openapi names a group's definitions by its reversed DNS name: custom.example.com -> com.example.custom. */
export function definitionPrefix(ctx: TypeContext): string {
  return `${ctx.group.split('.').reverse().join('.')}.${ctx.version}`;
}

export function definitionName(named: NamedType, ctx: TypeContext): string {
  if (named.pkg === 'meta') return `${META}.${named.name}`;
  if (named.pkg === 'autoscaling') return `${AUTOSCALING}.${named.name}`;
  return `${definitionPrefix(ctx)}.${named.name}`;
}

/** The Go type as reflect prints it in decoding errors: v1.ObjectMeta, v1alpha1.WidgetSpec. */
export function goTypeName(named: NamedType, ctx: TypeContext): string {
  return `${named.pkg === 'api' ? ctx.version : 'v1'}.${named.name}`;
}

function gvkOf(named: NamedType, ctx: TypeContext) {
  const [group, version] =
    named.pkg === 'api'
      ? [ctx.group, ctx.version]
      : named.pkg === 'autoscaling'
        ? ['autoscaling', 'v1']
        : ['', 'v1'];
  return [{ group, version, kind: named.kind }];
}

/**
 * The definitions of `roots` and every named type they reach, keyed by definition name. `ref` makes a
 * reference (v2: $ref; v3: allOf with one $ref, so a field's description can sit beside it).
 */
export function openApiDefinitions(
  roots: ObjectNode[],
  ctx: TypeContext,
  ref: (name: string) => Doc,
): Record<string, Doc> {
  const defs: Record<string, Doc> = {};
  const define = (node: ObjectNode): string => {
    const named = node.named!;
    const name = definitionName(named, ctx);
    if (!defs[name]) {
      defs[name] = {}; // reserve first: recursive types terminate
      defs[name] = {
        ...objectSchema(node, named.description),
        ...(named.kind ? { 'x-kubernetes-group-version-kind': gvkOf(named, ctx) } : {}),
      };
    }
    return name;
  };
  const objectSchema = (node: ObjectNode, description?: string): Doc => ({
    type: 'object',
    description,
    ...(node.required?.length ? { required: [...node.required] } : {}),
    ...(Object.keys(node.properties).length
      ? { properties: Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, schemaOf(v)])) }
      : {}),
  });
  const schemaOf = (node: Node): Doc => {
    const d = node.description;
    switch (node.type) {
      case 'string':
        return clean({
          type: 'string',
          format: node.format,
          description: d,
          enum: node.enum && [...node.enum],
          default: node.default,
        });
      case 'integer':
        return clean({
          type: 'integer',
          format: node.format,
          minimum: node.minimum,
          maximum: node.maximum,
          default: node.default,
          description: d,
        });
      case 'boolean':
        return clean({ type: 'boolean', description: d });
      case 'any':
        return clean({ type: 'object', description: d });
      case 'map':
        return clean({ type: 'object', additionalProperties: schemaOf(node.values), description: d });
      case 'array':
        return clean({
          type: 'array',
          description: d,
          items: schemaOf(node.items),
          'x-kubernetes-list-type': node.listType,
          'x-kubernetes-list-map-keys': node.listMapKeys && [...node.listMapKeys],
          'x-kubernetes-patch-strategy': node.patchStrategy,
          'x-kubernetes-patch-merge-key': node.patchMergeKey,
        });
      case 'object':
        return node.named ? clean({ ...ref(define(node)), description: d }) : clean(objectSchema(node, d));
    }
  };
  for (const root of roots) define(root);
  return defs;
}

/** Drops absent keywords, and empty descriptions (map values and list items need none). */
function clean(doc: Doc): Doc {
  return Object.fromEntries(
    Object.entries(doc).filter(([k, v]) => v !== undefined && !(k === 'description' && v === '')),
  );
}
