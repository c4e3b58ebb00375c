/**
 * OpenAPI v2 and v3 documents for the Widget API, complete enough for `kubectl explain`, kubectl's
 * server-side field validation detection (the `fieldValidation` query parameter on PATCH) and its patch
 * type choice (strategic merge patch is listed because the server implements it). Definition names follow
 * kube-openapi's conventions so the aggregator merges them cleanly.
 */
import {
  CATEGORIES,
  DEFAULT_COLOR,
  KIND,
  LIST_KIND,
  MAX_REPLICAS,
  MIN_REPLICAS,
  RESOURCE,
  WIDGET_COLORS,
  WIDGET_PHASES,
  type ApiIdentity,
} from './types';

type Doc = Record<string, unknown>;

const API_VERSION_DOC =
  'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.';
const KIND_DOC =
  'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const SCALE = 'io.k8s.api.autoscaling.v1.Scale';

/** kube-openapi names a group's definitions by its reversed DNS name: custom.example.com -> com.example.custom. */
export function definitionPrefix(id: ApiIdentity): string {
  return `${id.group.split('.').reverse().join('.')}.${id.version}`;
}

function gvk(group: string, version: string, kind: string) {
  return [{ group, version, kind }];
}

function definitions(id: ApiIdentity, ref: (name: string) => Doc): Record<string, Doc> {
  const p = definitionPrefix(id);
  const str = (description: string, extra: Doc = {}) => ({ type: 'string', description, ...extra });
  const time = (description: string) => ({ type: 'string', format: 'date-time', description });
  return {
    [`${p}.${KIND}`]: {
      type: 'object',
      description: 'Widget is a namespaced, scalable unit of work served by the Widget extension API server.',
      required: ['spec'],
      properties: {
        apiVersion: str(API_VERSION_DOC),
        kind: str(KIND_DOC),
        metadata: { ...ref(`${META}.ObjectMeta`), description: "Standard object's metadata." },
        spec: { ...ref(`${p}.WidgetSpec`), description: 'Spec is the desired state of the Widget.' },
        status: {
          ...ref(`${p}.WidgetStatus`),
          description: 'Status is the observed state of the Widget, written through the status subresource.',
        },
      },
      'x-kubernetes-group-version-kind': gvk(id.group, id.version, KIND),
    },
    [`${p}.WidgetSpec`]: {
      type: 'object',
      description: 'WidgetSpec is the desired state of a Widget.',
      required: ['image'],
      properties: {
        image: str(
          'Image is the container image the Widget runs, as a valid image reference (registry/path:tag or @sha256 digest).',
        ),
        replicas: {
          type: 'integer',
          format: 'int32',
          minimum: MIN_REPLICAS,
          maximum: MAX_REPLICAS,
          default: 1,
          description: `Replicas is the desired number of instances, ${MIN_REPLICAS} to ${MAX_REPLICAS}. Defaults to 1. Scalable through the scale subresource.`,
        },
        color: str(`Color of the Widget. One of ${WIDGET_COLORS.join(', ')}. Defaults to ${DEFAULT_COLOR}.`, {
          enum: [...WIDGET_COLORS],
          default: DEFAULT_COLOR,
        }),
      },
    },
    [`${p}.WidgetStatus`]: {
      type: 'object',
      description: 'WidgetStatus is the observed state of a Widget.',
      properties: {
        availableReplicas: {
          type: 'integer',
          format: 'int32',
          minimum: 0,
          description: 'AvailableReplicas is the number of instances ready to serve.',
        },
        phase: str(
          `Phase summarizes the Widget's lifecycle: ${WIDGET_PHASES.join(', ')}. Pending when created.`,
          { enum: [...WIDGET_PHASES] },
        ),
        lastUpdated: time('LastUpdated is when the status last changed.'),
        conditions: {
          type: 'array',
          description: 'Conditions are the latest observations of the Widget, one per type.',
          items: ref(`${META}.Condition`),
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['type'],
          'x-kubernetes-patch-strategy': 'merge',
          'x-kubernetes-patch-merge-key': 'type',
        },
      },
    },
    [`${p}.${LIST_KIND}`]: {
      type: 'object',
      description: 'WidgetList is a list of Widgets.',
      required: ['items'],
      properties: {
        apiVersion: str(API_VERSION_DOC),
        kind: str(KIND_DOC),
        metadata: { ...ref(`${META}.ListMeta`), description: 'Standard list metadata.' },
        items: { type: 'array', description: 'Items is the list of Widgets.', items: ref(`${p}.${KIND}`) },
      },
      'x-kubernetes-group-version-kind': gvk(id.group, id.version, LIST_KIND),
    },
    [`${META}.ObjectMeta`]: {
      type: 'object',
      description: 'ObjectMeta is metadata that all persisted resources must have.',
      properties: {
        name: str('Name must be unique within a namespace; a DNS subdomain of at most 253 characters.'),
        generateName: str(
          'GenerateName is a prefix the server uses to generate a unique name when name is empty.',
        ),
        namespace: str('Namespace the object lives in.'),
        uid: str('UID is the unique in time and space value for this object, set by the server.'),
        resourceVersion: str(
          'An opaque value that represents the internal version of this object, for optimistic concurrency and watches.',
        ),
        generation: {
          type: 'integer',
          format: 'int64',
          description: 'A sequence number representing a specific generation of the desired state.',
        },
        creationTimestamp: time('When this object was created.'),
        deletionTimestamp: time(
          'When this object will be deleted; set when deletion is requested while finalizers remain.',
        ),
        deletionGracePeriodSeconds: {
          type: 'integer',
          format: 'int64',
          description: 'Seconds allowed for graceful termination.',
        },
        labels: {
          type: 'object',
          additionalProperties: { type: 'string' },
          description: 'Map of string keys and values used to organize and select objects.',
        },
        annotations: {
          type: 'object',
          additionalProperties: { type: 'string' },
          description: 'Unstructured key value map for arbitrary metadata.',
        },
        ownerReferences: {
          type: 'array',
          description:
            'Objects this object depends on; the garbage collector deletes it when all owners are gone.',
          items: ref(`${META}.OwnerReference`),
          'x-kubernetes-patch-strategy': 'merge',
          'x-kubernetes-patch-merge-key': 'uid',
        },
        finalizers: {
          type: 'array',
          description: 'Must be empty before the object is deleted from the registry.',
          items: { type: 'string' },
          'x-kubernetes-patch-strategy': 'merge',
        },
        managedFields: {
          type: 'array',
          description: 'Field ownership information.',
          items: { type: 'object' },
        },
        selfLink: str('Deprecated; not set.'),
      },
    },
    [`${META}.OwnerReference`]: {
      type: 'object',
      description: 'OwnerReference identifies an owning object.',
      required: ['apiVersion', 'kind', 'name', 'uid'],
      properties: {
        apiVersion: str('API version of the referent.'),
        kind: str('Kind of the referent.'),
        name: str('Name of the referent.'),
        uid: str('UID of the referent.'),
        controller: {
          type: 'boolean',
          description: 'If true, this reference points to the managing controller.',
        },
        blockOwnerDeletion: {
          type: 'boolean',
          description: 'If true, the owner cannot be deleted until this object is.',
        },
      },
    },
    [`${META}.ListMeta`]: {
      type: 'object',
      description: 'ListMeta describes metadata that synthetic resources must have.',
      properties: {
        resourceVersion: str('The version of the list, for watches.'),
        continue: str('Token to retrieve the next page of results.'),
        remainingItemCount: {
          type: 'integer',
          format: 'int64',
          description: 'Number of items after this page.',
        },
      },
    },
    [`${META}.Condition`]: {
      type: 'object',
      description: 'Condition contains details for one aspect of the current state.',
      required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
      properties: {
        type: str('Type of condition in CamelCase.'),
        status: str('Status of the condition, one of True, False, Unknown.', {
          enum: ['True', 'False', 'Unknown'],
        }),
        observedGeneration: {
          type: 'integer',
          format: 'int64',
          description: 'The metadata.generation the condition was set based on.',
        },
        lastTransitionTime: time('Last time the condition transitioned from one status to another.'),
        reason: str("A programmatic identifier for the condition's last transition, in CamelCase."),
        message: str('A human readable message about the transition.'),
      },
    },
    [`${META}.Status`]: {
      type: 'object',
      description: 'Status is a return value for calls that do not return other objects.',
      properties: {
        apiVersion: str(API_VERSION_DOC),
        kind: str(KIND_DOC),
        metadata: { ...ref(`${META}.ListMeta`), description: 'Standard list metadata.' },
        status: str('Status of the operation. One of: "Success" or "Failure".'),
        message: str('A human-readable description of the status of this operation.'),
        reason: str(
          'A machine-readable description of why this operation is in the "Failure" status, such as NotFound or Invalid.',
        ),
        code: {
          type: 'integer',
          format: 'int32',
          description: 'Suggested HTTP return code for this status.',
        },
        details: {
          type: 'object',
          description:
            'Extended data associated with the reason: name, group, kind, uid, causes and retryAfterSeconds.',
        },
      },
      'x-kubernetes-group-version-kind': gvk('', 'v1', 'Status'),
    },
    [`${META}.DeleteOptions`]: {
      type: 'object',
      description: 'DeleteOptions may be provided when deleting an API object.',
      properties: {
        apiVersion: str(API_VERSION_DOC),
        kind: str(KIND_DOC),
        gracePeriodSeconds: {
          type: 'integer',
          format: 'int64',
          description: 'The duration in seconds before the object should be deleted.',
        },
        preconditions: {
          type: 'object',
          description: 'Must be fulfilled before a deletion is carried out.',
          properties: {
            uid: str('Specifies the target UID.'),
            resourceVersion: str('Specifies the target ResourceVersion.'),
          },
        },
        propagationPolicy: str(
          "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
          { enum: ['Orphan', 'Background', 'Foreground'] },
        ),
        orphanDependents: {
          type: 'boolean',
          description: 'Deprecated: use propagationPolicy. Should the dependent objects be orphaned.',
        },
        dryRun: {
          type: 'array',
          description: "When present, modifications are not persisted. Valid value: 'All'.",
          items: { type: 'string' },
        },
      },
      'x-kubernetes-group-version-kind': gvk('', 'v1', 'DeleteOptions'),
    },
    [`${META}.WatchEvent`]: {
      type: 'object',
      description: 'Event represents a single event to a watched resource.',
      required: ['type', 'object'],
      properties: {
        type: str('ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.'),
        object: {
          type: 'object',
          description:
            'The object: the new state for ADDED and MODIFIED, the last state for DELETED, a Status for ERROR, and only metadata.resourceVersion for BOOKMARK.',
        },
      },
      'x-kubernetes-group-version-kind': gvk(id.group, id.version, 'WatchEvent'),
    },
    [`${META}.Patch`]: {
      type: 'object',
      description: 'A patch document: JSON patch, merge patch or strategic merge patch.',
    },
    [SCALE]: {
      type: 'object',
      description: 'Scale represents a scaling request for a resource.',
      properties: {
        apiVersion: str(API_VERSION_DOC),
        kind: str(KIND_DOC),
        metadata: { ...ref(`${META}.ObjectMeta`), description: "Standard object's metadata." },
        spec: {
          type: 'object',
          description: 'Defines the behavior of the scale.',
          properties: {
            replicas: {
              type: 'integer',
              format: 'int32',
              minimum: MIN_REPLICAS,
              maximum: MAX_REPLICAS,
              description: 'Desired number of instances for the scaled object.',
            },
          },
        },
        status: {
          type: 'object',
          description: 'The current status of the scale. Read-only.',
          required: ['replicas'],
          properties: {
            replicas: {
              type: 'integer',
              format: 'int32',
              description: 'Actual number of observed instances of the scaled object.',
            },
            selector: str('Label query over pods that should match the replicas count.'),
          },
        },
      },
      'x-kubernetes-group-version-kind': gvk('autoscaling', 'v1', 'Scale'),
    },
  };
}

