/**
 * Content negotiation as kube-apiserver does it (apiserver pkg/endpoints/handlers/negotiation): the Accept
 * header picks JSON or YAML and an optional `as=Table|PartialObjectMetadata[List];g=meta.k8s.io;v=...`
 * transform; protobuf alternatives are skipped in favour of the JSON one, never answered with 406 while a
 * JSON alternative exists.
 */
import { notAcceptable } from '../../shared/status-errors';

export type Endpoint = 'object' | 'list' | 'watch';
export type Transform = 'Table' | 'PartialObjectMetadata' | 'PartialObjectMetadataList';

export interface OutputForm {
  mediaType: 'application/json' | 'application/yaml';
  transform?: Transform;
  /** meta.k8s.io version of the transform (v1 or v1beta1). */
  transformVersion?: 'v1' | 'v1beta1';
}

interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
  index: number;
}

function parseAccept(header: string): MediaRange[] {
  return header
    .split(',')
    .map((part, index) => {
      const [type, ...rawParams] = part.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of rawParams) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
      }
      const q = params.q !== undefined ? Number(params.q) : 1;
      delete params.q;
      return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0, index };
    })
    .filter((r) => r.type.length > 0 && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
}

const transformsFor: Record<Endpoint, Transform[]> = {
  object: ['Table', 'PartialObjectMetadata'],
  list: ['Table', 'PartialObjectMetadataList'],
  watch: ['Table', 'PartialObjectMetadata'],
};

const ACCEPTED = [
  'application/json',
  'application/yaml',
  'application/json;as=Table;v=v1;g=meta.k8s.io',
  'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io',
  'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io',
];

function candidate(range: MediaRange, endpoint: Endpoint): OutputForm | undefined {
  const { type, params } = range;
  const jsonLike = type === 'application/json' || type === '*/*' || type === 'application/*';
  const yaml = type === 'application/yaml';
  if (!jsonLike && !yaml) return undefined;
  if (endpoint === 'watch' && yaml) return undefined;
  if (params.stream !== undefined && params.stream !== 'watch') return undefined;
  const mediaType = yaml ? 'application/yaml' : 'application/json';
  if (params.as === undefined) {
    if (params.g !== undefined || params.v !== undefined) return undefined;
    return { mediaType };
  }
  const as = params.as as Transform;
  if (!transformsFor[endpoint].includes(as)) return undefined;
  if (params.g !== 'meta.k8s.io') return undefined;
  if (params.v !== 'v1' && params.v !== 'v1beta1') return undefined;
  if (as !== 'Table' && params.v !== 'v1') return undefined;
  return { mediaType, transform: as, transformVersion: params.v };
}

/** Picks the output form; 406 NotAcceptable when no alternative can be served. */
export function negotiateOutput(accept: string | undefined, endpoint: Endpoint): OutputForm {
  if (!accept || accept.trim() === '') return { mediaType: 'application/json' };
  for (const range of parseAccept(accept)) {
    const form = candidate(range, endpoint);
    if (form) return form;
  }
  throw notAcceptable(ACCEPTED);
}

/** Negotiation for documents without transforms (discovery, OpenAPI, Status). */
export function acceptsJson(accept: string | undefined): boolean {
  if (!accept || accept.trim() === '') return true;
  return parseAccept(accept).some(
    (r) => r.type === 'application/json' || r.type === '*/*' || r.type === 'application/*',
  );
}

export function mediaTypeParams(
  accept: string | undefined,
): Array<{ type: string; params: Record<string, string> }> {
  return accept ? parseAccept(accept).map(({ type, params }) => ({ type, params })) : [];
}
