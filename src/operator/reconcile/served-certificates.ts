/**
 * Asks every replica which certificate it serves, by a TLS handshake with the pod itself (not the
 * Service, which would answer from one replica only). The previous CA may leave the published bundle only
 * when every replica answers with the current certificate.
 */
import tls from 'node:tls';
import type { KubeObject } from '../../shared/kube/rest';

const HANDSHAKE_TIMEOUT_MS = 3000;

/** The fields of a server pod that say whether, where and as which container run it serves. */
export interface ServerPod extends KubeObject {
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { restartCount?: number }[];
  };
}

export function fetchServedFingerprint(host: string, port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername,
      rejectUnauthorized: false,
      timeout: HANDSHAKE_TIMEOUT_MS,
    });
    socket.once('secureConnect', () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      if (fingerprint) resolve(fingerprint);
      else reject(new Error(`${host}:${port} presented no certificate`));
    });
    socket.once('timeout', () => socket.destroy(new Error(`${host}:${port}: TLS handshake timed out`)));
    socket.once('error', reject);
  });
}

/**
 * Fingerprints served by the pods ([] when none exists), or undefined when a pod is not yet ready or did
 * not answer, since its certificate is then unknown.
 */
export async function servedFingerprints(
  pods: KubeObject[],
  port: number,
  servername: string,
): Promise<string[] | undefined> {
  const live = (pods as ServerPod[]).filter(
    (p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
  );
  const ready = live.filter(
    (p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p.status?.podIP,
  );
  if (ready.length !== live.length) return undefined;
  try {
    return await Promise.all(ready.map((p) => fetchServedFingerprint(p.status!.podIP!, port, servername)));
  } catch {
    return undefined;
  }
}
