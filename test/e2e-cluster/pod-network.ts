/**
 * A check of the bed's pod network: no IP is held by two network namespaces on the node, and every
 * running pod's IP is held by one.
 *
 * Why: a pod network namespace that outlives its pod (left by an earlier bed whose shims were not ended,
 * or by a sandbox whose teardown failed) keeps its IP and its veth on the cni0 bridge after the IPAM has
 * released that IP. When a new pod gets the IP, the node's neighbour entry for it points at whichever
 * namespace answered ARP first. While it points at the stale one, kubelet's probes and the replies to the
 * new pod's own connections (its watch to kube-apiserver) go there. The pod is then unreachable from the
 * node for a neighbour-entry lifetime (15 to 45 s), and nothing is logged but probe failures. That is the
 * fault seen during rollouts in issue 15. cluster.sh removes such namespaces before containerd starts
 * (node.sh remove_pod_netns); this check makes any that exist while the bed runs a failure that names
 * them.
 *
 * Namespaces are found both as containerd's bind mounts (/run/netns/cni-*) and as the namespaces of
 * running processes (a stale sandbox's pause process, or anything else). The check never creates a
 * namespace with `ip netns add`: on a host where /run/netns is not yet a mount point, that command
 * bind-mounts the directory over itself, which hides containerd's mounts there. containerd then cannot
 * remove a stopped sandbox's namespace ("unlinkat ... device or resource busy"), and the pod stays
 * Terminating. This was seen on the bed while the fault was being reproduced.
 */
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { k } from './cluster';

const run = promisify(execFile);

/** Each network namespace other than the host's, by a name, with its IPv4 addresses (loopback aside). */
export async function namespaceAddresses(): Promise<Map<string, string[]>> {
  const hostNet = statSync('/proc/self/ns/net').ino;
  const handles = new Map<number, { name: string; path: string }>();
  const consider = (name: string, path: string) => {
    try {
      const ino = statSync(path).ino;
      if (ino !== hostNet && !handles.has(ino)) handles.set(ino, { name, path });
    } catch {
      // gone meanwhile, or not a namespace (a file left after its mount went)
    }
  };
  let mounted: string[] = [];
  try {
    mounted = readdirSync('/run/netns').filter((n) => n.startsWith('cni-'));
  } catch {
    // no pod has run yet
  }
  for (const name of mounted) consider(name, `/run/netns/${name}`);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    consider(`the namespace of pid ${pid}`, `/proc/${pid}/ns/net`);
  }
  const out = new Map<string, string[]>();
  for (const { name, path } of handles.values()) {
    const shown = await run('nsenter', [`--net=${path}`, 'ip', '-json', '-4', 'addr', 'show']).catch(
      () => undefined,
    );
    if (!shown) continue;
    const links = JSON.parse(shown.stdout) as { ifname: string; addr_info: { local: string }[] }[];
    const ips = links.filter((l) => l.ifname !== 'lo').flatMap((l) => l.addr_info.map((a) => a.local));
    if (ips.length) out.set(name, ips);
  }
  return out;
}

/** What is wrong with the pod network now; empty when all is well. */
export async function podNetworkConflicts(): Promise<string[]> {
  const holders = new Map<string, string[]>();
  for (const [ns, ips] of await namespaceAddresses()) {
    for (const ip of ips) holders.set(ip, [...(holders.get(ip) ?? []), ns]);
  }
  const problems: string[] = [];
  for (const [ip, namespaces] of holders) {
    if (namespaces.length > 1) {
      problems.push(`${ip} is held by ${namespaces.length} network namespaces: ${namespaces.join('; ')}`);
    }
  }
  const pods = JSON.parse(await k(['get', 'pods', '-A', '-o', 'json'])).items as {
    metadata: { namespace: string; name: string; deletionTimestamp?: string };
    spec: { hostNetwork?: boolean };
    status: { phase: string; podIP?: string };
  }[];
  for (const p of pods) {
    const settled = p.status.phase === 'Running' && !p.metadata.deletionTimestamp;
    if (p.spec.hostNetwork || !settled || !p.status.podIP) continue;
    if (!holders.has(p.status.podIP)) {
      problems.push(
        `pod ${p.metadata.namespace}/${p.metadata.name} has IP ${p.status.podIP}, held by no network namespace`,
      );
    }
  }
  return problems;
}
