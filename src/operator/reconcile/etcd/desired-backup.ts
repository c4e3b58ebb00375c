/**
 * Backup and restore of a managed etcd, as server-side-apply documents (the style of desired.ts):
 *
 * - the backup claim (<name>-etcd-backup) and the CronJob (<name>-etcd-backup) that runs the operator's
 *   own image's backup program (src/etcd-backup: one verified snapshot into the claim, older ones
 *   pruned to spec...backup.keep, `latest` naming the newest) with the client certificate;
 * - for spec...restore: each member's data claim, named as the StatefulSet's volumeClaimTemplate names
 *   it (so the StatefulSet adopts it), and one Job per member that runs `etcdutl snapshot restore` of
 *   the snapshot into that claim before the member first starts.
 *
 * Claims carry the owner labels but no ownerReference, as the StatefulSet's claims (retention Retain):
 * deleting the AggregatedAPI never deletes data, its snapshots included (a new AggregatedAPI restores
 * from an old one's backup claim). The CronJob and the Jobs are owned like every other object.
 *
 * `etcdutl snapshot restore` (etcd v3.6, etcdutl/etcdutl/snapshot_command.go and
 * etcdutl/snapshot/v3_snapshot.go) takes --name, --initial-cluster, --initial-cluster-token,
 * --initial-advertise-peer-urls and --data-dir (plus --wal-dir, --skip-hash-check,
 * --initial-memory-map-size, --bump-revision, --mark-compacted); it refuses a data dir that exists and
 * is not empty ("data-dir %q not empty or could not be read", exit 1), so a restore Job that runs again
 * (or against a member that has started) fails instead of overwriting. It checks the sha256 that the
 * snapshot RPC appends; --skip-hash-check is only for a database file copied out of a data dir. It
 * creates the data dir and its member/snap and member/wal mode 0700, owned by the user it runs as: the
 * Jobs run as the etcd image's user (65532), as the members do.
 */
import { ownerLabels, SPEC_DEFAULTS, type AggregatedAPI } from '../../api/aggregated-api';
import type { KubeObject } from '../../../shared/kube/rest';
import { meta } from '../owned-meta';
import {
  clientURLs,
  ETCD_DATA_DIR,
  ETCD_DATA_MOUNT,
  etcdNames,
  etcdSelectorLabels,
  managedEtcd,
  memberClaim,
  memberCount,
  memberName,
  memberPeerURL,
  type ManagedEtcdSpec,
} from './names';

/** The backup program in the operator's image (WORKDIR /app; the image's entrypoint is node). */
export const ETCD_BACKUP_COMMAND = ['node', 'dist/etcd-backup/main.js'];
/** Where the backup claim is mounted in the backup pod. */
export const BACKUP_MOUNT = '/backup';
/** Where the client Secret (tls.crt, tls.key, ca.crt) is mounted in the backup pod. */
export const BACKUP_CLIENT_TLS_MOUNT = '/etc/etcd-client';
/** Where the restore claim is mounted in the restore pods. */
export const RESTORE_MOUNT = '/restore';
/** The backup program's own bound (--timeout-seconds). */
export const BACKUP_TIMEOUT_SECONDS = 600;
/** The Job's bound: the program's, plus the pod's scheduling, image pull and start. */
export const BACKUP_JOB_DEADLINE_SECONDS = BACKUP_TIMEOUT_SECONDS + 300;
/** A restore copies one database on local disk: minutes at most, plus scheduling and a volume's provisioning. */
export const RESTORE_JOB_DEADLINE_SECONDS = 1800;
/** The kubelet writes the container's termination message from this file into the pod's status. */
const TERMINATION_LOG = '/dev/termination-log';

const RUN_AS = 65532;

export function restoreJobName(api: AggregatedAPI, ordinal: number): string {
  return `${api.metadata.name}-etcd-restore-${ordinal}`;
}

function managed(api: AggregatedAPI): ManagedEtcdSpec {
  const spec = managedEtcd(api);
  if (!spec) throw new Error(`AggregatedAPI ${api.metadata.name} has no spec.storage.etcd.managed`);
  return spec;
}

/** A claim's metadata: the owner labels, no ownerReference (see the header). */
function claimMeta(api: AggregatedAPI, name: string, labels: Record<string, string> = {}) {
  return { name, namespace: api.spec.namespace, labels: { ...labels, ...ownerLabels(api) } };
}

