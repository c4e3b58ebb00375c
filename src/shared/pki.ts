/**
 * Certificate authority helpers: CAs, serving certificates (SANs, serverAuth) and client certificates
 * (clientAuth, O = groups). Keys are made and certificates signed by Node's native crypto (fast,
 * constant-time); node-forge only encodes the X.509 structure, because Node's crypto can parse
 * certificates but not create them. Keys can be made ahead of need off the event loop (prepareKeys).
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPair,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface IssuedCert {
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

/** Backdating absorbs clock skew between the issuer and the verifiers. */
export const BACKDATE_MS = 5 * 60 * 1000;

/**
 * Names are encoded as UTF8String: node-forge defaults to PrintableString, which Go's x509 rejects for
 * characters such as '@', '_' or ':' (common in user and CA names).
 */
function utf8(name: string, value: string): forge.pki.CertificateField {
  return { name, value, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class };
}

const generateKeyPairAsync = promisify(generateKeyPair);
const RSA_KEY = { modulusLength: 2048 } as const;
/** Keys made ahead of need (prepareKeys), taken before any is generated on the spot. */
const pooledKeys: { publicKey: KeyObject; privateKey: KeyObject }[] = [];
let keysInMaking = 0;
const MAX_POOLED_KEYS = 8;

/**
 * Makes up to `count` RSA keys ahead of need in libuv's thread pool, so that issuing certificates
 * afterwards does not block the event loop for the ~130 ms each key takes (an operator creating many
 * CAs at once otherwise serialises all its work on key generation). Keys already pooled or in the
 * making count; at most MAX_POOLED_KEYS are kept.
 */
export async function prepareKeys(count: number): Promise<void> {
  const missing = Math.min(count, MAX_POOLED_KEYS) - pooledKeys.length - keysInMaking;
  const making: Promise<void>[] = [];
  for (let i = 0; i < missing; i++) {
    keysInMaking++;
    making.push(
      generateKeyPairAsync('rsa', RSA_KEY)
        .then((pair) => void pooledKeys.push(pair))
        .finally(() => keysInMaking--),
    );
  }
  await Promise.all(making);
}

function newKeyPair() {
  const { publicKey, privateKey } = pooledKeys.pop() ?? generateKeyPairSync('rsa', RSA_KEY);
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgePublic = forge.pki.publicKeyFromPem(
    publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  );
  return { keyPem, forgePublic };
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // positive
  return bytes.toString('hex');
}

function baseCert(publicKey: forge.pki.PublicKey, validityMs: number, now = new Date()) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityMs);
  return cert;
}

/** node-forge's own encoder of the signed part of a certificate (exported, but missing from its types). */
const getTBSCertificate = (
  forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }
).getTBSCertificate;

/** Signs with the issuer's key natively (node-forge's JavaScript RSA took ~100 ms a certificate). */
function finish(cert: forge.pki.Certificate, signerKeyPem: string, keyPem: string): IssuedCert {
  cert.signatureOid = cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  cert.tbsCertificate = getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', tbs, signerKeyPem).toString('binary');
  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

export function createCA(opts: { commonName: string; validityMs: number; now?: Date }): IssuedCert {
  const { keyPem, forgePublic } = newKeyPair();
  const cert = baseCert(forgePublic, opts.validityMs, opts.now);
  const subject = [utf8('commonName', opts.commonName)];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return finish(cert, keyPem, keyPem);
}

function issue(
  ca: CertificateAuthority,
  subject: forge.pki.CertificateField[],
  extensions: object[],
  validityMs: number,
  now?: Date,
): IssuedCert {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const { keyPem, forgePublic } = newKeyPair();
  const cert = baseCert(forgePublic, validityMs, now);
  cert.setSubject(subject);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    ...extensions,
  ]);
  return finish(cert, ca.keyPem, keyPem);
}

export function issueServingCert(
  ca: CertificateAuthority,
  opts: {
    commonName: string;
    dnsNames: string[];
    ipAddresses: string[];
    validityMs: number;
    now?: Date;
    /** Also a client certificate (etcd members present theirs when they connect to their peers). */
    clientAuth?: boolean;
  },
): IssuedCert {
  const altNames = [
    ...opts.dnsNames.map((value) => ({ type: 2, value })),
    ...opts.ipAddresses.filter((ip) => isIP(ip)).map((ip) => ({ type: 7, ip })),
  ];
  return issue(
    ca,
    [utf8('commonName', opts.commonName)],
    [
      { name: 'extKeyUsage', serverAuth: true, ...(opts.clientAuth ? { clientAuth: true } : {}) },
      { name: 'subjectAltName', altNames },
    ],
    opts.validityMs,
    opts.now,
  );
}

export function issueClientCert(
  ca: CertificateAuthority,
  opts: { commonName: string; organizations: string[]; validityMs: number; now?: Date },
): IssuedCert {
  const subject: forge.pki.CertificateField[] = [
    ...opts.organizations.map((value) => utf8('organizationName', value)),
    utf8('commonName', opts.commonName),
  ];
  return issue(ca, subject, [{ name: 'extKeyUsage', clientAuth: true }], opts.validityMs, opts.now);
}

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
