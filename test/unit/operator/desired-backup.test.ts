/**
 * Backup and restore objects of a managed etcd (desired-backup.ts), as applied: the backup claim and
 * CronJob (names, schedule, bounds, the backup program's flags as that program parses them, the client
 * Secret and claim mounts, security), the restore claims (exactly the claims the StatefulSet's
 * volumeClaimTemplate makes, so it adopts them) and the restore Jobs (etcdutl's flags for each member,
 * mounts, no retry), and labels that never put a backup or restore pod under the members' selector.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AggregatedAPI } from '../../../src/operator/api/aggregated-api';
import * as backup from '../../../src/operator/reconcile/etcd/desired-backup';
import { etcdStatefulSet } from '../../../src/operator/reconcile/etcd/desired-etcd';
import {
  clientURLs,
  ETCD_DATA_DIR,
  ETCD_DATA_MOUNT,
  etcdSelectorLabels,
  memberPeerURL,
} from '../../../src/operator/reconcile/etcd/names';
import { parseFlags } from '../../../src/etcd-backup/main';

type Managed = NonNullable<NonNullable<NonNullable<AggregatedAPI['spec']['storage']>['etcd']>['managed']>;

const api = (managed: Managed = {}): AggregatedAPI => ({
  apiVersion: 'aggregation.example.com/v1alpha1',
  kind: 'AggregatedAPI',
  metadata: { name: 'things', uid: 'uid-1', generation: 1 },
  spec: {
    group: 'things.example.com',
    versions: [{ name: 'v1' }],
    namespace: 'ns',
    storage: { etcd: { managed } },
  },
});

const restoring = (more: Managed = {}) =>
  api({
    restore: { persistentVolumeClaimName: 'old-etcd-backup', snapshot: 'old-20260101T000000Z-rev42.db' },
    ...more,
  });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const cronPod = (cronJob: Any) => cronJob.spec.jobTemplate.spec.template;
const ownerLabels = {
  'app.kubernetes.io/managed-by': 'aggregator-operator',
  'aggregation.example.com/aggregatedapi': 'things',
};
const ownedByApi = [
  expect.objectContaining({ kind: 'AggregatedAPI', name: 'things', uid: 'uid-1', controller: true }),
];

/** Whether a selector's matchLabels select these labels. */
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

function expectLockedDown(pod: Any) {
  expect(pod.spec.restartPolicy).toBe('Never');
  expect(pod.spec.automountServiceAccountToken).toBe(false);
  expect(pod.spec.securityContext).toEqual({
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    fsGroup: 65532,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  });
  for (const container of pod.spec.containers) {
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toEqual(expect.any(String));
  }
}

