/**
 * Connection reuse for @kubernetes/client-node. Its KubeConfig builds a new https.Agent (keep-alive off)
 * for every API call, so each TokenReview, SubjectAccessReview and list was a new TCP connection and TLS
 * handshake with kube-apiserver, on both sides: under load, the Widget server's delegated authorization
 * cost kube-apiserver more CPU than serving a CRD request itself. client-go keeps one HTTP/2 connection;
 * this keeps a keep-alive agent per distinct set of TLS options (server, CA, client certificate), so a
 * rotated client certificate still gets a fresh agent. Proxied clusters keep client-node's own agents.
 */
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { Agent } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

/** Agents for superseded credentials are closed once this many newer ones exist. */
const MAX_AGENTS = 4;

type AgentFactory = (
  cluster: { server?: string; proxyUrl?: string } | null,
  options: https.AgentOptions,
) => Agent;

function fingerprint(server: string, options: https.AgentOptions): string {
  const hash = createHash('sha256').update(server);
  for (const key of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const) {
    const value = options[key];
    hash.update(`\0${key}=`);
    if (value !== undefined) hash.update(Buffer.isBuffer(value) ? value : String(value));
  }
  return hash.digest('hex');
}

/** Makes every API call of `kc` reuse keep-alive connections; returns `kc`. */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createAgent?: AgentFactory };
  const original = target.createAgent;
  if (typeof original !== 'function') {
    throw new Error(
      '@kubernetes/client-node no longer has KubeConfig.createAgent: revisit kube-connection-reuse',
    );
  }
  const agents = new Map<string, https.Agent>();
  target.createAgent = (cluster, options) => {
    const server = cluster?.server ?? '';
    if (cluster?.proxyUrl || !server.startsWith('https:')) return original.call(kc, cluster, options);
    const key = fingerprint(server, options);
    let agent = agents.get(key);
    if (!agent) {
      agent = new https.Agent({ ...options, keepAlive: true });
      agents.set(key, agent);
      if (agents.size > MAX_AGENTS) {
        const [oldestKey, oldest] = agents.entries().next().value as [string, https.Agent];
        agents.delete(oldestKey);
        oldest.destroy();
      }
    }
    return agent;
  };
  return kc;
}
