/**
 * Discovery documents, for the kinds served in each version: aggregated discovery v2
 * (APIGroupDiscoveryList), the legacy APIGroupList, APIGroup and APIResourceList, and /version. Every
 * resource and subresource carries its kind, since clients drop entries without one.
 */
import { servedVersions, type ApiIdentity, type ServedApi } from './types';
import type { ServedResource } from '../registry/registries';
import { widgetKind } from '../apis/widgets';

const RESOURCE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const SUBRESOURCE_VERBS = ['get', 'patch', 'update'];

export const PRODUCT_VERSION = '0.1.0';

/** What a document describes when its caller does not say: the Widget kind, in every version asked for. */
function defaultKinds(api: ApiIdentity | ServedApi): ServedResource[] {
  return [{ kind: widgetKind, versions: servedVersions(api) }];
}

/** The kinds served in one version. */
function kindsIn(version: string, kinds: ServedResource[]) {
  return kinds.filter((k) => k.versions.includes(version)).map((k) => k.kind);
}

export function aggregatedDiscovery(api: ApiIdentity | ServedApi, kinds = defaultKinds(api)): object {
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: [
      {
        metadata: { name: api.group, creationTimestamp: null },
        // In priority order: clients take the first as the preferred version.
        versions: servedVersions(api).map((version) => ({
          version,
          freshness: 'Current',
          resources: kindsIn(version, kinds).map((kind) => {
            const responseKind = { group: api.group, version, kind: kind.names.kind };
            const subresources: object[] = [];
            if (kind.scale) {
              subresources.push({
                subresource: 'scale',
                responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
                verbs: SUBRESOURCE_VERBS,
              });
            }
            if (kind.strategy.status)
              subresources.push({ subresource: 'status', responseKind, verbs: SUBRESOURCE_VERBS });
            return {
              resource: kind.names.resource,
              responseKind,
              scope: kind.names.namespaced ? 'Namespaced' : 'Cluster',
              singularResource: kind.names.singular,
              shortNames: kind.names.shortNames,
              categories: kind.names.categories,
              verbs: RESOURCE_VERBS,
              subresources,
            };
          }),
        })),
      },
    ],
  };
}

function groupVersion(id: ApiIdentity) {
  return { groupVersion: `${id.group}/${id.version}`, version: id.version };
}

export function apiGroup(api: ApiIdentity | ServedApi): object {
  const versions = servedVersions(api).map((version) => groupVersion({ group: api.group, version }));
  return {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: api.group,
    versions,
    preferredVersion: versions[0],
  };
}

export function apiGroupList(id: ApiIdentity | ServedApi): object {
  const { kind: _kind, apiVersion: _apiVersion, ...group } = apiGroup(id) as Record<string, unknown>;
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [group] };
}

export function apiResourceList(id: ApiIdentity, kinds = defaultKinds(id)): object {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${id.group}/${id.version}`,
    resources: kindsIn(id.version, kinds).flatMap((kind) => {
      const { resource, namespaced } = kind.names;
      return [
        {
          name: resource,
          singularName: kind.names.singular,
          namespaced,
          kind: kind.names.kind,
          verbs: RESOURCE_VERBS,
          shortNames: kind.names.shortNames,
          categories: kind.names.categories,
        },
        ...(kind.scale
          ? [
              {
                name: `${resource}/scale`,
                singularName: '',
                namespaced,
                group: 'autoscaling',
                version: 'v1',
                kind: 'Scale',
                verbs: SUBRESOURCE_VERBS,
              },
            ]
          : []),
        ...(kind.strategy.status
          ? [
              {
                name: `${resource}/status`,
                singularName: '',
                namespaced,
                kind: kind.names.kind,
                verbs: SUBRESOURCE_VERBS,
              },
            ]
          : []),
      ];
    }),
  };
}

export function versionInfo(): object {
  const [major, minor] = PRODUCT_VERSION.split('.');
  return {
    major,
    minor,
    gitVersion: `v${PRODUCT_VERSION}`,
    gitCommit: process.env.GIT_COMMIT ?? '',
    gitTreeState: process.env.GIT_COMMIT ? 'clean' : '',
    buildDate: process.env.BUILD_DATE ?? '',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsc',
    platform: `${process.platform}/${process.arch}`,
  };
}
