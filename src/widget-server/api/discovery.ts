/**
 * Discovery documents: aggregated discovery v2 (APIGroupDiscoveryList), the legacy APIGroupList,
 * APIGroup and APIResourceList, and /version. Every resource and subresource carries its kind, since
 * clients drop entries without one.
 */
import {
  CATEGORIES,
  KIND,
  RESOURCE,
  SHORT_NAMES,
  SINGULAR,
  servedVersions,
  type ApiIdentity,
  type ServedApi,
} from './types';

const RESOURCE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const SUBRESOURCE_VERBS = ['get', 'patch', 'update'];

export const PRODUCT_VERSION = '0.1.0';

export function aggregatedDiscovery(api: ApiIdentity | ServedApi): object {
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: [
      {
        metadata: { name: api.group, creationTimestamp: null },
        // In priority order: clients take the first as the preferred version.
        versions: servedVersions(api).map((version) => discoveryVersion({ group: api.group, version })),
      },
    ],
  };
}

function discoveryVersion(id: ApiIdentity): object {
  const widgetKind = { group: id.group, version: id.version, kind: KIND };
  return {
    version: id.version,
    freshness: 'Current',
    resources: [
      {
        resource: RESOURCE,
        responseKind: widgetKind,
        scope: 'Namespaced',
        singularResource: SINGULAR,
        shortNames: SHORT_NAMES,
        categories: CATEGORIES,
        verbs: RESOURCE_VERBS,
        subresources: [
          {
            subresource: 'scale',
            responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
            verbs: SUBRESOURCE_VERBS,
          },
          { subresource: 'status', responseKind: widgetKind, verbs: SUBRESOURCE_VERBS },
        ],
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

export function apiResourceList(id: ApiIdentity): object {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${id.group}/${id.version}`,
    resources: [
      {
        name: RESOURCE,
        singularName: SINGULAR,
        namespaced: true,
        kind: KIND,
        verbs: RESOURCE_VERBS,
        shortNames: SHORT_NAMES,
        categories: CATEGORIES,
      },
      {
        name: `${RESOURCE}/scale`,
        singularName: '',
        namespaced: true,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: SUBRESOURCE_VERBS,
      },
      {
        name: `${RESOURCE}/status`,
        singularName: '',
        namespaced: true,
        kind: KIND,
        verbs: SUBRESOURCE_VERBS,
      },
    ],
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
