/**
 * OpenAPI v2 as protobuf: the `application/com.github.proto-openapi.spec.v2.v1.0+protobuf` form of
 * /openapi/v2 that kube-apiserver serves, and the only one client-go's DiscoveryClient.OpenAPISchema()
 * asks for (kubectl, Argo CD's diffing and controllers that build a GVK parser from it). The message is
 * gnostic's `openapi.v2.Document` (github.com/google/gnostic-models/openapiv2), filled from our JSON
 * document the way gnostic's compiler reads one: named maps as repeated Named* pairs, `x-` keys as
 * vendor extensions, free-form values (`default`, `example`, `enum` items, extensions) as `Any` holding
 * YAML, and oneofs chosen by the JSON's shape (`$ref`, `in`, `type: file`, a boolean
 * additionalProperties, ...).
 *
 * Written here rather than with protobufjs and gnostic's .proto: the encoder needs a few wire types and
 * the mapping rules below, which no .proto file carries; the field numbers are gnostic's (they are the
 * wire format). test/e2e/client-go-apply.test.ts has client-go fetch it and gnostic compare it with its
 * own reading of our JSON.
 */
import { yaml } from '../../shared/yaml';

type Json = Record<string, unknown>;

// ---- protobuf wire format (proto3: zero values are not written) ----

