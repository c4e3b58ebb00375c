/**
 * What a reconcile observes of the objects it applied, in the terms of the AggregatedAPI's status: the
 * Deployment's rollout, each APIService's Available condition as the aggregator reports it, and whether
 * each version's discovery answers through kube-apiserver as clients see it.
 */
import type { ApiServiceStatus } from '../api/aggregated-api';
import { KubeApiError, type KubeObject, type KubeRest } from '../../shared/kube/rest';
import type { DeploymentObservation } from './conditions';

/** A discovery request through kube-apiserver that takes longer than this has failed for clients too. */
const DISCOVERY_TIMEOUT_MS = 5_000;
/** How soon an API whose discovery failed is looked at again. */
export const DISCOVERY_RETRY_MS = 10_000;
/**
 * For this long after an APIService turns Available, a 503 from kube-apiserver's proxy is the proxy
 * catching up, not a failure: the aggregator's availability controller writes the condition, and its
 * proxy starts routing when its own informer sees that write, a moment later. Seen with 20
 * AggregatedAPIs coming up at once (issue 9): a check that fell in that moment reported the API
 * DiscoveryFailed with a Warning event, and it was not looked at again for DISCOVERY_RETRY_MS.
 */
export const DISCOVERY_SETTLE_MS = 15_000;
/** How soon discovery is asked again while it is settling. */
export const DISCOVERY_SETTLING_RETRY_MS = 1_000;

export interface ApiServiceObject extends KubeObject {
  spec?: { caBundle?: string };
  status?: {
    conditions?: {
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string;
    }[];
  };
}
export interface DeploymentObject extends KubeObject {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export function observeDeployment(d: DeploymentObject): DeploymentObservation {
  const s = d.status ?? {};
  const failing = s.conditions?.find(
    (c) =>
      (c.type === 'Progressing' && c.status === 'False') ||
      (c.type === 'ReplicaFailure' && c.status === 'True'),
  );
  return {
    exists: true,
    desiredReplicas: d.spec?.replicas ?? 1,
    readyReplicas: s.readyReplicas ?? 0,
    updatedReplicas: s.updatedReplicas ?? 0,
    observedLatest: (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0),
    failure: failing ? { reason: failing.reason ?? failing.type, message: failing.message ?? '' } : undefined,
  };
}

/** When the APIService's Available condition last changed, if it says. */
export function availableSince(s: ApiServiceObject): Date | undefined {
  const t = s.status?.conditions?.find((c) => c.type === 'Available')?.lastTransitionTime;
  return t ? new Date(t) : undefined;
}

export function observeApiService(s: ApiServiceObject): ApiServiceStatus {
  const available = s.status?.conditions?.find((c) => c.type === 'Available');
  return {
    name: s.metadata?.name ?? '',
    available: available?.status ?? 'Unknown',
    reason: available?.reason ?? 'Pending',
    message: available?.message ?? 'the aggregator has not checked this APIService yet',
  };
}

/**
 * Asks kube-apiserver for each Available APIService's discovery document, as every client does: the
 * aggregator can mark an APIService Available while requests through its proxy still fail (a stale
 * endpoint, a certificate the proxy rejects), and users see the failures, not the condition.
 */
export async function checkDiscovery(
  rest: KubeRest,
  group: string,
  statuses: ApiServiceStatus[],
  /** When each APIService's Available condition last changed, from the APIService objects. */
  availableSince: Map<string, Date>,
  now: Date,
): Promise<string[]> {
  const settlingNames: string[] = [];
  await Promise.all(
    statuses.map(async (s) => {
      if (s.available !== 'True') {
        s.discovery = 'Unknown';
        return;
      }
      const version = s.name.slice(0, s.name.length - group.length - 1);
      const path = `/apis/${group}/${version}`;
      try {
        const doc = await rest.request<{ groupVersion?: string; resources?: unknown[] }>('GET', path, {
          timeoutMs: DISCOVERY_TIMEOUT_MS,
        });
        if (doc?.groupVersion !== `${group}/${version}` || !Array.isArray(doc.resources))
          throw new Error(`GET ${path} answered without the discovery document of ${group}/${version}`);
        s.discovery = 'True';
      } catch (e) {
        const message = (e instanceof Error ? e.message : String(e)).slice(0, 1024);
        const since = availableSince.get(s.name);
        const settling =
          e instanceof KubeApiError &&
          e.code === 503 &&
          since !== undefined &&
          now.getTime() - since.getTime() < DISCOVERY_SETTLE_MS;
        s.discovery = settling ? 'Unknown' : 'False';
        if (settling) settlingNames.push(s.name);
        s.discoveryMessage = settling
          ? `kube-apiserver does not route to it yet (it turned Available ${Math.round((now.getTime() - since.getTime()) / 1000)} s ago): ${message}`
          : message;
      }
    }),
  );
  return settlingNames;
}
