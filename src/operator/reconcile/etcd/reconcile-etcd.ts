/**
 * One reconcile of an AggregatedAPI's storage. For a managed etcd: its certificates (a CA of its own,
 * rotated by the same state machine as the serving CA, where "published" means every member and every
 * server replica runs with a bundle that trusts the next CA), the StatefulSet and its Services,
 * PodDisruptionBudget and per-member configuration, then each member's health, a defragmentation when
 * one is due, and the replacement of a member whose volume is gone. For the other stores: what the
 * status says about their durability.
 */
import { decodeSecretData } from '../owned-meta';
import type { Logger } from 'pino';
import { rfc3339Seconds } from '../../../shared/time';
import { issueClientCert, parseCert, verifyCertSignedBy } from '../../../shared/pki';
import { isNotFound, type KubeObject, type KubeRest } from '../../../shared/kube/rest';
import {
  SPEC_DEFAULTS,
  type AggregatedAPI,
  type AggregatedAPIStatus,
  type CertificatePolicy,
} from '../../api/aggregated-api';
import type { EventRecorder } from '../../kube/events';
import {
  CONFIG_MAP,
  CRON_JOB,
  DEPLOYMENT,
  JOB,
  PERSISTENT_VOLUME_CLAIM,
  POD,
  POD_DISRUPTION_BUDGET,
  SECRET,
  SERVICE,
  STATEFUL_SET,
  STORAGE_CLASS,
} from '../../kube/kinds';
import { caStateToData, planCertificates, type KeyPair } from '../certificates';
import {
  digest,
  ETCD_TLS_DIGEST_ANNOTATION,
  etcdCaSecret,
  etcdClientService,
  etcdConfigMap,
  etcdPeerService,
  etcdPodDisruptionBudget,
  etcdStatefulSet,
  etcdTlsSecret,
  type MemberState,
} from './desired-etcd';
import { backupClaim, backupCronJob, restoreJobs, restoreMemberClaims } from './desired-backup';
import { defragment, probeCluster, replaceMember, type ClusterHealth, type MemberPod } from './members';
import { etcdNames, etcdSelectorLabels, managedEtcd, memberCount, memberDnsNames, memberName } from './names';
import { ETCD_CLIENT_DIGEST_ANNOTATION } from '../desired';

export type StorageStatus = NonNullable<AggregatedAPIStatus['storage']>;

export interface StorageObservation {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  /** A store that loses acknowledged writes when a pod goes: reported with a Warning. */
  notDurable?: boolean;
}

export interface StorageResult {
  observation: StorageObservation;
  status: StorageStatus;
  /** Digest of the client certificate and bundle the server replicas must run with (managed etcd). */
  clientDigest?: string;
  /** A certificate rotation step of the etcd CA still to come. */
  pendingStep?: string;
  requeueAfterMs?: number;
}

/** The ConfigMap annotation recording which volume each member's data lives on (claim or pod uid). */
export const MEMBER_VOLUMES_ANNOTATION = 'aggregation.example.com/member-volumes';
/** The ConfigMap annotation with members that rejoin as `existing` after a replacement. */
export const MEMBER_STATES_ANNOTATION = 'aggregation.example.com/member-states';
const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

interface Secret extends KubeObject {
  data?: Record<string, string>;
}
interface Pod extends KubeObject {
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}
interface RolloutStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  currentRevision?: string;
  updateRevision?: string;
}
interface Workload extends KubeObject {
  spec?: { replicas?: number; template?: { metadata?: { annotations?: Record<string, string> } } };
  status?: RolloutStatus;
}

/** Every replica runs the template whose annotation is `value`, and all are ready. */
function rolledOutWith(w: Workload | undefined, annotation: string, value: string): boolean {
  if (!w?.metadata || w.spec?.template?.metadata?.annotations?.[annotation] !== value) return false;
  const s = w.status ?? {};
  const want = w.spec?.replicas ?? 1;
  if ((s.observedGeneration ?? 0) < (w.metadata.generation ?? 0)) return false;
  if (s.currentRevision !== undefined && s.currentRevision !== s.updateRevision) return false;
  return (s.updatedReplicas ?? 0) === want && (s.readyReplicas ?? 0) === want && (s.replicas ?? 0) === want;
}

