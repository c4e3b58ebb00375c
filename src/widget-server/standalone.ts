/**
 * Credentials for a standalone run (no cluster): a local CA, a serving certificate for the loopback
 * names, and an admin client certificate in group system:masters, kept in the local directory and reused
 * while valid, plus the kubeconfig that lets kubectl talk to this server at once.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeKubeconfig } from '../shared/kubeconfig';
import { certMatchesKey, createCA, issueClientCert, issueServingCert, parseCert } from '../shared/pki';

export interface StandaloneCredentials {
  dir: string;
  caCertPem: string;
  caKeyPem: string;
  servingCertPem: string;
  servingKeyPem: string;
  adminCertPem: string;
  adminKeyPem: string;
  kubeconfigPath: string;
  writeKubeconfig(serverUrl: string): Promise<void>;
}

const DAY_MS = 24 * 3600 * 1000;
const CA_VALIDITY_MS = 365 * DAY_MS;
const LEAF_VALIDITY_MS = 90 * DAY_MS;
/** Reissue anything that expires within this window, so a long local session never hits expiry. */
const RENEW_BEFORE_MS = 7 * DAY_MS;

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function stillValid(certPem: string | undefined, keyPem: string | undefined, dnsName?: string): boolean {
  if (!certPem || !keyPem) return false;
  try {
    const cert = parseCert(certPem);
    if (cert.notAfter.getTime() - Date.now() < RENEW_BEFORE_MS) return false;
    if (dnsName && !cert.dnsNames.includes(dnsName) && !cert.ipAddresses.includes(dnsName)) return false;
    return certMatchesKey(certPem, keyPem);
  } catch {
    return false;
  }
}

export async function ensureStandaloneCredentials(
  dir: string,
  bindAddress: string,
): Promise<StandaloneCredentials> {
  const abs = path.resolve(dir);
  await mkdir(abs, { recursive: true, mode: 0o700 });
  const file = (name: string) => path.join(abs, name);
  const load = async (name: string) => readIfPresent(file(name));

  let caCertPem = await load('ca.crt');
  let caKeyPem = await load('ca.key');
  let renewedCA = false;
  if (!stillValid(caCertPem, caKeyPem)) {
    const ca = createCA({ commonName: 'widget-server-local-ca', validityMs: CA_VALIDITY_MS });
    caCertPem = ca.certPem;
    caKeyPem = ca.keyPem;
    renewedCA = true;
  }
  const ca = { certPem: caCertPem!, keyPem: caKeyPem! };

  const hostIp = bindAddress === '0.0.0.0' || bindAddress === '::' ? '127.0.0.1' : bindAddress;
  let servingCertPem = await load('serving.crt');
  let servingKeyPem = await load('serving.key');
  if (renewedCA || !stillValid(servingCertPem, servingKeyPem, hostIp)) {
    const ipAddresses = [...new Set(['127.0.0.1', '::1', hostIp])];
    const serving = issueServingCert(ca, {
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses,
      validityMs: LEAF_VALIDITY_MS,
    });
    servingCertPem = serving.certPem;
    servingKeyPem = serving.keyPem;
  }

  let adminCertPem = await load('admin.crt');
  let adminKeyPem = await load('admin.key');
  if (renewedCA || !stillValid(adminCertPem, adminKeyPem)) {
    const admin = issueClientCert(ca, {
      commonName: 'widget-admin',
      organizations: ['system:masters'],
      validityMs: LEAF_VALIDITY_MS,
    });
    adminCertPem = admin.certPem;
    adminKeyPem = admin.keyPem;
  }

  const files: Array<[string, string]> = [
    ['ca.crt', caCertPem!],
    ['ca.key', caKeyPem!],
    ['serving.crt', servingCertPem!],
    ['serving.key', servingKeyPem!],
    ['admin.crt', adminCertPem!],
    ['admin.key', adminKeyPem!],
  ];
  for (const [name, pem] of files) await writeFile(file(name), pem, { mode: 0o600 });

  const kubeconfigPath = file('kubeconfig');
  return {
    dir: abs,
    caCertPem: caCertPem!,
    caKeyPem: caKeyPem!,
    servingCertPem: servingCertPem!,
    servingKeyPem: servingKeyPem!,
    adminCertPem: adminCertPem!,
    adminKeyPem: adminKeyPem!,
    kubeconfigPath,
    async writeKubeconfig(serverUrl: string) {
      await writeKubeconfig(kubeconfigPath, {
        server: serverUrl,
        caPem: caCertPem!,
        clientCertPem: adminCertPem,
        clientKeyPem: adminKeyPem,
        contextName: 'widget-server-local',
        namespace: 'default',
      });
    },
  };
}
