/**
 * The bed's default StorageClass (test/cluster/local-path-storage.yaml, local-path-provisioner): a claim
 * that names no class gets `local-path`, stays Pending until a pod uses it (WaitForFirstConsumer), then
 * binds to a volume that is a directory under .cluster/local-path on this host; data one pod wrote is read
 * by a second pod after the first is gone; deleting the claim deletes the volume and its directory.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { clusterDir, ensureClusterUp, eventually, k, withLogTails } from './cluster';

jest.setTimeout(3 * 60 * 1000);

const ns = `storage-${randomBytes(3).toString('hex')}`;
const BUSYBOX_IMAGE = 'localhost/busybox:bed';
const token = randomBytes(8).toString('hex');

/** A busybox pod running `script` once, as user 65532, with the claim `data` at /data. */
const pod = (name: string, script: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
      containers: [
        {
          name: 'main',
          image: BUSYBOX_IMAGE,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', script],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
    },
  });

const get = async (args: string[], jsonpath: string) =>
  (await k(['-n', ns, 'get', ...args, '-o', `jsonpath=${jsonpath}`])).trim();

const succeeded = (name: string) =>
  eventually(
    `pod ${name} to succeed`,
    async () => {
      const phase = await get(['pod', name], '{.status.phase}');
      if (phase === 'Failed') throw new Error(`pod ${name} failed: ${await k(['-n', ns, 'logs', name])}`);
      return phase === 'Succeeded';
    },
    60000,
  );

beforeAll(async () => {
  ensureClusterUp();
  await k(['create', 'namespace', ns]);
});

afterAll(async () => {
  await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

test(
  'local-path is the default StorageClass, provisioned dynamically, deleted with its claim',
  withLogTails(async () => {
    const classes = JSON.parse(await k(['get', 'storageclass', '-o', 'json'])) as {
      items: {
        metadata: { name: string; annotations?: Record<string, string> };
        provisioner: string;
        volumeBindingMode: string;
        reclaimPolicy: string;
      }[];
    };
    const defaults = classes.items.filter(
      (c) => c.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true',
    );
    expect(defaults.map((c) => c.metadata.name)).toEqual(['local-path']);
    expect(defaults[0]).toMatchObject({
      provisioner: 'rancher.io/local-path',
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Delete',
    });

    // A claim naming no class: the DefaultStorageClass admission plugin fills in local-path, and with
    // WaitForFirstConsumer nothing is provisioned before a pod is scheduled with it.
    await k(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data', namespace: ns },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '16Mi' } } },
      }),
    );
    expect(await get(['pvc', 'data'], '{.spec.storageClassName}')).toBe('local-path');
    expect(await get(['pvc', 'data'], '{.status.phase}')).toBe('Pending');

    await k(['apply', '-f', '-'], pod('writer', `echo ${token} > /data/x`));
    await succeeded('writer');
    expect(await get(['pvc', 'data'], '{.status.phase}')).toBe('Bound');
    const pv = await get(['pvc', 'data'], '{.spec.volumeName}');
    const hostDir = (await k(['get', 'pv', pv, '-o', 'jsonpath={.spec.hostPath.path}'])).trim();
    expect(path.dirname(hostDir)).toBe(path.join(clusterDir, 'local-path'));
    expect(path.basename(hostDir)).toBe(`${pv}_${ns}_data`);
    expect(readFileSync(path.join(hostDir, 'x'), 'utf8').trim()).toBe(token);

    // A second pod, after the first is gone, reads what it wrote.
    await k(['-n', ns, 'delete', 'pod', 'writer', '--wait=true']);
    await k(['apply', '-f', '-'], pod('reader', 'cat /data/x'));
    await succeeded('reader');
    expect((await k(['-n', ns, 'logs', 'reader'])).trim()).toBe(token);

    // reclaimPolicy Delete: the claim's deletion deletes the volume, and a helper pod its directory.
    await k(['-n', ns, 'delete', 'pod', 'reader', '--wait=true']);
    await k(['-n', ns, 'delete', 'pvc', 'data', '--wait=true']);
    await eventually(
      `PersistentVolume ${pv} and ${hostDir} to be deleted`,
      async () =>
        !(await k(['get', 'pv', pv, '--ignore-not-found', '-o', 'name'])).trim() && !existsSync(hostDir),
      60000,
    );
  }),
);