export interface StorageContext {
  rest: KubeRest;
  events: EventRecorder;
  log: Logger;
  policy: CertificatePolicy;
  /** The etcd image when spec.storage.etcd.managed.image is unset. */
  defaultEtcdImage: string;
  /** The operator's own image, which runs the backup program; no backups are scheduled without it. */
  operatorImage?: string;
  previous?: StorageStatus;
}

export async function reconcileStorage(
  api: AggregatedAPI & KubeObject,
  ctx: StorageContext,
): Promise<StorageResult> {
  const storage = api.spec.storage;
  if (!storage?.etcd) {
    return {
      observation: {
        status: 'True',
        reason: 'MemoryOnly',
        message:
          'the embedded store keeps every object in the server process: all are lost when its pod restarts. Use storage.etcd.managed to keep them',
        notDurable: true,
      },
      status: { type: 'Embedded', durable: false },
    };
  }
  if (!storage.etcd.managed) {
    return {
      observation: {
        status: 'True',
        reason: 'ExternalEtcd',
        message: `etcd at ${(storage.etcd.endpoints ?? []).join(', ')} is run outside the operator; each replica's readiness reports whether it answers`,
      },
      status: { type: 'Etcd', durable: true },
    };
  }
  return new ManagedEtcdReconcile(api, ctx).run();
}

class ManagedEtcdReconcile {
  private readonly names;
  private readonly spec;
  private readonly count: number;

  constructor(
    private readonly api: AggregatedAPI & KubeObject,
    private readonly ctx: StorageContext,
  ) {
    this.names = etcdNames(api);
    this.spec = managedEtcd(api)!;
    this.count = memberCount(this.spec);
  }

  async run(): Promise<StorageResult> {
    const { rest } = this.ctx;
    const n = this.names;
    const durable = !this.spec.volume?.emptyDir;
    const base: StorageStatus = { type: 'ManagedEtcd', durable };

    const classProblem = await this.storageClassProblem();
    const statefulSet = await rest.getOrUndefined<Workload>(STATEFUL_SET, n.statefulSet, n.namespace);
    if (classProblem && !statefulSet) {
      // Nothing half-made: no StatefulSet whose claims would stay Pending until someone notices.
      return {
        observation: { status: 'False', reason: 'StorageClassNotFound', message: classProblem },
        status: base,
        requeueAfterMs: 15_000,
      };
    }

    const tls = await this.certificates(statefulSet);
    const configMap = await rest.getOrUndefined(CONFIG_MAP, n.configMap, n.namespace);
    const volumes: Record<string, string> = JSON.parse(
      configMap?.metadata?.annotations?.[MEMBER_VOLUMES_ANNOTATION] ?? '{}',
    );
    const states: Record<string, { state: MemberState; initialCluster: number[] }> = JSON.parse(
      configMap?.metadata?.annotations?.[MEMBER_STATES_ANNOTATION] ?? '{}',
    );

    await rest.apply(SERVICE, etcdPeerService(this.api));
    await rest.apply(SERVICE, etcdClientService(this.api));
    await this.applyConfigMap(volumes, states);
    const image = this.spec.image ?? this.ctx.defaultEtcdImage;
    if (!statefulSet && this.spec.restore) {
      const restoring = await this.restore(image);
      if (restoring)
        return {
          observation: restoring,
          status: { ...base, etcdCANotAfter: tls.caNotAfter },
          clientDigest: tls.clientDigest,
          requeueAfterMs: 3_000,
        };
    }
    await rest.apply(STATEFUL_SET, etcdStatefulSet(this.api, image, tls.memberDigest));
    await this.scheduleBackups();
    await rest.apply(POD_DISRUPTION_BUDGET, etcdPodDisruptionBudget(this.api));

    const pods = await this.memberPods();
    const health = await probeCluster(this.api, pods, this.count, tls.client);
    const replaced = await this.replaceLostMembers(pods, health, volumes, states, tls.client);
    if (replaced) await this.applyConfigMap(volumes, states);
    const lastDefragment = await this.defragmentIfDue(pods, health, tls.client);

    const previousMembers = new Map((this.ctx.previous?.members ?? []).map((m) => [m.name, m]));
    const status: StorageStatus = {
      ...base,
      etcdCANotAfter: tls.caNotAfter,
      ...(health.leader ? { leader: health.leader } : {}),
      ...((lastDefragment.time ?? this.ctx.previous?.lastDefragmentTime)
        ? { lastDefragmentTime: lastDefragment.time ?? this.ctx.previous?.lastDefragmentTime }
        : {}),
      members: health.members.map((m) => {
        const lastDefragmentTime =
          lastDefragment.member === m.name
            ? lastDefragment.time
            : previousMembers.get(m.name)?.lastDefragmentTime;
        return {
          name: m.name,
          ...(m.id ? { id: m.id } : {}),
          healthy: m.healthy,
          leader: m.leader,
          ...(m.version ? { version: m.version } : {}),
          ...(m.dbSizeBytes !== undefined ? { dbSizeBytes: m.dbSizeBytes } : {}),
          ...(m.dbSizeInUseBytes !== undefined ? { dbSizeInUseBytes: m.dbSizeInUseBytes } : {}),
          ...(lastDefragmentTime ? { lastDefragmentTime } : {}),
          ...(m.message ? { message: m.message } : {}),
        };
      }),
    };
    const observation = this.observe(health, classProblem, durable);
    return {
      observation,
      status,
      clientDigest: tls.clientDigest,
      pendingStep: tls.pendingStep,
      requeueAfterMs:
        observation.status === 'True' && health.members.every((m) => m.healthy) ? undefined : 5_000,
    };
  }

