/**
 * Where kube-apiserver is and how to prove who we are: a kubeconfig file or a Pod's service account,
 * resolved into one KubeClientConfig, as client-go's clientcmd and rest.InClusterConfig do.
 *
 * Supported: server, certificate-authority(-data), insecure-skip-tls-verify, tls-server-name,
 * client-certificate(-data) / client-key(-data), token and tokenFile. A token file is read again at most
 * once a minute (client-go's cachingTokenSource), because kubelet rotates a projected service account
 * token in place. Exec plugins and auth providers are refused with a clear error: both processes run in
 * a cluster on their service account, and the bed's kubeconfigs use client certificates
 * (docs/decisions/0002-own-kube-client.md says why this is not @kubernetes/client-node).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { yaml } from '../yaml';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go re-reads a token file when its cached copy is older than this. */
const TOKEN_FILE_REREAD_MS = 60_000;

export interface KubeClientConfig {
  server: URL;
  /** TLS options for every connection (PEM strings). */
  tls: { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized: boolean };
  /** The Authorization header value, if the credentials are a token. */
  authorization(): string | undefined;
  /** Where this came from, for logs and errors. */
  source: string;
}

interface NamedEntry<T> {
  name: string;
  cluster?: T;
  user?: T;
  context?: T;
}

type Fields = Record<string, unknown>;

function fileOrData(fields: Fields, base: string, fileKey: string, dataKey: string): string | undefined {
  const data = fields[dataKey];
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64').toString('utf8');
  const file = fields[fileKey];
  if (typeof file === 'string' && file) return readFileSync(path.resolve(base, file), 'utf8');
  return undefined;
}

/** A token read from a file, cached for a minute so a rotated token is picked up. */
function tokenFileSource(file: string): () => string {
  let cached = '';
  let readAt = 0;
  return () => {
    const now = Date.now();
    if (!cached || now - readAt >= TOKEN_FILE_REREAD_MS) {
      try {
        cached = readFileSync(file, 'utf8').trim();
        readAt = now;
      } catch (err) {
        // Keep the last good token while the file is being swapped; fail only when there never was one.
        if (!cached) throw err;
      }
    }
    return cached;
  };
}

/** Parses a kubeconfig file and resolves its current context (or `context`). */
export function kubeconfigFromFile(file: string, context?: string): KubeClientConfig {
  const doc = (yaml().parse(readFileSync(file, 'utf8')) ?? {}) as Fields;
  const base = path.dirname(path.resolve(file));
  const find = (list: unknown, name: unknown, what: 'cluster' | 'user' | 'context'): Fields => {
    const entry = ((list as NamedEntry<Fields>[] | undefined) ?? []).find((e) => e.name === name);
    if (!entry?.[what]) throw new Error(`kubeconfig ${file}: ${what} "${String(name)}" not found`);
    return entry[what]!;
  };
  const contextName = context ?? doc['current-context'];
  if (!contextName) throw new Error(`kubeconfig ${file}: no current-context`);
  const ctx = find(doc.contexts, contextName, 'context');
  const cluster = find(doc.clusters, ctx.cluster, 'cluster');
  const user = ctx.user === undefined ? {} : find(doc.users, ctx.user, 'user');
  if (user.exec || user['auth-provider']) {
    throw new Error(
      `kubeconfig ${file}: user "${String(ctx.user)}" uses an exec plugin or auth provider, which this ` +
        'client does not run; use client certificates or a token',
    );
  }
  if (typeof cluster.server !== 'string' || !cluster.server) {
    throw new Error(`kubeconfig ${file}: cluster "${String(ctx.cluster)}" has no server`);
  }
  const staticToken = typeof user.token === 'string' && user.token ? user.token : undefined;
  const tokenFile = typeof user.tokenFile === 'string' && user.tokenFile ? user.tokenFile : undefined;
  const token = staticToken
    ? () => staticToken
    : tokenFile
      ? tokenFileSource(path.resolve(base, tokenFile))
      : undefined;
  return {
    server: new URL(cluster.server),
    tls: {
      ca: fileOrData(cluster, base, 'certificate-authority', 'certificate-authority-data'),
      cert: fileOrData(user, base, 'client-certificate', 'client-certificate-data'),
      key: fileOrData(user, base, 'client-key', 'client-key-data'),
      servername: typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined,
      rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    },
    authorization: () => (token ? `Bearer ${token()}` : undefined),
    source: `kubeconfig ${file} (context ${String(contextName)})`,
  };
}

/** The Pod's service account, as rest.InClusterConfig reads it. */
export function inClusterConfig(dir = SERVICE_ACCOUNT_DIR, env = process.env): KubeClientConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error(
      'not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset',
    );
  }
  const token = tokenFileSource(path.join(dir, 'token'));
  token(); // fail now, not on the first request, when there is no token
  return {
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`),
    tls: { ca: readFileSync(path.join(dir, 'ca.crt'), 'utf8'), rejectUnauthorized: true },
    authorization: () => `Bearer ${token()}`,
    source: 'in-cluster service account',
  };
}

/**
 * controller-runtime's order: an explicit file, then $KUBECONFIG (its first existing file), then the
 * Pod's service account, then ~/.kube/config.
 */
export function loadKubeClientConfig(file?: string, env = process.env): KubeClientConfig {
  if (file) return kubeconfigFromFile(file);
  const fromEnv = (env.KUBECONFIG ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .find((f) => {
      try {
        readFileSync(f);
        return true;
      } catch {
        return false;
      }
    });
  if (fromEnv) return kubeconfigFromFile(fromEnv);
  if (env.KUBERNETES_SERVICE_HOST) return inClusterConfig(SERVICE_ACCOUNT_DIR, env);
  const home = path.join(os.homedir(), '.kube', 'config');
  try {
    readFileSync(home);
  } catch {
    throw new Error('no kubeconfig: set KUBECONFIG, run in a cluster, or create ~/.kube/config');
  }
  return kubeconfigFromFile(home);
}
