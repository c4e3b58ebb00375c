/**
 * Opaque CEL types for Kubernetes' CEL libraries (quantity, URL, IP, CIDR, the authorizer's checks and
 * decisions). @bufbuild/cel knows CEL's own types and protobuf messages, so each opaque type is a
 * protobuf message made here at runtime: one string field `value` holding the type's state (a canonical
 * form where CEL's `==` must compare meaning, not spelling). The authorizer also has a
 * `requestResource` field, as kube-apiserver's `authorizer.requestResource` is read as a field.
 */
import { create, createFileRegistry, type DescMessage } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt';
import { objectType, type CelObjectType } from '@bufbuild/cel';

const PACKAGE = 'kubernetes';
const NAMES = [
  'Quantity',
  'URL',
  'IP',
  'CIDR',
  'Authorizer',
  'PathCheck',
  'GroupCheck',
  'ResourceCheck',
  'Decision',
] as const;
export type OpaqueName = (typeof NAMES)[number];

const stringField = (name: string, number: number) => ({
  name,
  number,
  type: FieldDescriptorProto_Type.STRING,
  label: FieldDescriptorProto_Label.OPTIONAL,
  jsonName: name,
});

const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: 'kubernetes_cel_opaque.proto',
    package: PACKAGE,
    syntax: 'proto3',
    messageType: NAMES.map((name) => ({
      name,
      field:
        name === 'Authorizer'
          ? [
              stringField('value', 1),
              {
                name: 'requestResource',
                number: 2,
                type: FieldDescriptorProto_Type.MESSAGE,
                typeName: `.${PACKAGE}.ResourceCheck`,
                label: FieldDescriptorProto_Label.OPTIONAL,
                jsonName: 'requestResource',
              },
            ]
          : [stringField('value', 1)],
    })),
  }),
  () => undefined,
);

const descs = new Map<OpaqueName, DescMessage>(
  NAMES.map((n) => [n, registry.getMessage(`${PACKAGE}.${n}`)!]),
);

/** The CEL type of an opaque type, for function and method declarations. */
export function opaqueType(name: OpaqueName): CelObjectType {
  return objectType(descs.get(name)!);
}

/** A value of an opaque type holding `value`. */
export function opaque(name: OpaqueName, value: string, extra: Record<string, unknown> = {}): ReflectMessage {
  const desc = descs.get(name)!;
  return reflect(desc, create(desc, { value, ...extra } as never));
}

/** The state an opaque value holds. */
export function opaqueValue(v: unknown): string {
  const m = v as ReflectMessage;
  return m.get(m.desc.field.value) as string;
}

/** The raw message, for a field of another opaque value (Authorizer.requestResource). */
export function opaqueMessage(name: OpaqueName, value: string): unknown {
  return create(descs.get(name)!, { value } as never);
}