  private observe(
    health: ClusterHealth,
    classProblem: string | undefined,
    durable: boolean,
  ): StorageObservation {
    const healthy = health.members.filter((m) => m.healthy);
    const quorum = Math.floor(this.count / 2) + 1;
    const sick = health.members
      .filter((m) => !m.healthy)
      .map((m) => `${m.name}: ${m.message ?? 'unhealthy'}`)
      .join('; ');
    const notDurable = durable ? '' : ' NOT durable: members keep their data in emptyDir volumes.';
    if (healthy.length >= quorum && health.leader) {
      const all = healthy.length === this.count;
      return {
        status: 'True',
        reason: !durable ? 'NotDurable' : all ? 'MembersHealthy' : 'QuorumHealthy',
        message: `${healthy.length}/${this.count} etcd members healthy, leader ${health.leader}${all ? '' : ` (${sick})`}.${notDurable}`,
        ...(durable ? {} : { notDurable: true }),
      };
    }
    return {
      status: 'False',
      reason: classProblem ? 'StorageClassNotFound' : healthy.length === 0 ? 'MembersNotReady' : 'NoQuorum',
      message: `${healthy.length}/${this.count} etcd members healthy, ${quorum} needed for a quorum${sick ? ` (${sick})` : ''}${classProblem ? `; ${classProblem}` : ''}`,
    };
  }

  /**
   * Restores every member's data from the snapshot before the StatefulSet first exists: each member's
   * claim is made under the name the StatefulSet will adopt, and a Job per member restores into it.
   * Returns the StorageReady observation while that is under way or failed, undefined once all are done.
   * Only while no member claim predates the restore: a cluster that has run is never restored over.
   */
  private async restore(image: string): Promise<StorageObservation | undefined> {
    const { rest } = this.ctx;
    const jobs = restoreJobs(this.api, image);
    const existing = await Promise.all(
      jobs.map((j) =>
        rest.getOrUndefined<KubeObject & { status?: { succeeded?: number; failed?: number } }>(
          JOB,
          j.metadata!.name!,
          this.names.namespace,
        ),
      ),
    );
    if (existing.every((j) => !j)) {
      const claims = await Promise.all(
        restoreMemberClaims(this.api).map((c) =>
          rest.getOrUndefined(PERSISTENT_VOLUME_CLAIM, c.metadata!.name!, this.names.namespace),
        ),
      );
      if (claims.some((c) => c)) return undefined; // The members' data exists: never restore over it.
      for (const claim of restoreMemberClaims(this.api)) await rest.apply(PERSISTENT_VOLUME_CLAIM, claim);
      for (const job of jobs) await rest.apply(JOB, job);
      await this.ctx.events.record(
        this.api,
        'Normal',
        'EtcdRestoreStarted',
        `restoring ${jobs.length} etcd member(s) from snapshot ${this.spec.restore!.snapshot}`,
      );
      return {
        status: 'False',
        reason: 'Restoring',
        message: `restoring etcd from snapshot ${this.spec.restore!.snapshot}`,
      };
    }
    const failed = existing.filter((j) => (j?.status?.failed ?? 0) > 0);
    if (failed.length)
      return {
        status: 'False',
        reason: 'RestoreFailed',
        message: `the restore of snapshot ${this.spec.restore!.snapshot} failed (Job ${failed.map((j) => j!.metadata!.name).join(', ')}); see its logs. Delete this AggregatedAPI and its claims to try again`,
      };
    const done = existing.filter((j) => (j?.status?.succeeded ?? 0) > 0).length;
    if (done < jobs.length)
      return {
        status: 'False',
        reason: 'Restoring',
        message: `restoring etcd from snapshot ${this.spec.restore!.snapshot}: ${done}/${jobs.length} members restored`,
      };
    await this.ctx.events.record(
      this.api,
      'Normal',
      'EtcdRestored',
      `restored ${jobs.length} etcd member(s) from snapshot ${this.spec.restore!.snapshot}`,
    );
    return undefined;
  }

