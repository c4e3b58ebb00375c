/**
 * The authenticator verifies a connection's client certificate once and keeps what it proved: over a
 * real TLS connection, a configuration change (the client CA rotated away) is seen on that connection's
 * next request, and a chain that never verified is not remembered as a user.
 */
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { createCA, issueClientCert, issueServingCert } from '../../../src/shared/pki';
import { DelegatingAuthenticator } from '../../../src/widget-server/auth/authentication';

const HOUR = 3600_000;

/**
 * A TLS server and one client connection presenting `client`; resolves to the server's end of it. A
 * handshake that fails or stalls rejects with its reason (after 10 s at most), and everything opened is
 * closed either way, so a failure can never leave the test process waiting on a handle.
 */
async function connectedPair(client: { certPem: string; keyPem: string }) {
  const ca = createCA({ commonName: 'serving-ca', validityMs: HOUR });
  const serving = issueServingCert(ca, {
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validityMs: HOUR,
  });
  const server = tls.createServer({
    cert: serving.certPem,
    key: serving.keyPem,
    requestCert: true,
    rejectUnauthorized: false,
  });
  let clientSocket: tls.TLSSocket | undefined;
  let serverSide: tls.TLSSocket | undefined;
  const close = () => {
    clientSocket?.destroy();
    serverSide?.destroy();
    server.close();
  };
  try {
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('TLS handshake did not complete in 10 s')), 10_000);
      server.on('secureConnection', (s: tls.TLSSocket) => {
        clearTimeout(timer);
        serverSide = s;
        resolve(s);
      });
      server.on('tlsClientError', (err) => reject(err));
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        clientSocket = tls.connect({
          host: '127.0.0.1',
          port,
          ca: ca.certPem,
          servername: 'localhost',
          cert: client.certPem,
          key: client.keyPem,
        });
        clientSocket.on('error', reject);
      });
    });
    return { socket, close };
  } catch (err) {
    close();
    throw err;
  }
}

describe('connection identity', () => {
  const clientCA = createCA({ commonName: 'client-ca', validityMs: HOUR });
  const rotatedCA = createCA({ commonName: 'client-ca-2', validityMs: HOUR });
  const alice = issueClientCert(clientCA, { commonName: 'alice', organizations: ['devs'], validityMs: HOUR });

  test('a configuration change is seen on the same connection', async () => {
    const { socket, close } = await connectedPair(alice);
    try {
      const authn = new DelegatingAuthenticator({ clientCA: clientCA.certPem });
      const first = await authn.authenticate({ headers: {}, socket });
      expect(first).toEqual({ name: 'alice', groups: ['devs', 'system:authenticated'] });
      expect(await authn.authenticate({ headers: {}, socket })).toEqual(first);
      authn.setConfig({ clientCA: rotatedCA.certPem });
      expect((await authn.authenticate({ headers: {}, socket })).name).toBe('system:anonymous');
      authn.setConfig({ clientCA: clientCA.certPem });
      expect((await authn.authenticate({ headers: {}, socket })).name).toBe('alice');
    } finally {
      close();
    }
  });

  test('a chain that did not verify is never remembered as a user, and headers are read per request', async () => {
    const { socket, close } = await connectedPair(alice);
    try {
      const authn = new DelegatingAuthenticator({
        requestHeader: {
          clientCA: rotatedCA.certPem,
          allowedNames: [],
          usernameHeaders: ['X-Remote-User'],
          uidHeaders: [],
          groupHeaders: ['X-Remote-Group'],
          extraHeaderPrefixes: [],
        },
      });
      const forged = { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' };
      expect((await authn.authenticate({ headers: forged, socket })).name).toBe('system:anonymous');
      // The same connection once the CA that signed alice is the front-proxy CA: headers now count,
      // and each request's own headers name the user.
      authn.setConfig({
        ...authn.getConfig(),
        requestHeader: { ...authn.getConfig().requestHeader!, clientCA: clientCA.certPem },
      });
      expect((await authn.authenticate({ headers: forged, socket })).name).toBe('admin');
      expect((await authn.authenticate({ headers: { 'x-remote-user': 'bob' }, socket })).name).toBe('bob');
    } finally {
      close();
    }
  });
});
