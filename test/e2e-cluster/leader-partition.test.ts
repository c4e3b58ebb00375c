/**
 * Operator leader election under a network partition on the local cluster: the leader's traffic to
 * kube-apiserver is dropped (an iptables DROP rule inside its pod's network namespace, so calls hang
 * rather than fail) while its process keeps running. The old leader must stop by itself at its renew
 * deadline, before the standby takes the Lease, and the new leader must then reconcile.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  clusterDir,
  ensureClusterUp,
  eventually,
  k,
  withLogTails,
  installOperatorFromCheckout,
  OPERATOR_NS,
} from './cluster';

jest.setTimeout(15 * 60 * 1000);

const LEASE = 'aggregator-operator';
const suffix = randomBytes(3).toString('hex');
const run = promisify(execFile);
const json = async (args: string[]) => JSON.parse(await k([...args, '-o', 'json']));
const ctr = (...args: string[]) =>
  run('ctr', ['--address', path.join(clusterDir, 'containerd', 'containerd.sock'), '-n', 'k8s.io', ...args]);

interface LeaseSpec {
  holderIdentity?: string;
  acquireTime?: string;
  renewTime?: string;
}

const lease = async (): Promise<LeaseSpec> => (await json(['-n', OPERATOR_NS, 'get', 'lease', LEASE])).spec;

interface PodStatus {
  metadata: { name: string };
  status: {
    containerStatuses?: {
      containerID?: string;
      restartCount: number;
      ready: boolean;
      lastState?: { terminated?: { exitCode: number } };
    }[];
  };
}

const pod = async (name: string): Promise<PodStatus> => json(['-n', OPERATOR_NS, 'get', 'pod', name]);

/** The network namespace of a pod's container: the sandbox's, which outlives container restarts. */
async function networkNamespace(p: PodStatus): Promise<string> {
  const id = String(p.status.containerStatuses?.[0]?.containerID).replace('containerd://', '');
  const info = JSON.parse((await ctr('containers', 'info', id)).stdout);
  const ns = (info.Spec?.linux?.namespaces ?? []).find((n: { type: string }) => n.type === 'network');
  if (ns?.path) return ns.path;
  // No path in the spec: the task's own process.
  const task = (await ctr('tasks', 'ls')).stdout.split('\n').find((l) => l.startsWith(id));
  if (!task) throw new Error(`no running task for container ${id}`);
  return `/proc/${task.split(/\s+/)[1]}/ns/net`;
}

/** Every address a pod may use for kube-apiserver: the `kubernetes` Service and its endpoints. */
async function apiServerAddresses(): Promise<{ ip: string; port: number }[]> {
  const svc = await json(['-n', 'default', 'get', 'service', 'kubernetes']);
  const slices = await json([
    '-n',
    'default',
    'get',
    'endpointslices',
    '-l',
    'kubernetes.io/service-name=kubernetes',
  ]);
  const out = [{ ip: svc.spec.clusterIP as string, port: svc.spec.ports[0].port as number }];
  for (const slice of slices.items) {
    for (const e of slice.endpoints ?? []) {
      for (const ip of e.addresses ?? []) {
        for (const p of slice.ports ?? []) out.push({ ip, port: p.port });
      }
    }
  }
  return out;
}

/** Rules that drop (not reject: calls must hang) the pod's packets to kube-apiserver. */
const dropRules = (addresses: { ip: string; port: number }[]) =>
  addresses.map(({ ip, port }) => ['OUTPUT', '-d', ip, '-p', 'tcp', '--dport', String(port), '-j', 'DROP']);

const iptables = (netns: string, op: '-I' | '-D', rule: string[]) =>
  run('nsenter', [`--net=${netns}`, 'iptables', '-w', op, ...rule]);

interface LogLine {
  time: string;
  msg: string;
  reason?: string;
}