  /** The backup claim and CronJob while spec asks for backups (and the operator knows its image). */
  private async scheduleBackups(): Promise<void> {
    const { rest } = this.ctx;
    if (this.spec.backup && this.ctx.operatorImage) {
      await rest.apply(PERSISTENT_VOLUME_CLAIM, backupClaim(this.api));
      await rest.apply(CRON_JOB, backupCronJob(this.api, this.ctx.operatorImage));
      return;
    }
    const existing = await rest.getOrUndefined(CRON_JOB, this.names.backupCronJob, this.names.namespace);
    if (existing?.metadata?.ownerReferences?.some((o) => o.uid === this.api.metadata.uid))
      await rest.delete(CRON_JOB, this.names.backupCronJob, this.names.namespace);
  }

  /** Why the members' claims cannot be provisioned, if the StorageClass they need does not exist. */
  private async storageClassProblem(): Promise<string | undefined> {
    const claim = this.spec.volume?.persistentVolumeClaim;
    if (this.spec.volume?.emptyDir || !claim) return undefined;
    if (claim.storageClassName) {
      const found = await this.ctx.rest.getOrUndefined(STORAGE_CLASS, claim.storageClassName);
      return found
        ? undefined
        : `StorageClass ${claim.storageClassName} (storage.etcd.managed.volume.persistentVolumeClaim.storageClassName) does not exist`;
    }
    const classes = await this.ctx.rest.list(STORAGE_CLASS);
    const hasDefault = classes.items.some(
      (c) => c.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true',
    );
    return hasDefault
      ? undefined
      : 'the cluster has no default StorageClass; set storage.etcd.managed.volume.persistentVolumeClaim.storageClassName';
  }

  private async applyConfigMap(
    volumes: Record<string, string>,
    states: Record<string, { state: MemberState; initialCluster: number[] }>,
  ): Promise<void> {
    const object = etcdConfigMap(this.api, states);
    object.metadata!.annotations = {
      [MEMBER_VOLUMES_ANNOTATION]: JSON.stringify(volumes),
      [MEMBER_STATES_ANNOTATION]: JSON.stringify(states),
    };
    await this.ctx.rest.apply(CONFIG_MAP, object);
  }

  private async memberPods(): Promise<(MemberPod & { name: string })[]> {
    const selector = Object.entries(etcdSelectorLabels(this.api))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const pods = (
      await this.ctx.rest.list<Pod>(POD, { namespace: this.names.namespace, labelSelector: selector })
    ).items;
    const claims = this.spec.volume?.emptyDir
      ? undefined
      : (await this.ctx.rest.list(PERSISTENT_VOLUME_CLAIM, { namespace: this.names.namespace })).items;
    const result: (MemberPod & { name: string })[] = [];
    for (let ordinal = 0; ordinal < this.count; ordinal++) {
      const name = memberName(this.api, ordinal);
      const pod = pods.find((p) => p.metadata?.name === name && !p.metadata?.deletionTimestamp);
      if (!pod) continue;
      const claim = claims?.find(
        (c) => c.metadata?.name === `data-${name}` && !c.metadata?.deletionTimestamp,
      );
      result.push({
        ordinal,
        name,
        podIP: pod.status?.podIP,
        ready: !!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        // The identity of the member's data: its claim, or with emptyDir the pod itself.
        uid: claims ? claim?.metadata?.uid : pod.metadata?.uid,
      });
    }
    return result;
  }

