/**
 * Certificate authority helpers: CAs, serving certificates (SANs, serverAuth) and client certificates
 * (clientAuth, O = groups). Keys are made and certificates signed by Node's native crypto (fast,
 * constant-time); node-forge only encodes the X.509 structure, because Node's crypto can parse
 * certificates but not create them. Keys can be made ahead of need off the event loop (prepareKeys).
 * Reading certificates is in cert-inspect.ts (re-exported here), which loads no forge.
 */
import { generateKeyPair, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
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

export {
  certMatchesKey,
  parseCert,
  splitPemBundle,
  verifyCertSignedBy,
  type ParsedCert,
} from './cert-inspect';