const parseLog = (text: string): LogLine[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
const at = (l: LogLine | undefined) => (l ? Date.parse(l.time) : NaN);

beforeAll(async () => {
  ensureClusterUp();
  // cluster.sh up rebuilt and imported the image when the sources changed: restart onto it.
  await installOperatorFromCheckout();
});

test(
  'a leader whose API calls hang stops at its renew deadline, before the standby takes over and reconciles',
  withLogTails(async () => {
    // A leader and a ready standby, both of the current rollout.
    const pods = async () =>
      (
        await json([
          '-n',
          OPERATOR_NS,
          'get',
          'pods',
          '-l',
          'app.kubernetes.io/name=aggregator-operator',
          '--field-selector',
          'status.phase=Running',
        ])
      ).items as PodStatus[];
    const oldIdentity = await eventually(
      'one ready replica leading and another ready',
      async () => {
        const running = (await pods()).filter((p) => p.status.containerStatuses?.[0]?.ready);
        const holder = (await lease()).holderIdentity ?? '';
        const names = running.map((p) => p.metadata.name);
        return names.length === 2 && names.includes(holder.split('_')[0]) && holder;
      },
      180_000,
    );
    const oldPod = oldIdentity.split('_')[0];
    const before = await pod(oldPod);
    const restartsBefore = before.status.containerStatuses![0].restartCount;
    const netns = await networkNamespace(before);
    const rules = dropRules(await apiServerAddresses());

    const name = `partition-${suffix}`;
    const inserted: string[][] = [];
    let blockedAt = 0;
    try {
      for (const rule of rules) {
        await iptables(netns, '-I', rule);
        inserted.push(rule);
      }
      blockedAt = Date.now();
      // Work only a leader can do, created while the old one is cut off: a missing namespace, so it
      // ends Degraded without starting anything.
      await k(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'aggregation.example.com/v1alpha1',
          kind: 'AggregatedAPI',
          metadata: { name },
          spec: {
            group: `${name}.example.com`,
            versions: [{ name: 'v1' }],
            namespace: `missing-${suffix}`,
            storage: { embedded: {} },
          },
        }),
      );

      const taken = await eventually(
        'another replica holding the Lease',
        async () => {
          const spec = await lease();
          return spec.holderIdentity && spec.holderIdentity !== oldIdentity ? spec : undefined;
        },
        120_000,
      );
      const newIdentity = taken.holderIdentity!;
      const acquiredAt = Date.parse(taken.acquireTime!);
      // The old process stopped by itself (exit 1), it was not killed by a probe or by us.
      const exited = await eventually(
        'the old leader process exited',
        async () => {
          const s = (await pod(oldPod)).status.containerStatuses![0];
          return s.restartCount > restartsBefore && s;
        },
        120_000,
      );
      const previous = parseLog(await k(['-n', OPERATOR_NS, 'logs', oldPod, '--previous']));
      const lost = previous.find((l) => l.msg === 'lost leadership');
      const exiting = previous.find((l) => l.msg === 'leadership lost; exiting');

      // The new leader acts on the AggregatedAPI created during the partition.
      type Event = { reason: string; reportingInstance: string; firstTimestamp: string };
      const events = async (): Promise<Event[]> =>
        (await json(['get', 'events', '-n', 'default', '--field-selector', `involvedObject.name=${name}`]))
          .items;
      const event = await eventually(
        'the new leader reporting NamespaceNotFound',
        async () => (await events()).find((e) => e.reason === 'NamespaceNotFound'),
        120_000,
      );
      const reporters = new Set((await events()).map((e) => e.reportingInstance));
      const conditions = (await json(['get', 'aggregatedapi', name])).status?.conditions ?? [];

      process.stderr.write(
        `leader partition: ${oldIdentity} blocked at ${new Date(blockedAt).toISOString()}; ` +
          `stopped leading after ${at(lost) - blockedAt} ms (${lost?.reason}); ` +
          `${newIdentity} acquired the Lease after ${acquiredAt - blockedAt} ms ` +
          `(${acquiredAt - at(lost)} ms after the old leader stopped)\n`,
      );
      expect(exited.lastState?.terminated?.exitCode).toBe(1);
      expect(lost).toMatchObject({ reason: 'renew deadline passed' });
      expect(exiting).toBeDefined();
      expect(at(lost)).toBeGreaterThan(blockedAt);
      expect(at(lost)).toBeLessThan(acquiredAt);
      expect(newIdentity.split('_')[0]).not.toBe(oldPod);
      expect(event.reportingInstance).toBe(newIdentity);
      expect([...reporters]).toEqual([newIdentity]);
      expect(Date.parse(event.firstTimestamp)).toBeGreaterThanOrEqual(acquiredAt - 1000);
      expect(conditions).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'Degraded', status: 'True', reason: 'NamespaceNotFound' }),
        ]),
      );
    } finally {
      for (const rule of inserted) await iptables(netns, '-D', rule).catch(() => undefined);
      await k(['delete', 'aggregatedapi', name, '--ignore-not-found', '--timeout=120s']).catch(
        () => undefined,
      );
    }
    // Healed: the old pod rejoins as a standby.
    await eventually(
      'the old pod ready again',
      async () => (await pod(oldPod)).status.containerStatuses?.[0]?.ready,
      180_000,
    );
  }),
);
