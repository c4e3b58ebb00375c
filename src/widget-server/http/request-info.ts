/**
 * Parses a request path and method into kube-apiserver's RequestInfo (pkg/endpoints/request/requestinfo.go):
 * resource vs non-resource, API verb (get, list, watch, create, update, patch, delete, deletecollection),
 * namespace, resource, subresource and name. Routing, authorization and metrics all key off this one view.
 */
import { parseFieldSelector, exactFieldValue } from '../api/selectors';

export interface RequestInfo {
  isResourceRequest: boolean;
  path: string;
  /** Lowercased HTTP method for non-resource requests; the API verb for resource requests. */
  verb: string;
  apiPrefix?: string;
  apiGroup?: string;
  apiVersion?: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  /** Extra path segments past the subresource (never valid for Widgets). */
  parts: string[];
  /** True when the legacy `/watch/` path prefix was used. */
  legacyWatch: boolean;
}

const methodVerbs: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

function queryValue(query: Record<string, unknown>, key: string): string | undefined {
  const v = query[key];
  if (Array.isArray(v)) return v.length ? String(v[0]) : undefined;
  return v === undefined ? undefined : String(v);
}

export function parseRequestInfo(method: string, path: string, query: Record<string, unknown>): RequestInfo {
  const segments = path.split('/').filter((s) => s.length > 0);
  const nonResource: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    parts: [],
    legacyWatch: false,
  };
  if (segments[0] !== 'apis' || segments.length < 3) return nonResource;

  const info: RequestInfo = {
    isResourceRequest: true,
    path,
    verb: methodVerbs[method.toUpperCase()] ?? method.toLowerCase(),
    apiPrefix: 'apis',
    apiGroup: segments[1],
    apiVersion: segments[2],
    parts: [],
    legacyWatch: false,
  };
  let rest = segments.slice(3);
  if (rest[0] === 'watch') {
    info.legacyWatch = true;
    info.verb = 'watch';
    rest = rest.slice(1);
  }
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    info.namespace = rest[1];
    rest = rest.slice(2);
    if (rest.length === 0) {
      // `/namespaces/<ns>` alone names the namespace object itself, which this server does not serve.
      info.resource = 'namespaces';
      info.name = info.namespace;
      info.namespace = undefined;
    }
  }
  if (rest.length === 0 && !info.resource) return nonResource;
  if (!info.resource) {
    info.resource = rest[0];
    if (rest.length >= 2) info.name = rest[1];
    if (rest.length >= 3) info.subresource = rest[2];
    if (rest.length > 3) info.parts = rest.slice(3);
  }

  if (!info.legacyWatch && info.verb === 'get' && !info.name) {
    const watch = queryValue(query, 'watch');
    info.verb = watch === 'true' || watch === '1' ? 'watch' : 'list';
  }
  if (info.verb === 'delete' && !info.name) info.verb = 'deletecollection';
  // A list or watch narrowed to one name by fieldSelector is authorized for that name.
  if ((info.verb === 'list' || info.verb === 'watch') && !info.name) {
    const selector = queryValue(query, 'fieldSelector');
    if (selector) {
      try {
        const name = exactFieldValue(
          parseFieldSelector(selector, ['metadata.name', 'metadata.namespace', 'status.phase']),
          'metadata.name',
        );
        if (name) info.name = name;
      } catch {
        // An unparseable selector is rejected later with a proper 400.
      }
    }
  }
  return info;
}