  /**
   * A member whose volume changed since it last ran (a new claim, or with emptyDir a new pod) has lost
   * its data: started with initial-cluster-state `new` it refuses to run (etcd finds its id already
   * bootstrapped), so nothing is corrupted meanwhile. It is removed from the membership and added back
   * as a new member through a healthy one, but only while the others keep a quorum without it.
   */
  private async replaceLostMembers(
    pods: (MemberPod & { name: string })[],
    health: ClusterHealth,
    volumes: Record<string, string>,
    states: Record<string, { state: MemberState; initialCluster: number[] }>,
    tls: { caPem: string; certPem: string; keyPem: string },
  ): Promise<boolean> {
    let changed = false;
    for (const pod of pods) {
      const key = String(pod.ordinal);
      const member = health.members[pod.ordinal];
      if (!pod.uid) continue;
      if (member?.healthy) {
        if (volumes[key] !== pod.uid || states[key]) {
          volumes[key] = pod.uid;
          delete states[key];
          changed = true;
        }
        continue;
      }
      if (!volumes[key] || volumes[key] === pod.uid || !health.membership) continue;
      const others = health.members.filter((m) => m.healthy && m.ordinal !== pod.ordinal);
      const remaining = health.membership.length - 1;
      if (this.count === 1 || others.length < Math.floor(remaining / 2) + 1) {
        this.ctx.log.warn(
          { member: pod.name },
          'member lost its volume; too few healthy members to replace it',
        );
        continue;
      }
      const via = pods.find((p) => p.ordinal === others[0].ordinal)!;
      await replaceMember(this.api, pod.ordinal, via, health.membership, tls);
      const ordinals = Array.from({ length: this.count }, (_, i) => i);
      states[key] = { state: 'existing', initialCluster: ordinals };
      volumes[key] = pod.uid;
      changed = true;
      await this.ctx.events.record(
        this.api,
        'Warning',
        'EtcdMemberReplaced',
        `etcd member ${pod.name} lost its data (its volume was replaced); it was removed from the cluster and added back empty, and copies the data from the others`,
      );
      // Restart it now rather than after its crash-loop back-off: it reads its new configuration at start.
      await this.ctx.rest.delete(POD, pod.name, this.names.namespace).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
    }
    return changed;
  }

  private async defragmentIfDue(
    pods: MemberPod[],
    health: ClusterHealth,
    tls: { caPem: string; certPem: string; keyPem: string },
  ): Promise<{ member?: string; time?: string }> {
    // Never while any member is unhealthy: a defragmenting member stops answering until it is done.
    if (!health.members.every((m) => m.healthy)) return {};
    const d = { ...SPEC_DEFAULTS.storage.etcd.managed.defragment, ...this.spec.defragment };
    const previous = new Map((this.ctx.previous?.members ?? []).map((m) => [m.name, m.lastDefragmentTime]));
    const now = Date.now();
    for (const m of health.members) {
      const size = m.dbSizeBytes ?? 0;
      const free = size - (m.dbSizeInUseBytes ?? size);
      const last = previous.get(m.name);
      if (free < (size * d.thresholdPercent) / 100 || free < d.minFreeMegabytes * 1024 * 1024) continue;
      if (last && now - Date.parse(last) < d.minIntervalMinutes * 60_000) continue;
      const pod = pods.find((p) => p.ordinal === m.ordinal)!;
      const started = Date.now();
      await defragment(this.api, pod, tls);
      this.ctx.log.info(
        { member: m.name, freedBytes: free, ms: Date.now() - started },
        'defragmented etcd member',
      );
      await this.ctx.events.record(
        this.api,
        'Normal',
        'EtcdDefragmented',
        `defragmented etcd member ${m.name}: ${Math.round(free / 1024 / 1024)} MiB of ${Math.round(size / 1024 / 1024)} MiB were free`,
      );
      return { member: m.name, time: rfc3339Seconds(new Date()) };
    }
    return {};
  }

