/**
 * The certificates shared/pki.ts issues: ECDSA P-256 keys, chains that verify, names and key identifiers
 * that link each certificate to its issuer byte for byte, and a real TLS handshake with client
 * certificates in both directions. A CA made before keys were ECDSA (an RSA CA in a Secret) still issues.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import forge from 'node-forge';
import {
  createCA,
  issueClientCert,
  issueServingCert,
  type CertificateAuthority,
} from '../../../src/shared/pki';

const HOUR = 3600_000;

/** The DER of one field of a certificate's TBSCertificate (version present: subject 5, issuer 3). */
function tbsField(certPem: string, index: number): string {
  const cert = forge.asn1.fromDer(new X509Certificate(certPem).raw.toString('binary'));
  const tbs = (cert.value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[];
  return forge.asn1.toDer(tbs[index]).toHex();
}

/** A CA with an RSA key, made as node-forge made them before this change (signed in JavaScript). */
function rsaCA(): CertificateAuthority {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - HOUR);
  cert.validity.notAfter = new Date(Date.now() + HOUR);
  const name = [{ name: 'commonName', value: 'rsa-ca' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

const serving = (ca: CertificateAuthority) =>
  issueServingCert(ca, {
    commonName: 'widgets.ns.svc',
    dnsNames: ['widgets.ns.svc'],
    ipAddresses: ['127.0.0.1'],
    validityMs: HOUR,
  });
const client = (ca: CertificateAuthority) =>
  issueClientCert(ca, { commonName: 'alice', organizations: ['team:a', 'b@example'], validityMs: HOUR });

test('new keys are ECDSA P-256, and every certificate verifies against its CA and names it exactly', () => {
  const ca = createCA({ commonName: 'widgets-ca', validityMs: HOUR });
  const caCert = new X509Certificate(ca.certPem);
  expect(caCert.publicKey.asymmetricKeyType).toBe('ec');
  expect(caCert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  expect(caCert.ca).toBe(true);
  expect(caCert.verify(caCert.publicKey)).toBe(true);
  for (const issued of [serving(ca), client(ca)]) {
    const cert = new X509Certificate(issued.certPem);
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.checkPrivateKey(createPrivateKey(issued.keyPem))).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(tbsField(issued.certPem, 3)).toBe(tbsField(ca.certPem, 5));
  }
  const s = new X509Certificate(serving(ca).certPem);
  expect(s.subjectAltName).toBe('DNS:widgets.ns.svc, IP Address:127.0.0.1');
  expect(new X509Certificate(client(ca).certPem).subject).toBe('O=team:a\nO=b@example\nCN=alice');
});

test('a CA with an RSA key, as issued before, signs new ECDSA certificates that verify', () => {
  const ca = rsaCA();
  const caCert = new X509Certificate(ca.certPem);
  for (const issued of [serving(ca), client(ca)]) {
    const cert = new X509Certificate(issued.certPem);
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
  }
});

test('a TLS server and client with the issued pairs complete a handshake, each verifying the other', async () => {
  const ca = createCA({ commonName: 'widgets-ca', validityMs: HOUR });
  const serverPair = serving(ca);
  const clientPair = client(ca);
  const server = tls.createServer({
    cert: serverPair.certPem,
    key: serverPair.keyPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const seen = new Promise<string>((resolve) =>
    server.on('secureConnection', (socket) => {
      resolve(socket.getPeerCertificate().subject.CN as string);
      socket.end('ok');
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'widgets.ns.svc',
        ca: ca.certPem,
        cert: clientPair.certPem,
        key: clientPair.keyPem,
      });
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer).toBe('ok');
    expect(await seen).toBe('alice');
  } finally {
    server.close();
  }
});