describe('backup', () => {
  test('the claim: ReadWriteOnce, the CRD default size and the cluster default class; or spec', () => {
    expect(backup.backupClaim(api())).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      // No ownerReference: snapshots outlive the AggregatedAPI, as member claims do.
      metadata: { name: 'things-etcd-backup', namespace: 'ns', labels: ownerLabels },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } },
    });
    const custom = backup.backupClaim(api({ backup: { size: '10Gi', storageClassName: 'fast' } })) as Any;
    expect(custom.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'fast',
      resources: { requests: { storage: '10Gi' } },
    });
  });

  test('the CronJob: schedule in UTC, never two at once, bounded, small history, owned', () => {
    const cronJob = backup.backupCronJob(api(), 'repo/operator:1') as Any;
    expect(cronJob).toMatchObject({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: {
        name: 'things-etcd-backup',
        namespace: 'ns',
        labels: ownerLabels,
        ownerReferences: ownedByApi,
      },
    });
    expect(cronJob.spec).toMatchObject({
      schedule: '0 * * * *',
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 300,
    });
    expect(cronJob.spec.successfulJobsHistoryLimit).toBeLessThanOrEqual(3);
    expect(cronJob.spec.failedJobsHistoryLimit).toBeLessThanOrEqual(3);
    expect(cronJob.spec.jobTemplate.spec.backoffLimit).toBe(2);
    // The Job outlasts the program's own timeout, so the program reports a timeout itself.
    expect(cronJob.spec.jobTemplate.spec.activeDeadlineSeconds).toBeGreaterThan(
      backup.BACKUP_TIMEOUT_SECONDS,
    );

    const custom = backup.backupCronJob(api({ backup: { schedule: '*/15 * * * *' } }), 'img') as Any;
    expect(custom.spec.schedule).toBe('*/15 * * * *');
    // A schedule with its own time zone: the API refuses timeZone beside it.
    const zoned = backup.backupCronJob(
      api({ backup: { schedule: 'CRON_TZ=Europe/Paris 0 3 * * *' } }),
      'img',
    ) as Any;
    expect(zoned.spec.timeZone).toBeUndefined();
  });

  test("the pod runs the operator image's backup program with flags it accepts", () => {
    const pod = cronPod(backup.backupCronJob(api({ members: 5, backup: { keep: 7 } }), 'repo/operator:1'));
    const [container] = pod.spec.containers;
    expect(container.image).toBe('repo/operator:1');
    expect(container.command).toEqual(['node', 'dist/etcd-backup/main.js']);
    // The image's entrypoint is node, run from /app, where dist/ is; the build compiles src/ into dist/.
    const dockerfile = readFileSync(path.join(__dirname, '../../../Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node"\]$/m);
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/src\/dist \.\/dist$/m);
    const build = JSON.parse(readFileSync(path.join(__dirname, '../../../tsconfig.build.json'), 'utf8'));
    expect(build).toMatchObject({ compilerOptions: { rootDir: 'src', outDir: 'dist' }, include: ['src'] });

    const flags = parseFlags(container.args);
    expect(flags).toEqual({
      endpoints: clientURLs(api({ members: 5 })),
      tls: {
        caFile: '/etc/etcd-client/ca.crt',
        certFile: '/etc/etcd-client/tls.crt',
        keyFile: '/etc/etcd-client/tls.key',
      },
      dir: '/backup',
      prefix: 'things',
      keep: 7,
      timeoutMs: backup.BACKUP_TIMEOUT_SECONDS * 1000,
      terminationLog: '/dev/termination-log',
      logLevel: expect.any(String),
    });
    expect(flags.endpoints).toEqual([
      'https://things-etcd-0.things-etcd-peer.ns.svc:2379',
      'https://things-etcd-1.things-etcd-peer.ns.svc:2379',
      'https://things-etcd-2.things-etcd-peer.ns.svc:2379',
      'https://things-etcd-3.things-etcd-peer.ns.svc:2379',
      'https://things-etcd-4.things-etcd-peer.ns.svc:2379',
    ]);
    expect(parseFlags(cronPod(backup.backupCronJob(api(), 'img')).spec.containers[0].args).keep).toBe(24);
    expect(container.terminationMessagePath).toBe('/dev/termination-log');
  });

  test('the pod mounts the client Secret read-only and the backup claim, and is locked down', () => {
    const pod = cronPod(backup.backupCronJob(api(), 'img'));
    const [container] = pod.spec.containers;
    expect(pod.spec.volumes).toEqual([
      { name: 'etcd-client', secret: { secretName: 'things-etcd-client', defaultMode: 0o440 } },
      { name: 'backup', persistentVolumeClaim: { claimName: 'things-etcd-backup' } },
    ]);
    expect(container.volumeMounts).toEqual([
      { name: 'etcd-client', mountPath: '/etc/etcd-client', readOnly: true },
      { name: 'backup', mountPath: '/backup' },
    ]);
    expectLockedDown(pod);
    // Never one of the members: the PodDisruptionBudget and the Services select those.
    expect(selects(etcdSelectorLabels(api()), pod.metadata.labels)).toBe(false);
    expect(pod.metadata.labels).toMatchObject(ownerLabels);
  });
});

