/**
 * Certificate authority helpers: CAs, serving certificates (SANs, serverAuth) and client certificates
 * (clientAuth, O = groups). Keys come from Node's native crypto (fast, constant-time); node-forge builds
 * and signs the X.509 certificates because Node's crypto can parse but not create them.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
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

function newKeyPair() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  const forgePublic = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { keyPem, forgeKey, forgePublic };
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

function finish(cert: forge.pki.Certificate, signer: forge.pki.PrivateKey, keyPem: string): IssuedCert {
  cert.sign(signer as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

export function createCA(opts: { commonName: string; validityMs: number; now?: Date }): IssuedCert {
  const { keyPem, forgeKey, forgePublic } = newKeyPair();
  const cert = baseCert(forgePublic, opts.validityMs, opts.now);
  const subject = [utf8('commonName', opts.commonName)];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return finish(cert, forgeKey, keyPem);
}

function issue(
  ca: CertificateAuthority,
  subject: forge.pki.CertificateField[],
  extensions: object[],
  validityMs: number,
  now?: Date,
): IssuedCert {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
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
  return finish(cert, caKey, keyPem);
}

export function issueServingCert(
  ca: CertificateAuthority,
  opts: { commonName: string; dnsNames: string[]; ipAddresses: string[]; validityMs: number; now?: Date },
): IssuedCert {
  const altNames = [
    ...opts.dnsNames.map((value) => ({ type: 2, value })),
    ...opts.ipAddresses.filter((ip) => isIP(ip)).map((ip) => ({ type: 7, ip })),
  ];
  return issue(
    ca,
    [utf8('commonName', opts.commonName)],
    [
      { name: 'extKeyUsage', serverAuth: true },
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

export function parseCert(pem: string): ParsedCert {
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
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export function verifyCertSignedBy(certPem: string, caBundlePem: string): boolean {
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