interface Param {
  name: string;
  in: 'query' | 'path';
  description: string;
  type?: 'string' | 'integer' | 'boolean';
  required?: boolean;
}

const q = (name: string, type: Param['type'], description: string): Param => ({
  name,
  in: 'query',
  type,
  description,
});
const DRY_RUN = q(
  'dryRun',
  'string',
  'When present, indicates that modifications should not be persisted. Valid value: All.',
);
const FIELD_MANAGER = q(
  'fieldManager',
  'string',
  'A name associated with the actor or entity that is making these changes.',
);
const FIELD_VALIDATION = q(
  'fieldValidation',
  'string',
  'How the server handles unknown or duplicate fields: Ignore, Warn (default) or Strict.',
);
const PRETTY = q('pretty', 'string', 'If true, the output is pretty printed.');
const LIST_PARAMS: Param[] = [
  q('allowWatchBookmarks', 'boolean', 'Request watch events with type BOOKMARK.'),
  q('continue', 'string', 'The continue token of a previous paginated list.'),
  q(
    'fieldSelector',
    'string',
    'Restrict the list by fields: metadata.name, metadata.namespace, status.phase.',
  ),
  q('labelSelector', 'string', 'Restrict the list by labels.'),
  q('limit', 'integer', 'Maximum number of items to return.'),
  q('resourceVersion', 'string', 'Constrains which resource versions the request may be served from.'),
  q('resourceVersionMatch', 'string', 'How resourceVersion is applied: Exact or NotOlderThan.'),
  q(
    'sendInitialEvents',
    'boolean',
    'With watch, send synthetic ADDED events for the current state, then a bookmark.',
  ),
  q('timeoutSeconds', 'integer', 'Timeout for the list/watch call.'),
  q('watch', 'boolean', 'Watch for changes and return them as a stream of events.'),
];
const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
];
const DELETE_PARAMS: Param[] = [
  DRY_RUN,
  q('gracePeriodSeconds', 'integer', 'Duration in seconds before the object should be deleted.'),
  q('propagationPolicy', 'string', 'Garbage collection policy: Orphan, Background or Foreground.'),
];

interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  id: string;
  action: string;
  description: string;
  params: Param[];
  body?: string;
  consumes?: string[];
  response: string;
  kind: string;
  group: string;
  version: string;
}

function operations(id: ApiIdentity): Array<{ path: string; params: Param[]; ops: Operation[] }> {
  const p = definitionPrefix(id);
  const base = `/apis/${id.group}/${id.version}`;
  const widget = `${p}.${KIND}`;
  const list = `${p}.${LIST_KIND}`;
  const nsParam: Param = {
    name: 'namespace',
    in: 'path',
    type: 'string',
    required: true,
    description: 'object name and auth scope, such as for teams and projects',
  };
  const nameParam: Param = {
    name: 'name',
    in: 'path',
    type: 'string',
    required: true,
    description: 'name of the Widget',
  };
  const op = (
    o: Omit<Operation, 'group' | 'version' | 'kind'> & { kind?: string; group?: string; version?: string },
  ): Operation => ({
    group: id.group,
    version: id.version,
    kind: KIND,
    ...o,
  });
  const itemOps = (
    suffix: string,
    sub: string,
    model: string,
    kind: string,
    group: string,
    version: string,
  ): Operation[] => [
    op({
      method: 'get',
      id: `read${sub}`,
      action: 'get',
      description: `read the specified ${kind}`,
      params: [],
      response: model,
      kind,
      group,
      version,
    }),
    op({
      method: 'put',
      id: `replace${sub}`,
      action: 'put',
      description: `replace the specified ${kind}`,
      params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
      body: model,
      response: model,
      kind,
      group,
      version,
    }),
    op({
      method: 'patch',
      id: `patch${sub}`,
      action: 'patch',
      description: `partially update the specified ${kind}`,
      params: [
        DRY_RUN,
        FIELD_MANAGER,
        FIELD_VALIDATION,
        q('force', 'boolean', 'Not supported: server-side apply is not served.'),
      ],
      body: `${META}.Patch`,
      consumes: PATCH_TYPES,
      response: model,
      kind,
      group,
      version,
    }),
    ...(suffix === ''
      ? [
          op({
            method: 'delete',
            id: 'deleteNamespacedWidget',
            action: 'delete',
            description: 'delete a Widget',
            params: DELETE_PARAMS,
            body: `${META}.DeleteOptions`,
            response: widget,
          }),
        ]
      : []),
  ];
  return [
    {
      path: `${base}/namespaces/{namespace}/${RESOURCE}`,
      params: [nsParam, PRETTY],
      ops: [
        op({
          method: 'get',
          id: 'listNamespacedWidget',
          action: 'list',
          description: 'list or watch objects of kind Widget',
          params: LIST_PARAMS,
          response: list,
        }),
        op({
          method: 'post',
          id: 'createNamespacedWidget',
          action: 'post',
          description: 'create a Widget',
          params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
          body: widget,
          response: widget,
        }),
        op({
          method: 'delete',
          id: 'deleteCollectionNamespacedWidget',
          action: 'deletecollection',
          description: 'delete collection of Widget',
          params: [...LIST_PARAMS, ...DELETE_PARAMS],
          body: `${META}.DeleteOptions`,
          response: `${META}.Status`,
        }),
      ],
    },
    {
      path: `${base}/namespaces/{namespace}/${RESOURCE}/{name}`,
      params: [nsParam, nameParam, PRETTY],
      ops: itemOps('', 'NamespacedWidget', widget, KIND, id.group, id.version),
    },
    {
      path: `${base}/namespaces/{namespace}/${RESOURCE}/{name}/status`,
      params: [nsParam, nameParam, PRETTY],
      ops: itemOps('/status', 'NamespacedWidgetStatus', widget, KIND, id.group, id.version),
    },
    {
      path: `${base}/namespaces/{namespace}/${RESOURCE}/{name}/scale`,
      params: [nsParam, nameParam, PRETTY],
      ops: itemOps('/scale', 'NamespacedWidgetScale', SCALE, 'Scale', 'autoscaling', 'v1'),
    },
    {
      path: `${base}/${RESOURCE}`,
      params: [PRETTY],
      ops: [
        op({
          method: 'get',
          id: 'listWidgetForAllNamespaces',
          action: 'list',
          description: 'list or watch objects of kind Widget in all namespaces',
          params: LIST_PARAMS,
          response: list,
        }),
      ],
    },
  ];
}

