/**
 * The AggregatedAPI custom resource (aggregation.example.com/v1alpha1) as the operator sees it: its types
 * and the defaults the CRD also applies (both generated from the CRD; an object written before a CRD
 * upgrade reads the same), Go-style
 * duration parsing for the certificate policy, and the names of everything one AggregatedAPI owns.
 */
import type { Condition } from '../../shared/condition';

export const GROUP = 'aggregation.example.com';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'AggregatedAPI';
export const PLURAL = 'aggregatedapis';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'aggregator-operator';
export const OWNER_LABEL = `${GROUP}/aggregatedapi`;
export const FINALIZER = `${GROUP}/cleanup-apiservices`;

// The spec and status types, and the CRD's defaults, are generated from the CRD (codegen.ts).
import type { AggregatedAPISpec, AggregatedAPIStatus } from './aggregated-api.generated';
import { SPEC_DEFAULTS } from './aggregated-api.generated';

export type { AggregatedAPISpec, AggregatedAPIStatus };
export { SPEC_DEFAULTS };
export type ApiVersionSpec = AggregatedAPISpec['versions'][number];
export type EtcdStorageSpec = NonNullable<NonNullable<AggregatedAPISpec['storage']>['etcd']>;
export type ApiServiceStatus = NonNullable<AggregatedAPIStatus['apiServices']>[number];
export type { Condition };

export interface AggregatedAPI {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: AggregatedAPISpec;
  status?: AggregatedAPIStatus;
}

export const DEFAULT_CA_DURATION = SPEC_DEFAULTS.certificates.caDuration;
export const DEFAULT_SERVING_DURATION = SPEC_DEFAULTS.certificates.servingCertificateDuration;
export const DEFAULT_RENEW_BEFORE = SPEC_DEFAULTS.certificates.renewBefore;

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go time.Duration string ("8760h", "1h30m", "90s"), as the CRD's format: duration accepts. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) {
    throw new Error(`invalid duration ${JSON.stringify(text)}`);
  }
  let total = 0;
  for (const match of text.matchAll(re)) total += Number(match[1]) * UNIT_MS[match[2]];
  return total;
}

export interface CertificatePolicy {
  caValidityMs: number;
  servingValidityMs: number;
  renewBeforeMs: number;
  /** The CA is replaced when less than this remains: renewBefore, or a third of its lifetime if longer. */
  caRenewBeforeMs: number;
}

export function certificatePolicy(spec: AggregatedAPISpec): CertificatePolicy {
  const caValidityMs = parseDuration(spec.certificates?.caDuration ?? DEFAULT_CA_DURATION);
  const servingValidityMs = parseDuration(
    spec.certificates?.servingCertificateDuration ?? DEFAULT_SERVING_DURATION,
  );
  const renewBeforeMs = parseDuration(spec.certificates?.renewBefore ?? DEFAULT_RENEW_BEFORE);
  return {
    caValidityMs,
    servingValidityMs,
    renewBeforeMs,
    caRenewBeforeMs: Math.max(renewBeforeMs, caValidityMs / 3),
  };
}

/** Names of everything one AggregatedAPI owns; the server's objects share `<name>-apiserver`. */
export function ownedNames(api: AggregatedAPI) {
  const name = api.metadata.name;
  const server = `${name}-apiserver`;
  return {
    namespace: api.spec.namespace,
    server,
    caSecret: `${name}-ca`,
    servingSecret: `${name}-serving-cert`,
    authDelegator: `aggregatedapi:${name}:auth-delegator`,
    authReader: `aggregatedapi:${name}:auth-reader`,
    apiServices: api.spec.versions.map((v) => `${v.name}.${api.spec.group}`),
  };
}

export function ownerLabels(api: AggregatedAPI): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, [OWNER_LABEL]: api.metadata.name };
}

export function ownerReference(api: AggregatedAPI) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: api.metadata.name,
    uid: api.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function usesEtcd(spec: AggregatedAPISpec): boolean {
  return !!spec.storage?.etcd;
}