  /**
   * The etcd CA, the member certificate (server and peer) and the client certificate. The member
   * Secret's bundle is "published" once every member runs with it (the StatefulSet rolled out with its
   * digest), and the client Secret's once every server replica does: only then may the next CA sign.
   */
  private async certificates(statefulSet: Workload | undefined) {
    const { rest } = this.ctx;
    const n = this.names;
    const [caSecret, memberSecret, clientSecret, deployment] = await Promise.all([
      rest.getOrUndefined<Secret>(SECRET, n.caSecret, n.namespace),
      rest.getOrUndefined<Secret>(SECRET, n.memberSecret, n.namespace),
      rest.getOrUndefined<Secret>(SECRET, n.clientSecret, n.namespace),
      rest.getOrUndefined<Workload>(DEPLOYMENT, `${this.api.metadata.name}-apiserver`, n.namespace),
    ]);
    const memberData = decodeSecretData(memberSecret?.data);
    const clientData = decodeSecretData(clientSecret?.data);
    const memberDigestNow = memberData ? digest(memberData['tls.crt'], memberData['ca.crt']) : undefined;
    const clientDigestNow = clientData ? digest(clientData['tls.crt'], clientData['ca.crt']) : undefined;
    const membersRolled =
      !!memberDigestNow && rolledOutWith(statefulSet, ETCD_TLS_DIGEST_ANNOTATION, memberDigestNow);
    const serversRolled =
      !!clientDigestNow && rolledOutWith(deployment, ETCD_CLIENT_DIGEST_ANNOTATION, clientDigestNow);
    const plan = planCertificates({
      now: new Date(),
      policy: this.ctx.policy,
      caData: decodeSecretData(caSecret?.data),
      servingData: memberData,
      dnsNames: memberDnsNames(this.api),
      commonName: n.memberCommonName,
      clientAuth: true,
      publishedBundles: [
        membersRolled ? memberData!['ca.crt'] : undefined,
        serversRolled ? clientData!['ca.crt'] : undefined,
      ],
      // Members reload their own certificate only at start: rolled out with it means serving it.
      servedFingerprints:
        membersRolled && serversRolled ? [parseCert(memberData!['tls.crt']).fingerprintSha256] : undefined,
    });
    let client: KeyPair | undefined =
      clientData?.['tls.crt'] && clientData['tls.key']
        ? { certPem: clientData['tls.crt'], keyPem: clientData['tls.key'] }
        : undefined;
    const clientDue =
      !client ||
      plan.servingChanged ||
      !verifyCertSignedBy(client.certPem, plan.ca.active.certPem) ||
      parseCert(client.certPem).notAfter.getTime() - Date.now() < this.ctx.policy.renewBeforeMs;
    if (clientDue) {
      const issued = issueClientCert(plan.ca.active, {
        commonName: n.clientCommonName,
        organizations: [],
        validityMs: Math.min(
          this.ctx.policy.servingValidityMs,
          parseCert(plan.ca.active.certPem).notAfter.getTime() - Date.now(),
        ),
      });
      client = { certPem: issued.certPem, keyPem: issued.keyPem };
    }
    await rest.apply(
      SECRET,
      etcdCaSecret(
        this.api,
        caStateToData(plan.ca),
        plan.caChanged ? caSecret?.metadata?.resourceVersion : undefined,
      ),
    );
    await rest.apply(
      SECRET,
      etcdTlsSecret(this.api, 'member', plan.serving, plan.bundle, memberSecret?.metadata?.resourceVersion),
    );
    await rest.apply(
      SECRET,
      etcdTlsSecret(this.api, 'client', client!, plan.bundle, clientSecret?.metadata?.resourceVersion),
    );
    for (const e of plan.events)
      await this.ctx.events.record(this.api, e.type, `Etcd${e.reason}`, `etcd: ${e.message}`);
    return {
      memberDigest: digest(plan.serving.certPem, plan.bundle),
      clientDigest: digest(client!.certPem, plan.bundle),
      client: { caPem: plan.bundle, certPem: client!.certPem, keyPem: client!.keyPem },
      caNotAfter: rfc3339Seconds(plan.caNotAfter),
      pendingStep: plan.pendingStep,
    };
  }
}
