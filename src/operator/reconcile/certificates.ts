/**
 * The certificate state machine of one AggregatedAPI, as a pure function of what is stored: given the CA
 * Secret, the serving-certificate Secret, the caBundles the APIServices publish and what the running
 * replicas serve, it says what to store next and which bundle to publish. Every step is persisted before
 * the next one acts on it, so a reconcile killed at any point resumes correctly:
 *
 *   1. CA near expiry: generate the next CA and store it beside the active one (bundle: active + next).
 *   2. Once every APIService has published the next CA for a while: promote it (the old one becomes "previous", still in
 *      the bundle) and issue a serving certificate from it.
 *   3. Once every running replica serves a certificate from the active CA: drop "previous".
 *
 * The serving certificate is renewed at its renew-before point from the active CA; a certificate the
 * active CA did not sign, with the wrong names, or not matching its key is replaced at once.
 */
import {
  BACKDATE_MS,
  certMatchesKey,
  createCA,
  issueServingCert,
  parseCert,
  splitPemBundle,
  verifyCertSignedBy,
} from '../../shared/pki';
import type { CertificatePolicy } from '../api/aggregated-api';

export const CA_CERT_KEY = 'ca.crt';
export const CA_KEY_KEY = 'ca.key';
export const NEXT_CA_CERT_KEY = 'next-ca.crt';
export const NEXT_CA_KEY_KEY = 'next-ca.key';
export const PREVIOUS_CA_KEY = 'previous-ca.crt';

/**
 * How long the next CA stays published before serving certificates move to it: an APIService's stored
 * caBundle reaches every kube-apiserver's aggregator through a watch, not at once.
 */
export const CA_PUBLISH_DWELL_MS = 10_000;

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface CaState {
  active: KeyPair;
  next?: KeyPair;
  /** Retired CA certificates (PEM bundle) still trusted until every replica serves from the active CA. */
  previous?: string;
}

export interface CertificateInputs {
  now: Date;
  policy: CertificatePolicy;
  /** Decoded data of the CA Secret, if it exists. */
  caData?: Record<string, string>;
  /** Decoded data of the serving Secret (tls.crt, tls.key), if it exists. */
  servingData?: Record<string, string>;
  /** DNS names the serving certificate must carry (the Service's names). */
  dnsNames: string[];
  /** The serving certificate's common name (default: the last of dnsNames). */
  commonName?: string;
  /** Issue the serving certificate for client authentication too (an etcd member's peer certificate). */
  clientAuth?: boolean;
  /** caBundle of each APIService (undefined where the APIService does not exist yet). */
  publishedBundles: (string | undefined)[];
  /**
   * SHA-256 fingerprints of the certificates the running replicas serve ([] when none runs), or
   * undefined when not known (a replica is not ready yet or did not answer).
   */
  servedFingerprints?: string[];
}

export type CertificateEvent = { type: 'Normal' | 'Warning'; reason: string; message: string };

export interface CertificatePlan {
  ca: CaState;
  caChanged: boolean;
  serving: KeyPair;
  servingChanged: boolean;
  /** The caBundle to publish in every APIService: active, next and previous CAs. */
  bundle: string;
  /** A rotation step still to come (for Progressing); undefined when at rest. */
  pendingStep?: 'PublishingNextCA' | 'RollingOutServingCertificate' | 'RetiringPreviousCA';
  caNotAfter: Date;
  servingNotAfter: Date;
  events: CertificateEvent[];
}

function validPair(certPem: string | undefined, keyPem: string | undefined, now: Date): KeyPair | undefined {
  if (!certPem || !keyPem) return undefined;
  try {
    if (!certMatchesKey(certPem, keyPem)) return undefined;
    if (parseCert(certPem).notAfter <= now) return undefined;
    return { certPem, keyPem };
  } catch {
    return undefined;
  }
}

function unexpired(bundle: string | undefined, now: Date): string[] {
  return splitPemBundle(bundle ?? '').filter((pem) => {
    try {
      return parseCert(pem).notAfter > now;
    } catch {
      return false;
    }
  });
}

/** SHA-256 fingerprint of a PEM certificate, in the form TLS peers report it (fetchServedFingerprint). */
export function certificateFingerprint(pem: string): string {
  return parseCert(pem).fingerprintSha256;
}

function bundleContains(bundle: string | undefined, certPem: string): boolean {
  const wanted = certificateFingerprint(certPem);
  return splitPemBundle(bundle ?? '').some((pem) => {
    try {
      return certificateFingerprint(pem) === wanted;
    } catch {
      return false;
    }
  });
}

function joinBundle(pems: string[]): string {
  const seen = new Set<string>();
  const unique = pems.filter((pem) => {
    const fp = certificateFingerprint(pem);
    if (seen.has(fp)) return false;
    seen.add(fp);
    return true;
  });
  return unique.map((pem) => pem.trim() + '\n').join('');
}

export function caStateToData(ca: CaState): Record<string, string> {
  const data: Record<string, string> = { [CA_CERT_KEY]: ca.active.certPem, [CA_KEY_KEY]: ca.active.keyPem };
  if (ca.next) {
    data[NEXT_CA_CERT_KEY] = ca.next.certPem;
    data[NEXT_CA_KEY_KEY] = ca.next.keyPem;
  }
  if (ca.previous) data[PREVIOUS_CA_KEY] = ca.previous;
  return data;
}

function remainingMs(certPem: string, now: Date): number {
  return parseCert(certPem).notAfter.getTime() - now.getTime();
}