class Writer {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  private push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  private varint(n: number): void {
    const bytes: number[] = [];
    let v = BigInt.asUintN(64, BigInt(n));
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      bytes.push(byte);
    } while (v);
    this.push(Buffer.from(bytes));
  }

  private tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  bytes(field: number, b: Buffer): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
  }

  string(field: number, s: string): void {
    if (s !== '') this.bytes(field, Buffer.from(s, 'utf8'));
  }

  /** A repeated string: every element, empty ones included. */
  repeatedString(field: number, s: string): void {
    this.bytes(field, Buffer.from(s, 'utf8'));
  }

  bool(field: number, b: boolean): void {
    if (!b) return;
    this.tag(field, 0);
    this.varint(1);
  }

  int64(field: number, n: number): void {
    if (!n) return;
    this.tag(field, 0);
    this.varint(Math.trunc(n));
  }

  double(field: number, n: number): void {
    if (!n) return;
    this.tag(field, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(n);
    this.push(b);
  }

  /** An embedded message, written even when empty (a set message field is present in proto3). */
  message(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

// ---- gnostic's openapi.v2 messages ----

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * How one JSON key of a message is written: a scalar, a message (by name), a repeated one, `any`
 * (free-form, as Any), or `named` (a JSON object of name -> value, as a message of Named* pairs).
 */
type FieldKind =
  | 'string'
  | 'bool'
  | 'double'
  | 'int64'
  | 'strings'
  | 'any'
  | 'anys'
  | { message: string }
  | { messages: string };

interface MessageSpec {
  fields: Record<string, [number, FieldKind]>;
  /** Field number of `repeated NamedAny vendor_extension`, for the `x-` keys. */
  extensions?: number;
}

/** The field list every parameter sub-schema, header and primitive item shares, from `type` on. */
const primitive = (first: number, items: string): Record<string, [number, FieldKind]> => {
  const names: Array<[string, FieldKind]> = [
    ['type', 'string'],
    ['format', 'string'],
    ['items', { message: items }],
    ['collectionFormat', 'string'],
    ['default', 'any'],
    ['maximum', 'double'],
    ['exclusiveMaximum', 'bool'],
    ['minimum', 'double'],
    ['exclusiveMinimum', 'bool'],
    ['maxLength', 'int64'],
    ['minLength', 'int64'],
    ['pattern', 'string'],
    ['maxItems', 'int64'],
    ['minItems', 'int64'],
    ['uniqueItems', 'bool'],
    ['enum', 'anys'],
    ['multipleOf', 'double'],
  ];
  return Object.fromEntries(names.map(([name, kind], i) => [name, [first + i, kind]]));
};

const parameterSubSchema = (withAllowEmpty: boolean): MessageSpec => {
  const head: Record<string, [number, FieldKind]> = {
    required: [1, 'bool'],
    in: [2, 'string'],
    description: [3, 'string'],
    name: [4, 'string'],
  };
  if (withAllowEmpty) head.allowEmptyValue = [5, 'bool'];
  const first = withAllowEmpty ? 6 : 5;
  return { fields: { ...head, ...primitive(first, 'PrimitivesItems') }, extensions: first + 17 };
};

const MESSAGES: Record<string, MessageSpec> = {
  Document: {
    fields: {
      swagger: [1, 'string'],
      info: [2, { message: 'Info' }],
      host: [3, 'string'],
      basePath: [4, 'string'],
      schemes: [5, 'strings'],
      consumes: [6, 'strings'],
      produces: [7, 'strings'],
      paths: [8, { message: 'Paths' }],
      definitions: [9, { message: 'Definitions' }],
      parameters: [10, { message: 'ParameterDefinitions' }],
      responses: [11, { message: 'ResponseDefinitions' }],
      security: [12, { messages: 'SecurityRequirement' }],
      securityDefinitions: [13, { message: 'SecurityDefinitions' }],
      tags: [14, { messages: 'Tag' }],
      externalDocs: [15, { message: 'ExternalDocs' }],
    },
    extensions: 16,
  },
  Info: {
    fields: {
      title: [1, 'string'],
      version: [2, 'string'],
      description: [3, 'string'],
      termsOfService: [4, 'string'],
      contact: [5, { message: 'Contact' }],
      license: [6, { message: 'License' }],
    },
    extensions: 7,
  },
  Contact: { fields: { name: [1, 'string'], url: [2, 'string'], email: [3, 'string'] }, extensions: 4 },
  License: { fields: { name: [1, 'string'], url: [2, 'string'] }, extensions: 3 },
  ExternalDocs: { fields: { description: [1, 'string'], url: [2, 'string'] }, extensions: 3 },
  Tag: {
    fields: {
      name: [1, 'string'],
      description: [2, 'string'],
      externalDocs: [3, { message: 'ExternalDocs' }],
    },
    extensions: 4,
  },
  PathItem: {
    fields: {
      $ref: [1, 'string'],
      get: [2, { message: 'Operation' }],
      put: [3, { message: 'Operation' }],
      post: [4, { message: 'Operation' }],
      delete: [5, { message: 'Operation' }],
      options: [6, { message: 'Operation' }],
      head: [7, { message: 'Operation' }],
      patch: [8, { message: 'Operation' }],
      parameters: [9, { messages: 'ParametersItem' }],
    },
    extensions: 10,
  },
  Operation: {
    fields: {
      tags: [1, 'strings'],
      summary: [2, 'string'],
      description: [3, 'string'],
      externalDocs: [4, { message: 'ExternalDocs' }],
      operationId: [5, 'string'],
      produces: [6, 'strings'],
      consumes: [7, 'strings'],
      parameters: [8, { messages: 'ParametersItem' }],
      responses: [9, { message: 'Responses' }],
      schemes: [10, 'strings'],
      deprecated: [11, 'bool'],
      security: [12, { messages: 'SecurityRequirement' }],
    },
    extensions: 13,
  },
  BodyParameter: {
    fields: {
      description: [1, 'string'],
      name: [2, 'string'],
      in: [3, 'string'],
      required: [4, 'bool'],
      schema: [5, { message: 'Schema' }],
    },
    extensions: 6,
  },
  HeaderParameterSubSchema: parameterSubSchema(false),
  FormDataParameterSubSchema: parameterSubSchema(true),
  QueryParameterSubSchema: parameterSubSchema(true),
  PathParameterSubSchema: parameterSubSchema(false),
  PrimitivesItems: { fields: primitive(1, 'PrimitivesItems'), extensions: 18 },
  Header: { fields: { ...primitive(1, 'PrimitivesItems'), description: [18, 'string'] }, extensions: 19 },
  JsonReference: { fields: { $ref: [1, 'string'], description: [2, 'string'] } },
  Response: {
    fields: {
      description: [1, 'string'],
      schema: [2, { message: 'SchemaItem' }],
      headers: [3, { message: 'Headers' }],
      examples: [4, { message: 'Examples' }],
    },
    extensions: 5,
  },
  Schema: {
    fields: {
      $ref: [1, 'string'],
      format: [2, 'string'],
      title: [3, 'string'],
      description: [4, 'string'],
      default: [5, 'any'],
      multipleOf: [6, 'double'],
      maximum: [7, 'double'],
      exclusiveMaximum: [8, 'bool'],
      minimum: [9, 'double'],
      exclusiveMinimum: [10, 'bool'],
      maxLength: [11, 'int64'],
      minLength: [12, 'int64'],
      pattern: [13, 'string'],
      maxItems: [14, 'int64'],
      minItems: [15, 'int64'],
      uniqueItems: [16, 'bool'],
      maxProperties: [17, 'int64'],
      minProperties: [18, 'int64'],
      required: [19, 'strings'],
      enum: [20, 'anys'],
      additionalProperties: [21, { message: 'AdditionalPropertiesItem' }],
      type: [22, { message: 'TypeItem' }],
      items: [23, { message: 'ItemsItem' }],
      allOf: [24, { messages: 'Schema' }],
      properties: [25, { message: 'Properties' }],
      discriminator: [26, 'string'],
      readOnly: [27, 'bool'],
      xml: [28, { message: 'Xml' }],
      externalDocs: [29, { message: 'ExternalDocs' }],
      example: [30, 'any'],
    },
    extensions: 31,
  },
  FileSchema: {
    fields: {
      format: [1, 'string'],
      title: [2, 'string'],
      description: [3, 'string'],
      default: [4, 'any'],
      required: [5, 'strings'],
      type: [6, 'string'],
      readOnly: [7, 'bool'],
      externalDocs: [8, { message: 'ExternalDocs' }],
      example: [9, 'any'],
    },
    extensions: 10,
  },
  Xml: {
    fields: {
      name: [1, 'string'],
      namespace: [2, 'string'],
      prefix: [3, 'string'],
      attribute: [4, 'bool'],
      wrapped: [5, 'bool'],
    },
    extensions: 6,
  },
  ApiKeySecurity: {
    fields: { type: [1, 'string'], name: [2, 'string'], in: [3, 'string'], description: [4, 'string'] },
    extensions: 5,
  },
  BasicAuthenticationSecurity: { fields: { type: [1, 'string'], description: [2, 'string'] }, extensions: 3 },
};

/** Messages that are a JSON object of name -> value: field 1 holds Named* pairs of (1 name, 2 value). */
const NAMED_MAPS: Record<string, FieldKind> = {
  Definitions: { message: 'Schema' },
  Properties: { message: 'Schema' },
  ParameterDefinitions: { message: 'Parameter' },
  ResponseDefinitions: { message: 'Response' },
  SecurityDefinitions: { message: 'SecurityDefinitionsItem' },
  Headers: { message: 'Header' },
  Examples: 'any',
  Default: 'any',
  Oauth2Scopes: 'string',
  SecurityRequirement: { message: 'StringArray' },
};

function writeAny(w: Writer, field: number, value: unknown): void {
  // gnostic keeps a free-form value as the YAML of its node; readers (kube-openapi) parse it back.
  w.message(field, (a) => a.string(2, yaml().stringify(value)));
}

function writeField(w: Writer, field: number, kind: FieldKind, value: unknown): void {
  if (value === undefined || value === null) return;
  switch (kind) {
    case 'string':
      if (typeof value === 'string') w.string(field, value);
      return;
    case 'bool':
      if (typeof value === 'boolean') w.bool(field, value);
      return;
    case 'double':
      if (typeof value === 'number') w.double(field, value);
      return;
    case 'int64':
      if (typeof value === 'number') w.int64(field, value);
      return;
    case 'strings':
      if (Array.isArray(value)) for (const s of value) if (typeof s === 'string') w.repeatedString(field, s);
      return;
    case 'any':
      writeAny(w, field, value);
      return;
    case 'anys':
      if (Array.isArray(value)) for (const v of value) writeAny(w, field, v);
      return;
    default:
      if ('message' in kind) w.message(field, (m) => writeMessage(m, kind.message, value));
      else if (Array.isArray(value))
        for (const v of value) w.message(field, (m) => writeMessage(m, kind.messages, v));
  }
}

function writeMessage(w: Writer, name: string, value: unknown): void {
  const special = SPECIAL[name];
  if (special) return special(w, value);
  const named = NAMED_MAPS[name];
  if (named) {
    if (!isObject(value)) return;
    for (const [key, v] of Object.entries(value)) {
      w.message(1, (pair) => {
        pair.string(1, key);
        writeField(pair, 2, named, v);
      });
    }
    return;
  }
  const spec = MESSAGES[name];
  if (!spec) throw new Error(`openapi v2 protobuf: no message ${name}`);
  if (!isObject(value)) return;
  const entries = Object.entries(spec.fields).sort((a, b) => a[1][0] - b[1][0]);
  for (const [key, [field, kind]] of entries) writeField(w, field, kind, value[key]);
  if (spec.extensions) writeExtensions(w, spec.extensions, value);
}

function writeExtensions(w: Writer, field: number, value: Json): void {
  for (const [key, v] of Object.entries(value)) {
    if (!key.startsWith('x-')) continue;
    w.message(field, (pair) => {
      pair.string(1, key);
      writeAny(pair, 2, v);
    });
  }
}

/** The messages whose form depends on the JSON's shape (gnostic's oneofs and wrappers). */
const SPECIAL: Record<string, (w: Writer, value: unknown) => void> = {
  Paths(w, value) {
    if (!isObject(value)) return;
    writeExtensions(w, 1, value);
    for (const [path, item] of Object.entries(value)) {
      if (!path.startsWith('/')) continue;
      w.message(2, (pair) => {
        pair.string(1, path);
        pair.message(2, (m) => writeMessage(m, 'PathItem', item));
      });
    }
  },
  Responses(w, value) {
    if (!isObject(value)) return;
    for (const [code, response] of Object.entries(value)) {
      if (code.startsWith('x-')) continue;
      w.message(1, (pair) => {
        pair.string(1, code);
        pair.message(2, (m) => writeMessage(m, 'ResponseValue', response));
      });
    }
    writeExtensions(w, 2, value);
  },
  ResponseValue(w, value) {
    if (isObject(value) && typeof value.$ref === 'string')
      w.message(2, (m) => writeMessage(m, 'JsonReference', value));
    else w.message(1, (m) => writeMessage(m, 'Response', value));
  },
  ParametersItem(w, value) {
    if (isObject(value) && typeof value.$ref === 'string')
      w.message(2, (m) => writeMessage(m, 'JsonReference', value));
    else w.message(1, (m) => writeMessage(m, 'Parameter', value));
  },
  Parameter(w, value) {
    if (!isObject(value)) return;
    if (value.in === 'body') {
      w.message(1, (m) => writeMessage(m, 'BodyParameter', value));
      return;
    }
    const sub = {
      header: [1, 'HeaderParameterSubSchema'],
      formData: [2, 'FormDataParameterSubSchema'],
      query: [3, 'QueryParameterSubSchema'],
      path: [4, 'PathParameterSubSchema'],
    }[String(value.in)] as [number, string] | undefined;
    if (!sub) return;
    w.message(2, (nonBody) => nonBody.message(sub[0], (m) => writeMessage(m, sub[1], value)));
  },
  SchemaItem(w, value) {
    if (isObject(value) && value.type === 'file') w.message(2, (m) => writeMessage(m, 'FileSchema', value));
    else w.message(1, (m) => writeMessage(m, 'Schema', value));
  },
  AdditionalPropertiesItem(w, value) {
    if (typeof value === 'boolean') w.bool(2, value);
    else w.message(1, (m) => writeMessage(m, 'Schema', value));
  },
  TypeItem(w, value) {
    for (const t of Array.isArray(value) ? value : [value]) if (typeof t === 'string') w.repeatedString(1, t);
  },
  ItemsItem(w, value) {
    for (const s of Array.isArray(value) ? value : [value]) w.message(1, (m) => writeMessage(m, 'Schema', s));
  },
  StringArray(w, value) {
    if (Array.isArray(value)) for (const s of value) if (typeof s === 'string') w.repeatedString(1, s);
  },
  SecurityDefinitionsItem(w, value) {
    if (!isObject(value)) return;
    if (value.type === 'basic') w.message(1, (m) => writeMessage(m, 'BasicAuthenticationSecurity', value));
    else if (value.type === 'apiKey') w.message(2, (m) => writeMessage(m, 'ApiKeySecurity', value));
    // OAuth2 flows are not described by any document this server serves.
  },
};

/** The protobuf form of an OpenAPI v2 JSON document. */
export function openApiV2Protobuf(doc: Json): Buffer {
  const w = new Writer();
  writeMessage(w, 'Document', doc);
  return w.finish();
}
