/**
 * Certificate authority helpers: CAs, serving certificates (SANs, serverAuth) and client certificates
 * (clientAuth, O = groups). Keys are made and certificates signed by Node's native crypto (fast,
 * constant-time); node-forge only encodes the X.509 structure, because Node's crypto can parse
 * certificates but not create them. Reading certificates is in cert-inspect.ts (re-exported here),
 * which loads no forge.
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
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

function octets(bytes: string): forge.asn1.Asn1 {
  return forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, bytes);
}

/**
 * New keys are ECDSA P-256, as kubeadm's `encryptionAlgorithm: ECDSA-P256` makes them: one takes about
 * 0.05 ms of CPU where an RSA-2048 key took 125 ms (20 AggregatedAPIs applied at once made 40 of them,
 * five seconds of the operator's CPU on 2 cores), and a TLS handshake signs with it in a fraction of
 * RSA's time (every kubelet probe is a new connection). Certificates already issued with RSA keys keep
 * working and keep signing: the signature algorithm follows the issuer's key.
 */
function newKeyPair(): { keyPem: string; spki: forge.asn1.Asn1 } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyPem = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
  return { keyPem, spki: spkiOf(publicKey) };
}

/**
 * DER to node-forge's ASN.1 nodes, bit strings kept as bytes (its default decodes an RSA key's bits into
 * nodes). The option exists at run time but not in node-forge's types.
 */
const parseDer = (bytes: string): forge.asn1.Asn1 =>
  (forge.asn1.fromDer as unknown as (b: string, o: { decodeBitStrings: boolean }) => forge.asn1.Asn1)(bytes, {
    decodeBitStrings: false,
  });

function spkiOf(publicKey: KeyObject): forge.asn1.Asn1 {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return parseDer(der.toString('binary'));
}

/**
 * RFC 5280's key identifier (method 1): SHA-1 of the subjectPublicKey bits, for any key type (what
 * node-forge computed for RSA keys); `spki` as parseDer reads it.
 */
function keyIdentifier(spki: forge.asn1.Asn1): string {
  const bits = (spki.value as forge.asn1.Asn1[])[1].value as string;
  // The BIT STRING's first byte counts its unused bits (0 for a key).
  return createHash('sha1')
    .update(Buffer.from(bits.slice(1), 'binary'))
    .digest()
    .toString('binary');
}

/** A certificate's fields as DER nodes, read without interpreting its key (node-forge reads only RSA). */
function tbsFieldsOf(certPem: string): forge.asn1.Asn1[] {
  const der = new X509Certificate(certPem).raw.toString('binary');
  const cert = parseDer(der);
  return ((cert.value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[]).slice();
}

/** Where the subject name and the key sit among a TBSCertificate's fields (version [0] present). */
const TBS_SIGNATURE = 2;
const TBS_ISSUER = 3;
const TBS_SUBJECT = 5;
const TBS_SPKI = 6;

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** The AlgorithmIdentifier of a SHA-256 signature by `signer`'s kind of key. */
function signatureAlgorithm(signer: KeyObject): forge.asn1.Asn1 {
  const { asn1 } = forge;
  const type = signer.asymmetricKeyType;
  const oid = (id: string) =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(id).getBytes());
  if (type === 'ec')
    return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [oid(ECDSA_WITH_SHA256)]);
  if (type === 'rsa') {
    return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      oid(forge.pki.oids.sha256WithRSAEncryption),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
    ]);
  }
  throw new Error(`cannot sign certificates with a ${type} key`);
}

/**
 * node-forge encodes names, validity and extensions, but only RSA keys: it is given a placeholder key,
 * and the real key, the issuer's exact name and the signature algorithm are put in its output.
 */
const PLACEHOLDER_KEY = forge.pki.setRsaPublicKey(
  new forge.jsbn.BigInteger('3'),
  new forge.jsbn.BigInteger('3'),
);

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // positive
  return bytes.toString('hex');
}

function baseCert(validityMs: number, now = new Date()) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = PLACEHOLDER_KEY;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityMs);
  return cert;
}

/** node-forge's own encoder of the signed part of a certificate (exported, but missing from its types). */
const getTBSCertificate = (
  forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }
).getTBSCertificate;

/**
 * Completes `cert` with its key `spki`, signed by `signerKeyPem` (natively: node-forge's JavaScript RSA
 * took ~100 ms a certificate) as issued by `issuerName` (the CA's subject as it is encoded in the CA's
 * certificate, so that verifiers match the two byte for byte; a CA's own subject for itself).
 */
function finish(
  cert: forge.pki.Certificate,
  spki: forge.asn1.Asn1,
  signerKeyPem: string,
  keyPem: string,
  issuerName?: forge.asn1.Asn1,
): IssuedCert {
  const { asn1 } = forge;
  const signer = createPrivateKey(signerKeyPem);
  // The same AlgorithmIdentifier goes in the signed part and beside the signature.
  const algorithm = signatureAlgorithm(signer);
  // Replaced below; node-forge needs one to encode.
  cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  const tbs = getTBSCertificate(cert);
  const fields = tbs.value as forge.asn1.Asn1[];
  fields[TBS_SIGNATURE] = algorithm;
  if (issuerName) fields[TBS_ISSUER] = issuerName;
  fields[TBS_SPKI] = spki;
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, signer);
  const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithm,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, '\x00' + signature.toString('binary')),
  ]);
  const der = Buffer.from(asn1.toDer(certificate).getBytes(), 'binary');
  return {
    // Node writes the PEM (and parses the DER on the way: a malformed certificate fails here).
    certPem: new X509Certificate(der).toString(),
    keyPem,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

export function createCA(opts: { commonName: string; validityMs: number; now?: Date }): IssuedCert {
  const { keyPem, spki } = newKeyPair();
  const cert = baseCert(opts.validityMs, opts.now);
  const subject = [utf8('commonName', opts.commonName)];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier', value: octets(keyIdentifier(spki)) },
  ]);
  return finish(cert, spki, keyPem, keyPem);
}

function issue(
  ca: CertificateAuthority,
  subject: forge.pki.CertificateField[],
  extensions: object[],
  validityMs: number,
  now?: Date,
): IssuedCert {
  const caFields = tbsFieldsOf(ca.certPem);
  const { keyPem, spki } = newKeyPair();
  const cert = baseCert(validityMs, now);
  cert.setSubject(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    // keyEncipherment is for RSA key transport, which an ECDSA key cannot do (RFC 5480).
    { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'authorityKeyIdentifier', keyIdentifier: keyIdentifier(caFields[TBS_SPKI]) },
    ...extensions,
  ]);
  return finish(cert, spki, ca.keyPem, keyPem, caFields[TBS_SUBJECT]);
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