describe('restore', () => {
  test('the member claims are the ones the StatefulSet would make: names, labels, spec', () => {
    for (const members of [1, 3, 5] as const) {
      for (const volume of [
        undefined,
        { persistentVolumeClaim: { size: '5Gi', storageClassName: 'fast' } },
      ]) {
        const a = restoring({ members, ...(volume ? { volume } : {}) });
        const set = etcdStatefulSet(a, 'etcd:1', 'digest') as Any;
        const [template] = set.spec.volumeClaimTemplates;
        const claims = backup.restoreMemberClaims(a) as Any[];
        expect(claims.map((c) => c.metadata.name)).toEqual(
          Array.from({ length: members }, (_, i) => `${template.metadata.name}-${set.metadata.name}-${i}`),
        );
        for (const c of claims) {
          expect(c.apiVersion).toBe('v1');
          expect(c.kind).toBe('PersistentVolumeClaim');
          expect(c.metadata.namespace).toBe(set.metadata.namespace);
          // The StatefulSet's claims: the template's labels with its selector's.
          expect(c.metadata.labels).toEqual({
            ...template.metadata.labels,
            ...set.spec.selector.matchLabels,
          });
          expect(c.spec).toEqual(template.spec);
          // Retained like the StatefulSet's own (whenDeleted: Retain): no ownerReference.
          expect(c.metadata.ownerReferences).toBeUndefined();
        }
      }
    }
    expect((backup.restoreMemberClaims(restoring()) as Any[])[0].spec.resources.requests.storage).toBe('1Gi');
  });

  test('one Job per member runs etcdutl snapshot restore as that member, into its claim', () => {
    const a = restoring({ members: 3, image: 'ignored-here' });
    const jobs = backup.restoreJobs(a, 'repo/etcd:v3.6.17') as Any[];
    expect(jobs.map((j) => j.metadata.name)).toEqual([
      'things-etcd-restore-0',
      'things-etcd-restore-1',
      'things-etcd-restore-2',
    ]);
    const cluster = [0, 1, 2].map((i) => `things-etcd-${i}=${memberPeerURL(a, i)}`).join(',');
    expect(cluster).toBe(
      'things-etcd-0=https://things-etcd-0.things-etcd-peer.ns.svc:2380,' +
        'things-etcd-1=https://things-etcd-1.things-etcd-peer.ns.svc:2380,' +
        'things-etcd-2=https://things-etcd-2.things-etcd-peer.ns.svc:2380',
    );
    jobs.forEach((job, i) => {
      expect(job).toMatchObject({
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { namespace: 'ns', labels: ownerLabels, ownerReferences: ownedByApi },
      });
      // A failed restore is not retried: etcdutl would refuse the data dir it left.
      expect(job.spec.backoffLimit).toBe(0);
      expect(job.spec.activeDeadlineSeconds).toBeGreaterThan(0);
      const pod = job.spec.template;
      const [container] = pod.spec.containers;
      expect(container.image).toBe('repo/etcd:v3.6.17');
      expect(container.command).toEqual(['etcdutl']);
      expect(container.args).toEqual([
        'snapshot',
        'restore',
        '/restore/old-20260101T000000Z-rev42.db',
        `--name=things-etcd-${i}`,
        `--initial-cluster=${cluster}`,
        '--initial-cluster-token=ns-things-uid-1',
        `--initial-advertise-peer-urls=https://things-etcd-${i}.things-etcd-peer.ns.svc:2380`,
        '--data-dir=/var/lib/etcd/data',
      ]);
      expect(ETCD_DATA_DIR.startsWith(`${ETCD_DATA_MOUNT}/`)).toBe(true);
      expect(pod.spec.volumes).toEqual([
        { name: 'data', persistentVolumeClaim: { claimName: `data-things-etcd-${i}` } },
        { name: 'restore', persistentVolumeClaim: { claimName: 'old-etcd-backup', readOnly: true } },
      ]);
      expect(container.volumeMounts).toEqual([
        { name: 'data', mountPath: ETCD_DATA_MOUNT },
        { name: 'restore', mountPath: '/restore', readOnly: true },
      ]);
      expectLockedDown(pod);
      expect(selects(etcdSelectorLabels(a), pod.metadata.labels)).toBe(false);
    });
    // The claims the Jobs write are the restore claims.
    expect(jobs.map((j) => j.spec.template.spec.volumes[0].persistentVolumeClaim.claimName)).toEqual(
      (backup.restoreMemberClaims(a) as Any[]).map((c) => c.metadata.name),
    );
    expect(backup.restoreJobs(restoring({ members: 1 }), 'e')).toHaveLength(1);
    expect(backup.restoreJobs(restoring({ members: 5 }), 'e')).toHaveLength(5);
  });

  test('restore refuses emptyDir members and a spec without restore', () => {
    const onEmptyDir = restoring({ volume: { emptyDir: {} } });
    expect(() => backup.restoreJobs(onEmptyDir, 'e')).toThrow(/needs persistentVolumeClaim volumes/);
    expect(() => backup.restoreMemberClaims(onEmptyDir)).toThrow(/needs persistentVolumeClaim volumes/);
    expect(() => backup.restoreJobs(api(), 'e')).toThrow(/no storage.etcd.managed.restore/);
  });
});
