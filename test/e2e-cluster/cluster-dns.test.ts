/**
 * The bed's cluster DNS (test/cluster/coredns.yaml, CoreDNS behind kube-system/kube-dns at 10.96.0.10): a
 * pod with the default dnsPolicy gets it as nameserver with the cluster.local search list, and resolves
 * the `kubernetes` Service by its full name, a Service of its own namespace by its short name, and a
 * StatefulSet member behind a headless Service by `<pod>.<svc>.<ns>.svc.cluster.local` and by the shorter
 * `<pod>.<svc>.<ns>.svc`, as the etcd StatefulSet's members name each other.
 */
import { randomBytes } from 'node:crypto';
import { ensureClusterUp, eventually, k, withLogTails } from './cluster';

jest.setTimeout(3 * 60 * 1000);

const ns = `dns-${randomBytes(3).toString('hex')}`;
const BUSYBOX_IMAGE = 'localhost/busybox:bed';
const DNS_IP = '10.96.0.10';

/** A busybox container that only sleeps, as user 65532. */
const sleeper = {
  name: 'main',
  image: BUSYBOX_IMAGE,
  imagePullPolicy: 'Never',
  command: ['sleep', '3600'],
  securityContext: {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  },
};

const get = async (args: string[], jsonpath: string) =>
  (await k(['-n', ns, 'get', ...args, '-o', `jsonpath=${jsonpath}`])).trim();

const inClient = (script: string) => k(['-n', ns, 'exec', 'client', '--', 'sh', '-c', script]);

/**
 * The A records the cluster DNS answers for the absolute name `fqdn`, asked by busybox's nslookup in the
 * client pod (which sends a name with dots as it is, and exits 1 when any query it sent failed).
 */
const records = async (fqdn: string): Promise<string[]> => {
  const out = await inClient(`nslookup -type=a ${fqdn} 2>&1; true`);
  return [...out.matchAll(/^Name:\s*(\S+)\nAddress:\s*(\S+)$/gm)]
    .filter((m) => m[1] === fqdn)
    .map((m) => m[2])
    .sort();
};

/**
 * The address the client pod's C library resolves `name` to, as programs in a pod resolve: through its
 * resolv.conf's search list and ndots. busybox's ping prints it first ("PING name (ip): ..."); its one
 * echo request goes to a local address and gets an answer or a reject, or times out after a second.
 */
const resolved = async (name: string): Promise<string> => {
  const out = await inClient(`ping -c 1 -W 1 ${name} 2>&1; true`);
  const m = /^PING (\S+) \(([\d.]+)\)/m.exec(out);
  if (!m) throw new Error(`${name} did not resolve: ${out.trim()}`);
  return m[2];
};

/** Polls until `check` holds: a new Service or member may need its EndpointSlice first. */
const soon = (what: string, check: () => Promise<unknown>, expected: unknown) =>
  eventually(
    what,
    async () => {
      const got = await check();
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        throw new Error(`${what}: got ${JSON.stringify(got)}`);
      }
      return true;
    },
    30000,
  );

beforeAll(async () => {
  ensureClusterUp();
  await k(['create', 'namespace', ns]);
});

afterAll(async () => {
  await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

test(
  'pods resolve Services and headless StatefulSet members through the cluster DNS',
  withLogTails(async () => {
    expect(
      await k(['-n', 'kube-system', 'get', 'service', 'kube-dns', '-o', 'jsonpath={.spec.clusterIP}']),
    ).toBe(DNS_IP);

    // A headless Service `web` governing a StatefulSet of one, and a plain ClusterIP Service `front`
    // before the same pods; a client pod with the default dnsPolicy (ClusterFirst).
    const objects = [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: ns },
        spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'front', namespace: ns },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'web', namespace: ns },
        spec: {
          serviceName: 'web',
          replicas: 1,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { terminationGracePeriodSeconds: 0, containers: [sleeper] },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client', namespace: ns },
        spec: {
          terminationGracePeriodSeconds: 0,
          // busybox's ping needs a raw socket: root (the image's user) with NET_RAW and nothing else.
          containers: [
            {
              ...sleeper,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'], add: ['NET_RAW'] },
              },
            },
          ],
        },
      },
    ];
    await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    await k(['-n', ns, 'wait', '--for=condition=Ready', 'pod/client', 'pod/web-0', '--timeout=90s']);

    // The kubelet's clusterDNS and clusterDomain in the client's resolv.conf.
    const resolvConf = await k(['-n', ns, 'exec', 'client', '--', 'cat', '/etc/resolv.conf']);
    expect(resolvConf).toMatch(new RegExp(`^nameserver ${DNS_IP.replace(/\./g, '\\.')}$`, 'm'));
    expect(resolvConf).toMatch(
      new RegExp(`^search ${ns}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local\\b`, 'm'),
    );

    const webIP = await get(['pod', 'web-0'], '{.status.podIP}');
    const frontIP = await get(['service', 'front'], '{.spec.clusterIP}');
    // What the cluster DNS answers for the full names.
    const answers = {
      'kubernetes.default.svc.cluster.local': ['10.96.0.1'],
      [`front.${ns}.svc.cluster.local`]: [frontIP],
      [`web-0.web.${ns}.svc.cluster.local`]: [webIP],
      // A headless Service's own name answers with its ready members.
      [`web.${ns}.svc.cluster.local`]: [webIP],
    };
    for (const [fqdn, ips] of Object.entries(answers)) {
      await soon(`the cluster DNS to answer ${fqdn} with ${ips.join(', ')}`, () => records(fqdn), ips);
    }

    // What programs in the pod resolve, short names through the search list included.
    const names = {
      'kubernetes.default': '10.96.0.1',
      'kubernetes.default.svc.cluster.local': '10.96.0.1',
      front: frontIP,
      'web-0.web': webIP,
      [`web-0.web.${ns}.svc`]: webIP,
      [`web-0.web.${ns}.svc.cluster.local`]: webIP,
    };
    for (const [name, ip] of Object.entries(names)) {
      await soon(`${name} to resolve to ${ip} in the pod`, () => resolved(name), ip);
    }
  }),
);