function claim(
  metadata: ReturnType<typeof claimMeta>,
  size: string,
  storageClassName: string | undefined,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata,
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(storageClassName ? { storageClassName } : {}),
      resources: { requests: { storage: size } },
    },
  };
}

/** Pod security shared by the backup and restore pods: the etcd image's and the operator image's user. */
const podSecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS,
  runAsGroup: RUN_AS,
  // Secret volumes are root-owned with mode 0440, and a new volume's root may be root's: fsGroup
  // makes both usable by the user.
  fsGroup: RUN_AS,
  fsGroupChangePolicy: 'OnRootMismatch',
  seccompProfile: { type: 'RuntimeDefault' },
};

const containerSecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/** The claim the snapshots go to: spec...backup's size and class, the CRD's default size. */
export function backupClaim(api: AggregatedAPI): KubeObject {
  const backup = managed(api).backup ?? {};
  return claim(
    claimMeta(api, etcdNames(api).backupClaim),
    backup.size ?? SPEC_DEFAULTS.storage.etcd.managed.backup.size,
    backup.storageClassName,
  );
}

/** The backup program's arguments (main.ts's flags). */
export function backupArgs(api: AggregatedAPI): string[] {
  const backup = managed(api).backup ?? {};
  return [
    `--endpoints=${clientURLs(api).join(',')}`,
    `--cacert=${BACKUP_CLIENT_TLS_MOUNT}/ca.crt`,
    `--cert=${BACKUP_CLIENT_TLS_MOUNT}/tls.crt`,
    `--key=${BACKUP_CLIENT_TLS_MOUNT}/tls.key`,
    `--dir=${BACKUP_MOUNT}`,
    `--prefix=${api.metadata.name}`,
    `--keep=${backup.keep ?? SPEC_DEFAULTS.storage.etcd.managed.backup.keep}`,
    `--timeout-seconds=${BACKUP_TIMEOUT_SECONDS}`,
    `--termination-log=${TERMINATION_LOG}`,
  ];
}

/** Labels of the backup pods: not the members' (the PodDisruptionBudget and Services select those). */
export function backupPodLabels(api: AggregatedAPI): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'etcd-backup',
    'app.kubernetes.io/instance': api.metadata.name,
    'app.kubernetes.io/component': 'backup',
    ...ownerLabels(api),
  };
}

/**
 * The CronJob that takes the snapshots. Its schedule is in UTC, as the file names are (unless the
 * schedule names its own CRON_TZ/TZ, which the API refuses beside timeZone). Never two runs at once;
 * a run missed by more than 5 minutes is skipped; a failed run is retried twice within the Job's
 * deadline. The outcome is the container's termination message: the snapshot as JSON (file, bytes,
 * revision, endpoint, member, durationMs), or why it failed.
 */
export function backupCronJob(api: AggregatedAPI, operatorImage: string): KubeObject {
  const n = etcdNames(api);
  const backup = managed(api).backup ?? {};
  const schedule = backup.schedule ?? SPEC_DEFAULTS.storage.etcd.managed.backup.schedule;
  const labels = backupPodLabels(api);
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: meta(api, n.backupCronJob, n.namespace),
    spec: {
      schedule,
      ...(/^\s*(CRON_)?TZ=/.test(schedule) ? {} : { timeZone: 'Etc/UTC' }),
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 300,
      successfulJobsHistoryLimit: 2,
      failedJobsHistoryLimit: 2,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 2,
          activeDeadlineSeconds: BACKUP_JOB_DEADLINE_SECONDS,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: 'Never',
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              securityContext: podSecurityContext,
              containers: [
                {
                  name: 'backup',
                  image: operatorImage,
                  imagePullPolicy: api.spec.imagePullPolicy ?? SPEC_DEFAULTS.imagePullPolicy,
                  command: ETCD_BACKUP_COMMAND,
                  args: backupArgs(api),
                  terminationMessagePath: TERMINATION_LOG,
                  terminationMessagePolicy: 'FallbackToLogsOnError',
                  resources: {
                    requests: { cpu: '50m', memory: '64Mi' },
                    limits: { memory: '256Mi' },
                  },
                  securityContext: containerSecurityContext,
                  volumeMounts: [
                    { name: 'etcd-client', mountPath: BACKUP_CLIENT_TLS_MOUNT, readOnly: true },
                    { name: 'backup', mountPath: BACKUP_MOUNT },
                  ],
                },
              ],
              volumes: [
                { name: 'etcd-client', secret: { secretName: n.clientSecret, defaultMode: 0o440 } },
                { name: 'backup', persistentVolumeClaim: { claimName: n.backupClaim } },
              ],
            },
          },
        },
      },
    },
  };
}