function v2Param(param: Param): Doc {
  const { type, ...rest } = param;
  return { ...rest, type, uniqueItems: true };
}

export function openApiV2(id: ApiIdentity): Doc {
  const paths: Record<string, Doc> = {};
  for (const entry of operations(id)) {
    const item: Doc = { parameters: entry.params.map(v2Param) };
    for (const o of entry.ops) {
      const params = o.params.map(v2Param);
      if (o.body)
        params.unshift({
          name: 'body',
          in: 'body',
          required: o.method !== 'delete',
          schema: { $ref: `#/definitions/${o.body}` },
        });
      item[o.method] = {
        description: o.description,
        operationId: o.id,
        tags: [`${id.group.split('.')[0]}_${id.version}`],
        consumes: o.consumes ?? ['*/*'],
        produces: ['application/json', 'application/yaml'],
        schemes: ['https'],
        parameters: params,
        responses: {
          '200': { description: 'OK', schema: { $ref: `#/definitions/${o.response}` } },
          ...(o.method === 'post'
            ? { '201': { description: 'Created', schema: { $ref: `#/definitions/${o.response}` } } }
            : {}),
          '401': { description: 'Unauthorized' },
        },
        'x-kubernetes-action': o.action,
        'x-kubernetes-group-version-kind': { group: o.group, version: o.version, kind: o.kind },
      };
    }
    paths[entry.path] = item;
  }
  return {
    swagger: '2.0',
    info: { title: `${id.group} Widget API`, version: id.version },
    paths,
    definitions: definitions(id, (name) => ({ $ref: `#/definitions/${name}` })),
    securityDefinitions: { BearerToken: { type: 'apiKey', name: 'authorization', in: 'header' } },
    security: [{ BearerToken: [] }],
    'x-kubernetes-categories': CATEGORIES,
  };
}

