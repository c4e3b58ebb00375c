/**
 * Reading certificates with Node's native crypto: their names, validity and SANs, whether a key matches
 * a certificate, whether a CA bundle signed one. Apart from shared/pki.ts, which issues them with
 * node-forge, so that what only reads certificates (a server's certificate reloader) does not load forge.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';

export interface ParsedCert {
  subjectCN: string;
  issuerCN: string;
  organizations: string[];
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
  serialNumber: string;
  fingerprintSha256: string;
}

function field(dn: string, key: string): string[] {
  return dn
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

/**
 * Results of the checks below, by their PEM inputs (certificates and keys never change under a PEM): the
 * operator looks at the same few certificates on every reconcile, and a simulation of a year of rotation
 * (certificates.test.ts) at thousands of steps; parsing a key and verifying a signature each time cost
 * most of both. Bounded: the oldest entries go first.
 */
const MEMO_ENTRIES = 512;
function memo<T>(cache: Map<string, T>, key: string, compute: () => T): T {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const value = compute();
  if (cache.size >= MEMO_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(key, value);
  return value;
}
const parsedCerts = new Map<string, ParsedCert>();
const keyMatches = new Map<string, boolean>();
const signatures = new Map<string, boolean>();
const digestOf = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('hex');

export function parseCert(pem: string): ParsedCert {
  return memo(parsedCerts, pem, () => parseCertUncached(pem));
}

function parseCertUncached(pem: string): ParsedCert {
  const x = new X509Certificate(pem);
  const sans = (x.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
  return {
    subjectCN: field(x.subject, 'CN')[0] ?? '',
    issuerCN: field(x.issuer, 'CN')[0] ?? '',
    organizations: field(x.subject, 'O'),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    ipAddresses: sans.filter((s) => s.startsWith('IP Address:')).map((s) => s.slice(11)),
    serialNumber: x.serialNumber,
    fingerprintSha256: x.fingerprint256,
  };
}

export function certMatchesKey(certPem: string, keyPem: string): boolean {
  // Keyed by a digest: the cache holds no private key.
  return memo(keyMatches, digestOf(certPem, keyPem), () => {
    try {
      return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
    } catch {
      return false;
    }
  });
}

export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export function verifyCertSignedBy(certPem: string, caBundlePem: string): boolean {
  return memo(signatures, digestOf(certPem, caBundlePem), () => verifyUncached(certPem, caBundlePem));
}

function verifyUncached(certPem: string, caBundlePem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    return splitPemBundle(caBundlePem).some((pem) => {
      const ca = new X509Certificate(pem);
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    });
  } catch {
    return false;
  }
}
