/**
 * The metadata every object an AggregatedAPI owns carries: its owner labels (the operator watches by
 * them) and a controller ownerReference (the garbage collector removes what the AggregatedAPI leaves).
 */
import { ownerLabels, ownerReference, type AggregatedAPI } from '../api/aggregated-api';

export function meta(api: AggregatedAPI, name: string, namespace?: string) {
  return {
    name,
    ...(namespace ? { namespace } : {}),
    labels: ownerLabels(api),
    ownerReferences: [ownerReference(api)],
  };
}

export const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A Secret's `data` as text. */
export const decodeSecretData = (data: Record<string, string> | undefined) =>
  data
    ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
    : undefined;