export function openApiV3GroupVersion(id: ApiIdentity): Doc {
  const paths: Record<string, Doc> = {};
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const param = (p: Param): Doc => ({
    name: p.name,
    in: p.in,
    description: p.description,
    required: p.required,
    schema: { type: p.type },
    uniqueItems: true,
  });
  for (const entry of operations(id)) {
    const item: Doc = { parameters: entry.params.map(param) };
    for (const o of entry.ops) {
      const op: Doc = {
        description: o.description,
        operationId: o.id,
        parameters: o.params.map(param),
        responses: {
          '200': {
            description: 'OK',
            content: {
              'application/json': { schema: ref(o.response) },
              'application/yaml': { schema: ref(o.response) },
            },
          },
          '401': { description: 'Unauthorized' },
        },
        'x-kubernetes-action': o.action,
        'x-kubernetes-group-version-kind': { group: o.group, version: o.version, kind: o.kind },
      };
      if (o.body) {
        const types = o.consumes ?? ['application/json', 'application/yaml'];
        op.requestBody = {
          required: o.method !== 'delete',
          content: Object.fromEntries(types.map((t) => [t, { schema: ref(o.body!) }])),
        };
      }
      item[o.method] = op;
    }
    paths[entry.path] = item;
  }
  return {
    openapi: '3.0.0',
    info: { title: `${id.group} Widget API`, version: id.version },
    paths,
    components: {
      schemas: definitions(id, (name) => ({ allOf: [ref(name)] })),
      securitySchemes: { BearerToken: { type: 'apiKey', name: 'authorization', in: 'header' } },
    },
  };
}

export function openApiV3Root(id: ApiIdentity, hash: string): Doc {
  return {
    paths: {
      [`apis/${id.group}/${id.version}`]: {
        serverRelativeURL: `/openapi/v3/apis/${id.group}/${id.version}?hash=${hash}`,
      },
    },
  };
}