export function planCertificates(input: CertificateInputs): CertificatePlan {
  const { now, policy } = input;
  const events: CertificateEvent[] = [];
  const caData = input.caData ?? {};
  let caChanged = false;

  let active = validPair(caData[CA_CERT_KEY], caData[CA_KEY_KEY], now);
  let next = validPair(caData[NEXT_CA_CERT_KEY], caData[NEXT_CA_KEY_KEY], now);
  let previous = unexpired(caData[PREVIOUS_CA_KEY], now);
  if (previous.length !== splitPemBundle(caData[PREVIOUS_CA_KEY] ?? '').length) caChanged = true;
  if (!!caData[NEXT_CA_CERT_KEY] !== !!next) caChanged = true;

  const newCA = (): KeyPair => {
    const { certPem, keyPem } = createCA({
      commonName: `${input.dnsNames[0]}-ca-${Math.floor(now.getTime() / 1000)}`,
      validityMs: policy.caValidityMs,
      now,
    });
    return { certPem, keyPem };
  };

  if (!active) {
    // No usable CA (first reconcile, deleted Secret, expired or corrupt): start a new one, and keep
    // trusting what the APIServices publish now so that replicas still serving from it stay reachable.
    const published = input.publishedBundles.flatMap((b) => unexpired(b, now));
    if (next) {
      active = next;
      next = undefined;
    } else {
      active = newCA();
    }
    previous = [...previous, ...published].filter(
      (pem) => certificateFingerprint(pem) !== certificateFingerprint(active!.certPem),
    );
    caChanged = true;
    events.push({
      type: input.caData ? 'Warning' : 'Normal',
      reason: input.caData ? 'CARecreated' : 'CACreated',
      message: input.caData
        ? `the CA in the Secret was missing, expired or did not match its key; a new CA was created`
        : 'created the certificate authority',
    });
  }

  if (!next && remainingMs(active.certPem, now) < policy.caRenewBeforeMs) {
    next = newCA();
    caChanged = true;
    events.push({
      type: 'Normal',
      reason: 'CARotationStarted',
      message: `the CA expires at ${parseCert(active.certPem).notAfter.toISOString()}; publishing its successor beside it`,
    });
  }

  const published = input.publishedBundles.length > 0 && input.publishedBundles.every((b) => b !== undefined);
  const nextCreated = next ? parseCert(next.certPem).notBefore.getTime() + BACKDATE_MS : 0;
  if (
    next &&
    published &&
    now.getTime() - nextCreated >= CA_PUBLISH_DWELL_MS &&
    input.publishedBundles.every((b) => bundleContains(b, next!.certPem))
  ) {
    previous = [...previous, active.certPem];
    active = next;
    next = undefined;
    caChanged = true;
    events.push({
      type: 'Normal',
      reason: 'CAPromoted',
      message: 'every APIService trusts the new CA; serving certificates are now issued from it',
    });
  }

  // Serving certificate.
  const servingData = input.servingData ?? {};
  let serving = validPair(servingData['tls.crt'], servingData['tls.key'], now);
  let servingChanged = false;
  let servingReason: string | undefined;
  if (!serving) servingReason = input.servingData ? 'missing, expired or not matching its key' : 'missing';
  else if (!verifyCertSignedBy(serving.certPem, active.certPem))
    servingReason = 'not signed by the active CA';
  else {
    const names = new Set(parseCert(serving.certPem).dnsNames);
    if (!input.dnsNames.every((n) => names.has(n))) servingReason = 'missing a Service name';
    else if (!next && remainingMs(serving.certPem, now) < policy.renewBeforeMs)
      servingReason = 'due for renewal';
  }
  if (servingReason) {
    const caLeft = remainingMs(active.certPem, now);
    const issued = issueServingCert(active, {
      commonName: input.commonName ?? input.dnsNames[input.dnsNames.length - 1] ?? input.dnsNames[0],
      dnsNames: input.dnsNames,
      ipAddresses: [],
      clientAuth: input.clientAuth,
      validityMs: Math.min(policy.servingValidityMs, caLeft),
      now,
    });
    const replaced = !!input.servingData;
    serving = { certPem: issued.certPem, keyPem: issued.keyPem };
    servingChanged = true;
    events.push({
      type: replaced && servingReason !== 'due for renewal' ? 'Warning' : 'Normal',
      reason: replaced ? 'ServingCertificateRenewed' : 'ServingCertificateIssued',
      message: `serving certificate ${servingReason === 'missing' ? 'issued' : `replaced (${servingReason})`}; valid until ${issued.notAfter.toISOString()}`,
    });
  }
  const servingCert = serving!;

  // Retire previous CAs once every replica serves the current certificate, which the active CA signed.
  const currentFingerprint = certificateFingerprint(servingCert.certPem);
  const rolledOut =
    !servingChanged &&
    input.servedFingerprints !== undefined &&
    input.servedFingerprints.every((fp) => fp === currentFingerprint);
  if (previous.length > 0 && rolledOut) {
    previous = [];
    caChanged = true;
    events.push({
      type: 'Normal',
      reason: 'PreviousCARetired',
      message: 'every replica serves a certificate from the active CA; the previous CA left the bundle',
    });
  }
  const pendingStep: CertificatePlan['pendingStep'] = next
    ? 'PublishingNextCA'
    : previous.length > 0
      ? 'RetiringPreviousCA'
      : rolledOut
        ? undefined
        : 'RollingOutServingCertificate';

  const ca: CaState = {
    active,
    ...(next ? { next } : {}),
    ...(previous.length ? { previous: joinBundle(previous) } : {}),
  };
  const bundle = joinBundle([active.certPem, ...(next ? [next.certPem] : []), ...previous]);
  return {
    ca,
    caChanged,
    serving: servingCert,
    servingChanged,
    bundle,
    pendingStep,
    caNotAfter: parseCert(active.certPem).notAfter,
    servingNotAfter: parseCert(servingCert.certPem).notAfter,
    events,
  };
}
