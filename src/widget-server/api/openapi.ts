/**
 * OpenAPI v2 and v3 documents for the kinds served, complete enough for `kubectl explain`, kubectl's
 * server-side field validation detection (the `fieldValidation` query parameter on PATCH) and its patch
 * type choice (strategic merge patch is listed because the server implements it). Definition names follow
 * kube-openapi's conventions so the aggregator merges them cleanly.
 */
import { servedVersions, type ApiIdentity, type ServedApi } from './types';
import * as meta from '../apis/meta/v1';
import { kindVersion, type AnyKind } from '../apis/kind';
import { widgetKind } from '../apis/widgets';
import type { ServedResource } from '../registry/registries';
import { definitionPrefix, openApiDefinitions } from '../schema/openapi';

type Doc = Record<string, unknown>;

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const SCALE = 'io.k8s.api.autoscaling.v1.Scale';

export { definitionPrefix };

/** What a document describes when its caller does not say: the Widget kind, in every version asked for. */
function defaultKinds(api: ApiIdentity | ServedApi): ServedResource[] {
  return [{ kind: widgetKind, versions: servedVersions(api) }];
}

function kindsIn(version: string, kinds: ServedResource[]): AnyKind[] {
  return kinds.filter((k) => k.versions.includes(version)).map((k) => k.kind);
}

function definitions(id: ApiIdentity, kinds: AnyKind[], ref: (name: string) => Doc): Record<string, Doc> {
  const roots = kinds.flatMap((kind) => {
    const { object, list } = kindVersion(kind, id.version).schema;
    return [object, list, ...(kind.scale ? [kind.scale.schema] : [])];
  });
  const defs = openApiDefinitions(
    [...roots, meta.status, meta.deleteOptions, meta.watchEvent, meta.patch],
    id,
    ref,
  );
  // A watch event is served in every group version; kube-openapi lists it under each.
  defs[`${META}.WatchEvent`]['x-kubernetes-group-version-kind'] = [
    { group: id.group, version: id.version, kind: 'WatchEvent' },
  ];
  return defs;
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
  'application/apply-patch+yaml',
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

function operations(
  id: ApiIdentity,
  kind: AnyKind,
): Array<{ path: string; params: Param[]; ops: Operation[] }> {
  const { kind: KIND, listKind: LIST_KIND, resource: RESOURCE } = kind.names;
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
    description: `name of the ${KIND}`,
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
        q(
          'force',
          'boolean',
          'Force is going to "force" Apply requests: the fields this manager applies are taken over from other managers instead of conflicting. Must be unset for non-apply patches.',
        ),
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
            id: `deleteNamespaced${KIND}`,
            action: 'delete',
            description: `delete a ${KIND}`,
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
          id: `listNamespaced${KIND}`,
          action: 'list',
          description: `list or watch objects of kind ${KIND}`,
          params: LIST_PARAMS,
          response: list,
        }),
        op({
          method: 'post',
          id: `createNamespaced${KIND}`,
          action: 'post',
          description: `create a ${KIND}`,
          params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
          body: widget,
          response: widget,
        }),
        op({
          method: 'delete',
          id: `deleteCollectionNamespaced${KIND}`,
          action: 'deletecollection',
          description: `delete collection of ${KIND}`,
          params: [...LIST_PARAMS, ...DELETE_PARAMS],
          body: `${META}.DeleteOptions`,
          response: `${META}.Status`,
        }),
      ],
    },
    {
      path: `${base}/namespaces/{namespace}/${RESOURCE}/{name}`,
      params: [nsParam, nameParam, PRETTY],
      ops: itemOps('', `Namespaced${KIND}`, widget, KIND, id.group, id.version),
    },
    ...(kind.strategy.status
      ? [
          {
            path: `${base}/namespaces/{namespace}/${RESOURCE}/{name}/status`,
            params: [nsParam, nameParam, PRETTY],
            ops: itemOps('/status', `Namespaced${KIND}Status`, widget, KIND, id.group, id.version),
          },
        ]
      : []),
    ...(kind.scale
      ? [
          {
            path: `${base}/namespaces/{namespace}/${RESOURCE}/{name}/scale`,
            params: [nsParam, nameParam, PRETTY],
            ops: itemOps('/scale', `Namespaced${KIND}Scale`, SCALE, 'Scale', 'autoscaling', 'v1'),
          },
        ]
      : []),
    {
      path: `${base}/${RESOURCE}`,
      params: [PRETTY],
      ops: [
        op({
          method: 'get',
          id: `list${KIND}ForAllNamespaces`,
          action: 'list',
          description: `list or watch objects of kind ${KIND} in all namespaces`,
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

/** The OpenAPI v2 document: every served version's paths and definitions in one, as kube-apiserver's. */
export function openApiV2(api: ApiIdentity | ServedApi, kinds = defaultKinds(api)): Doc {
  const versions = servedVersions(api);
  const paths: Record<string, Doc> = {};
  const defs: Record<string, Doc> = {};
  for (const version of versions) {
    const id = { group: api.group, version };
    const served = kindsIn(version, kinds);
    for (const kind of served) Object.assign(paths, openApiV2Paths(id, kind));
    Object.assign(
      defs,
      definitions(id, served, (name) => ({ $ref: `#/definitions/${name}` })),
    );
  }
  return {
    swagger: '2.0',
    info: { title: `${api.group} API`, version: versions[0] },
    paths,
    definitions: defs,
    securityDefinitions: { BearerToken: { type: 'apiKey', name: 'authorization', in: 'header' } },
    security: [{ BearerToken: [] }],
  };
}

function openApiV2Paths(id: ApiIdentity, kind: AnyKind): Record<string, Doc> {
  const paths: Record<string, Doc> = {};
  for (const entry of operations(id, kind)) {
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
  return paths;
}

export function openApiV3GroupVersion(id: ApiIdentity, kinds = defaultKinds(id)): Doc {
  const served = kindsIn(id.version, kinds);
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
  for (const entry of served.flatMap((kind) => operations(id, kind))) {
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
    info: { title: `${id.group} API`, version: id.version },
    paths,
    components: {
      schemas: definitions(id, served, (name) => ({ allOf: [ref(name)] })),
      securitySchemes: { BearerToken: { type: 'apiKey', name: 'authorization', in: 'header' } },
    },
  };
}

/** The /openapi/v3 index: one entry per group version, addressed by its document's hash. */
export function openApiV3Root(id: ApiIdentity, hash: string): Doc;
export function openApiV3Root(api: ServedApi, hashes: Record<string, string>): Doc;
export function openApiV3Root(api: ApiIdentity | ServedApi, hashes: string | Record<string, string>): Doc {
  const paths: Record<string, Doc> = {};
  for (const version of servedVersions(api)) {
    const hash = typeof hashes === 'string' ? hashes : hashes[version];
    paths[`apis/${api.group}/${version}`] = {
      serverRelativeURL: `/openapi/v3/apis/${api.group}/${version}?hash=${hash}`,
    };
  }
  return { paths };
}
