/**
 * Writes kubeconfig files (YAML via the `yaml` package) with embedded credentials, readable only by
 * their owner, for the standalone server and the local cluster tooling.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { yaml } from './yaml';

export interface KubeconfigSpec {
  server: string;
  caPem: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  token?: string;
  contextName: string;
  namespace?: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

export async function writeKubeconfig(file: string, spec: KubeconfigSpec): Promise<void> {
  const user: Record<string, string> = {};
  if (spec.clientCertPem) user['client-certificate-data'] = b64(spec.clientCertPem);
  if (spec.clientKeyPem) user['client-key-data'] = b64(spec.clientKeyPem);
  if (spec.token) user.token = spec.token;
  const context: Record<string, string> = { cluster: spec.contextName, user: spec.contextName };
  if (spec.namespace) context.namespace = spec.namespace;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: spec.contextName,
        cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caPem) },
      },
    ],
    users: [{ name: spec.contextName, user }],
    contexts: [{ name: spec.contextName, context }],
    'current-context': spec.contextName,
    preferences: {},
  };
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, yaml().stringify(doc), { mode: 0o600 });
}
