/**
 * The one description of an API type's fields: a small schema language in which each kind's versions
 * (apis/) state their types, formats, enums, defaults, bounds, list semantics, descriptions and Go type
 * names once. Everything else is derived from it: OpenAPI v2/v3 (openapi.ts), decoding and pruning
 * (api/decode.ts), defaulting and bounds/enum validation (defaults.ts, validate.ts), strategic merge
 * patch strategies (list-strategies.ts) and, at compile time, the TypeScript types (`Infer`).
 */

interface Documented {
  /** What `kubectl explain` prints for the field. */
  description?: string;
}

export interface StringNode<E extends string = string> extends Documented {
  type: 'string';
  enum?: readonly E[];
  default?: E;
  format?: 'date-time';
}

export interface IntegerNode extends Documented {
  type: 'integer';
  format: 'int32' | 'int64';
  minimum?: number;
  maximum?: number;
  default?: number;
}

export interface BooleanNode extends Documented {
  type: 'boolean';
}

/** Any JSON value, kept as sent (free-form; OpenAPI `type: object` as kube-openapi writes RawExtension). */
export interface AnyNode extends Documented {
  type: 'any';
}

export interface MapNode<V extends Node = Node> extends Documented {
  type: 'map';
  values: V;
}

export interface ArrayNode<I extends Node = Node> extends Documented {
  type: 'array';
  items: I;
  /** x-kubernetes-list-type; for merges, `map` and `set` lists are merged, others replaced. */
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: readonly string[];
  /** Strategic merge patch (x-kubernetes-patch-strategy / -merge-key). */
  patchStrategy?: 'merge';
  patchMergeKey?: string;
}

/** Which Go package a named type lives in: it names the OpenAPI definition and decoding's type errors. */
export type TypePackage = 'meta' | 'autoscaling' | 'api';

export interface NamedType {
  pkg: TypePackage;
  /** The Go type's name: WidgetSpec, ObjectMeta. */
  name: string;
  /** The type's own description (the definition's), as opposed to a field's use of it. */
  description: string;
  /** x-kubernetes-group-version-kind for top-level kinds. */
  kind?: string;
}

export interface ObjectNode<
  P extends Record<string, Node> = Record<string, Node>,
  R extends keyof P & string = keyof P & string,
> extends Documented {
  type: 'object';
  properties: P;
  required?: readonly R[];
  /** A named (Go struct) type, published as its own definition; anonymous objects are inlined. */
  named?: NamedType;
}

export type Node = StringNode | IntegerNode | BooleanNode | AnyNode | MapNode | ArrayNode | ObjectNode;

// ---- builders: keep literal types so Infer can derive the TypeScript types ----

export const string = <const E extends string = string>(
  description: string,
  extra: Omit<StringNode<E>, 'type' | 'description'> = {},
): StringNode<E> => ({ type: 'string', description, ...extra });

export const int32 = (
  description: string,
  extra: Omit<IntegerNode, 'type' | 'format'> = {},
): IntegerNode => ({
  type: 'integer',
  format: 'int32',
  description,
  ...extra,
});

export const int64 = (
  description: string,
  extra: Omit<IntegerNode, 'type' | 'format'> = {},
): IntegerNode => ({
  type: 'integer',
  format: 'int64',
  description,
  ...extra,
});

export const boolean = (description: string): BooleanNode => ({ type: 'boolean', description });

export const any = (description: string): AnyNode => ({ type: 'any', description });

export const map = <V extends Node>(values: V, description: string): MapNode<V> => ({
  type: 'map',
  values,
  description,
});

export const array = <I extends Node>(
  items: I,
  description: string,
  extra: Omit<ArrayNode<I>, 'type' | 'items' | 'description'> = {},
): ArrayNode<I> => ({ type: 'array', items, description, ...extra });

export function object<P extends Record<string, Node>, const R extends keyof P & string = never>(
  properties: P,
  options: { required?: readonly R[]; named?: NamedType; description?: string } = {},
): ObjectNode<P, R> {
  return { type: 'object', properties, ...options };
}

/** The same type used as a field, with the field's own description. */
export function field<N extends Node>(node: N, description: string): N {
  return { ...node, description };
}

// ---- compile-time types ----

type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type Infer<N> =
  N extends StringNode<infer E>
    ? E
    : N extends IntegerNode
      ? number
      : N extends BooleanNode
        ? boolean
        : N extends AnyNode
          ? unknown
          : N extends MapNode<infer V>
            ? Record<string, Infer<V>>
            : N extends ArrayNode<infer I>
              ? Array<Infer<I>>
              : N extends ObjectNode<infer P, infer R>
                ? Simplify<{ [K in R]: Infer<P[K]> } & { [K in Exclude<keyof P, R>]?: Infer<P[K]> }>
                : never;
