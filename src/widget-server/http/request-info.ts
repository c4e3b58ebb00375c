/**
 * Parses a request path and method into kube-apiserver's RequestInfo (pkg/endpoints/request/requestinfo.go):
 * resource vs non-resource, API verb (get, list, watch, create, update, patch, delete, deletecollection),
 * namespace, resource, subresource and name, and the list options of collection requests. Routing,
 * authorization, metrics and the handlers all key off this one view, parsed once per request.
 */
import { exactFieldValue } from '../api/selectors';
import { parseListQuery, type ListQuery } from '../registry/list-options';
import { KINDS } from '../apis';
import { RequestQuery } from './query';

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
  /**
   * The name authorization sees, as kube-apiserver sets it: the name in the path, or for a list or watch
   * narrowed by `fieldSelector=metadata.name=<n>`, that name.
   */
  name?: string;
  /** The name segment of the path: routing keys off this, never off a name taken from a selector. */
  pathName?: string;
  /** Extra path segments past the subresource (never valid for Widgets). */
  parts: string[];
  /** True when the legacy `/watch/` path prefix was used. */
  legacyWatch: boolean;
  /** The query string, parsed once: the handlers read the same values authorization was decided on. */
  query: RequestQuery;
  /**
   * For list, watch and deletecollection: the list options decoded from `query`, or the error decoding
   * them (answered by the handler, after authorization, as kube-apiserver does).
   */
  listOptions?: { query: ListQuery } | { error: unknown };
}

const methodVerbs: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** apimachinery's path.IsValidPathSegmentName: a selector name used for authorization must be one. */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * The path as Go's net/url hands it to kube-apiserver: percent-decoded before it is split into segments.
 * A path that does not decode is kept as sent; it then matches no resource, for authorization and
 * routing alike.
 */
function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** `url` is the request target (path and query), e.g. express's `req.originalUrl`. */
/** The selectable fields of the kinds this server serves by default (apis/index.ts), by resource. */
function defaultSelectableFields(_group: string, _version: string, resource: string) {
  return KINDS.find((k) => k.names.resource === resource)?.strategy.selectableFields;
}

/**
 * `selectableFields` names the fields a resource's field selectors may use (the kind's, from the
 * storage map); absent, the kinds of apis/index.ts; for a resource of no kind, the fields every kind has.
 */
export function parseRequestInfo(
  method: string,
  url: string,
  selectableFields?: (group: string, version: string, resource: string) => readonly string[] | undefined,
): RequestInfo {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = RequestQuery.fromUrl(url);
  const segments = decodedPath(path)
    .split('/')
    .filter((s) => s.length > 0);
  const nonResource: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    parts: [],
    legacyWatch: false,
    query,
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
    query,
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
      info.name = info.pathName = info.namespace;
      info.namespace = undefined;
    }
  }
  if (rest.length === 0 && !info.resource) return nonResource;
  if (!info.resource) {
    info.resource = rest[0];
    if (rest.length >= 2) info.name = info.pathName = rest[1];
    if (rest.length >= 3) info.subresource = rest[2];
    if (rest.length > 3) info.parts = rest.slice(3);
  }

  if (!info.legacyWatch && info.verb === 'get' && !info.pathName) {
    info.verb = query.bool('watch') ? 'watch' : 'list';
  }
  if (info.verb === 'delete' && !info.pathName) info.verb = 'deletecollection';
  if (info.verb === 'list' || info.verb === 'watch' || info.verb === 'deletecollection') {
    try {
      const fields = (selectableFields ?? defaultSelectableFields)(
        info.apiGroup ?? '',
        info.apiVersion ?? '',
        info.resource,
      );
      info.listOptions = { query: parseListQuery(query, info.legacyWatch, fields) };
    } catch (error) {
      info.listOptions = { error };
    }
  }
  // A list or watch narrowed to one name by fieldSelector is authorized for that name (and served with
  // the same parsed selector, so it can return nothing else).
  if (
    (info.verb === 'list' || info.verb === 'watch') &&
    !info.pathName &&
    !info.legacyWatch &&
    info.listOptions
  ) {
    const selector = 'query' in info.listOptions ? info.listOptions.query.fieldSelector : undefined;
    const name = selector ? exactFieldValue(selector, 'metadata.name') : undefined;
    if (name !== undefined && isValidPathSegmentName(name)) info.name = name;
  }
  return info;
}
