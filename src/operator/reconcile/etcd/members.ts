/**
 * Talks to the members of a managed etcd cluster with the client certificate the operator issued:
 * each member's status (leader, database size, alarms), the cluster's membership, a defragmentation of
 * one member, and the safe replacement of a member whose volume is gone (remove it, add it back under a
 * new id, and let it start empty as a joiner: etcd's documented recovery for a lost data directory).
 *
 * Members are reached at their pod IPs with the TLS name of their stable DNS name, so this works from
 * inside the cluster and from a host that routes pod IPs (the operator run out of cluster).
 */
import { Etcd3, type IMember, type IStatusResponse } from 'etcd3';
import { ETCD_CLIENT_PORT, memberHost, memberName, memberPeerURL } from './names';
import type { AggregatedAPI } from '../../api/aggregated-api';

/** One request to a member; a member slower than this is reported unhealthy, not waited for. */
const CALL_TIMEOUT_MS = 3_000;
/** A defragmentation blocks its member while it rewrites the database: allow it longer. */
const DEFRAGMENT_TIMEOUT_MS = 60_000;

export interface ClientTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface MemberPod {
  ordinal: number;
  podIP?: string;
  ready: boolean;
  uid?: string;
  /** The member's client port (ETCD_CLIENT_PORT in a pod; another where a test runs etcd). */
  port?: number;
}

export interface MemberHealth {
  ordinal: number;
  name: string;
  /** Hexadecimal, as etcdctl prints it. */
  id?: string;
  healthy: boolean;
  leader: boolean;
  version?: string;
  dbSizeBytes?: number;
  dbSizeInUseBytes?: number;
  message?: string;
}

export interface ClusterHealth {
  members: MemberHealth[];
  /** The membership as etcd reports it (from a healthy member), when any member answered. */
  membership?: IMember[];
  leader?: string;
}

export const hexId = (decimal: string) => BigInt(decimal).toString(16);

function deadline(ms = CALL_TIMEOUT_MS) {
  return { deadline: Date.now() + ms };
}

/** A client bound to one member (no failover: the point is to ask that member). */
function memberClient(api: AggregatedAPI, pod: MemberPod, tls: ClientTls): Etcd3 {
  const host = memberHost(api, pod.ordinal);
  return new Etcd3({
    hosts: `https://${pod.podIP}:${pod.port ?? ETCD_CLIENT_PORT}`,
    credentials: {
      rootCertificate: Buffer.from(tls.caPem),
      certChain: Buffer.from(tls.certPem),
      privateKey: Buffer.from(tls.keyPem),
    },
    grpcOptions: {
      'grpc.ssl_target_name_override': host,
      'grpc.default_authority': host,
    },
    dialTimeout: CALL_TIMEOUT_MS,
  });
}

async function withMember<T>(
  api: AggregatedAPI,
  pod: MemberPod,
  tls: ClientTls,
  fn: (client: Etcd3) => Promise<T>,
): Promise<T> {
  if (!pod.podIP) throw new Error('its pod has no IP (not scheduled or not started)');
  const client = memberClient(api, pod, tls);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function describe(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.length > 300 ? `${message.slice(0, 300)}...` : message;
}

/** Asks every member for its status, and one that answers for the membership and alarms. */
export async function probeCluster(
  api: AggregatedAPI,
  pods: MemberPod[],
  count: number,
  tls: ClientTls,
): Promise<ClusterHealth> {
  const byOrdinal = new Map(pods.map((p) => [p.ordinal, p]));
  let membership: IMember[] | undefined;
  let alarms: Map<string, string[]> | undefined;
  const statuses = await Promise.all(
    Array.from({ length: count }, async (_, ordinal) => {
      const pod = byOrdinal.get(ordinal);
      if (!pod) return { ordinal, error: 'its pod does not exist' };
      try {
        return await withMember(api, pod, tls, async (c) => {
          const status: IStatusResponse = await c.maintenance.status(deadline());
          // The membership needs a quorum (a linearizable read): without one the status still counts.
          if (!membership && status.leader !== '0') {
            try {
              membership = (await c.cluster.memberList({ linearizable: true }, deadline())).members;
              const raised = (
                await c.maintenance.alarm({ action: 'Get', memberID: '0', alarm: 'None' }, deadline())
              ).alarms;
              alarms = new Map();
              for (const a of raised) alarms.set(a.memberID, [...(alarms.get(a.memberID) ?? []), a.alarm]);
            } catch {
              membership = undefined;
            }
          }
          return { ordinal, status };
        });
      } catch (e) {
        return { ordinal, error: describe(e) };
      }
    }),
  );
  let leader: string | undefined;
  const members: MemberHealth[] = statuses.map((s) => {
    const name = memberName(api, s.ordinal);
    if ('error' in s) return { ordinal: s.ordinal, name, healthy: false, leader: false, message: s.error };
    const st = s.status;
    const id = st.header.member_id;
    const isLeader = st.leader === id && st.leader !== '0';
    if (isLeader) leader = name;
    const memberAlarms = alarms?.get(id) ?? [];
    const problems = [...(st.errors ?? []), ...memberAlarms.map((a) => `alarm ${a}`)];
    if (st.leader === '0') problems.push('no leader (no quorum)');
    if (st.isLearner) problems.push('a learner, not yet a voting member');
    return {
      ordinal: s.ordinal,
      name,
      id: hexId(id),
      healthy: problems.length === 0,
      leader: isLeader,
      version: st.version,
      dbSizeBytes: Number(st.dbSize),
      dbSizeInUseBytes: Number(st.dbSizeInUse),
      ...(problems.length ? { message: problems.join('; ') } : {}),
    };
  });
  return { members, membership, leader };
}

export async function defragment(api: AggregatedAPI, pod: MemberPod, tls: ClientTls): Promise<void> {
  await withMember(api, pod, tls, (c) => c.maintenance.defragment(deadline(DEFRAGMENT_TIMEOUT_MS)));
}

/**
 * Replaces member `ordinal` in the membership: removes its old id (whose data is gone) and adds its
 * peer URL back as a new, unstarted member, through a healthy member. The caller then starts it with
 * initial-cluster-state `existing` on its empty volume. Returns the ordinals of the membership after the
 * change (the initial-cluster the rejoining member must be given).
 */
export async function replaceMember(
  api: AggregatedAPI,
  ordinal: number,
  via: MemberPod,
  membership: IMember[],
  tls: ClientTls,
): Promise<void> {
  const peerURL = memberPeerURL(api, ordinal);
  await withMember(api, via, tls, async (c) => {
    const old = membership.find((m) => m.peerURLs.includes(peerURL));
    if (old) await c.cluster.memberRemove({ ID: old.ID }, deadline());
    await c.cluster.memberAdd({ peerURLs: [peerURL], isLearner: false }, deadline());
  });
}