function restoreSpec(api: AggregatedAPI) {
  const spec = managed(api);
  if (!spec.restore)
    throw new Error(`AggregatedAPI ${api.metadata.name} has no storage.etcd.managed.restore`);
  if (spec.volume?.emptyDir) {
    throw new Error(
      `AggregatedAPI ${api.metadata.name}: storage.etcd.managed.restore needs persistentVolumeClaim volumes, not emptyDir`,
    );
  }
  return { spec, restore: spec.restore };
}

/** `name=peerURL` of every member: etcd's --initial-cluster. */
export function initialCluster(api: AggregatedAPI): string {
  const members = memberCount(managed(api));
  return Array.from({ length: members }, (_, i) => `${memberName(api, i)}=${memberPeerURL(api, i)}`).join(
    ',',
  );
}

/**
 * Each member's data claim, as the StatefulSet's volumeClaimTemplate `data` would make it (name
 * data-<name>-etcd-<i>, its labels, size and class), made first so the restore Jobs can fill it; the
 * StatefulSet then uses it as its own.
 */
export function restoreMemberClaims(api: AggregatedAPI): KubeObject[] {
  const { spec } = restoreSpec(api);
  const volume = spec.volume?.persistentVolumeClaim ?? {};
  const size = volume.size ?? SPEC_DEFAULTS.storage.etcd.managed.volume.persistentVolumeClaim.size;
  return Array.from({ length: memberCount(spec) }, (_, i) =>
    claim(claimMeta(api, memberClaim(api, i), etcdSelectorLabels(api)), size, volume.storageClassName),
  );
}

/** Labels of the restore pods: not the members' (the PodDisruptionBudget and Services select those). */
export function restorePodLabels(api: AggregatedAPI): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'etcd-restore',
    'app.kubernetes.io/instance': api.metadata.name,
    'app.kubernetes.io/component': 'storage',
    ...ownerLabels(api),
  };
}

/**
 * One Job per member: `etcdutl snapshot restore` of spec...restore.snapshot (from the claim
 * spec...restore.persistentVolumeClaimName, read-only) into the member's data claim, as that member
 * (its name, its peer URL, the cluster's members and token), so that every member starts on the same
 * restored cluster. The image is the etcd image (its entrypoint is etcd; etcdutl is beside it in
 * /usr/local/bin, and there is no shell). No retry: a restore that failed part way leaves a data dir
 * that etcdutl then refuses, and one that failed before writing would fail the same way again.
 */
export function restoreJobs(api: AggregatedAPI, etcdImage: string): KubeObject[] {
  const { spec, restore } = restoreSpec(api);
  const n = etcdNames(api);
  const labels = restorePodLabels(api);
  return Array.from({ length: memberCount(spec) }, (_, i) => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta(api, restoreJobName(api, i), n.namespace),
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: RESTORE_JOB_DEADLINE_SECONDS,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: podSecurityContext,
          containers: [
            {
              name: 'restore',
              image: etcdImage,
              imagePullPolicy: spec.imagePullPolicy ?? SPEC_DEFAULTS.storage.etcd.managed.imagePullPolicy,
              command: ['etcdutl'],
              args: [
                'snapshot',
                'restore',
                `${RESTORE_MOUNT}/${restore.snapshot}`,
                `--name=${memberName(api, i)}`,
                `--initial-cluster=${initialCluster(api)}`,
                `--initial-cluster-token=${n.clusterToken}`,
                `--initial-advertise-peer-urls=${memberPeerURL(api, i)}`,
                `--data-dir=${ETCD_DATA_DIR}`,
              ],
              terminationMessagePolicy: 'FallbackToLogsOnError',
              resources: {
                requests: { cpu: '100m', memory: '128Mi' },
                limits: { memory: '512Mi' },
              },
              securityContext: containerSecurityContext,
              volumeMounts: [
                { name: 'data', mountPath: ETCD_DATA_MOUNT },
                { name: 'restore', mountPath: RESTORE_MOUNT, readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'data', persistentVolumeClaim: { claimName: memberClaim(api, i) } },
            {
              name: 'restore',
              persistentVolumeClaim: { claimName: restore.persistentVolumeClaimName, readOnly: true },
            },
          ],
        },
      },
    },
  }));
}
