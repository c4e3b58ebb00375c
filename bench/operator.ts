/**
 * The operator's part of the bench (issue 9): apply -> Ready for N AggregatedAPIs applied at once, and
 * the RSS and CPU at rest of each operator replica on the bed. It measures the operator installed on the
 * bed as it is (config/local); when none is installed the run says so and skips this part. Every
 * AggregatedAPI and namespace it creates is deleted before it returns, the AggregatedAPIs first so that
 * no unavailable APIService is left behind (one blocks namespace deletion cluster-wide).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { k } from './kube';
import { cpuSeconds, rssMiB } from './proc';

const NS = 'aggregator-operator-system';

export interface OperatorResult {
  image: string;
  replicas: { pod: string; rssMiB: number; cpuAtRestMillicores: number }[];
  applyToReady: { apis: number; p50Seconds: number; maxSeconds: number; notReady: number }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Host pids of the operator's containers: processes in a pod's cgroup running dist/operator/main.js. */
function operatorPids(podUids: Map<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmd.includes('dist/operator/main.js')) continue;
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
      for (const [uid, pod] of podUids) {
        if (cgroup.includes(uid) || cgroup.includes(uid.replace(/-/g, '_'))) out.set(pod, Number(entry));
      }
    } catch {
      // The process ended while being read.
    }
  }
  return out;
}

async function operatorPods(): Promise<{ image: string; pids: Map<string, number> } | undefined> {
  let pods;
  try {
    pods = JSON.parse(await k(['-n', NS, 'get', 'pods', '-o', 'json'])) as {
      items: {
        metadata: { name: string; uid: string };
        status: { phase: string; containerStatuses?: { imageID: string; image: string }[] };
      }[];
    };
  } catch {
    return undefined;
  }
  const running = pods.items.filter((p) => p.status.phase === 'Running');
  if (!running.length) return undefined;
  const uids = new Map(running.map((p) => [p.metadata.uid, p.metadata.name]));
  const cs = running[0].status.containerStatuses?.[0];
  return { image: cs ? `${cs.image} (${cs.imageID})` : '?', pids: operatorPids(uids) };
}

/** Applies `count` AggregatedAPIs at once and returns each one's seconds from apply to Ready=True. */
async function applyToReady(suffix: string, count: number, log: (l: string) => void): Promise<number[]> {
  const label = `bench-op-${suffix}-${count}`;
  const names = Array.from({ length: count }, (_, i) => `${label}-${i}`);
  const objects = names.flatMap((name) => [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'bench.example.com/run': label } } },
    {
      apiVersion: 'aggregation.example.com/v1alpha1',
      kind: 'AggregatedAPI',
      metadata: { name, labels: { 'bench.example.com/run': label } },
      spec: {
        group: `${name}.bench.example.com`,
        versions: [{ name: 'v1', groupPriorityMinimum: 1000, versionPriority: 15 }],
        namespace: name,
        replicas: 1,
        storage: { embedded: {} },
      },
    },
  ]);
  const ready = new Map<string, number>();
  const t0 = Date.now();
  try {
    await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    const deadline = t0 + 5 * 60_000;
    while (ready.size < count && Date.now() < deadline) {
      const list = JSON.parse(
        await k(['get', 'aggregatedapis', '-l', `bench.example.com/run=${label}`, '-o', 'json']),
      ) as {
        items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
      };
      const now = Date.now();
      for (const api of list.items) {
        const isReady = api.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        if (isReady && !ready.has(api.metadata.name)) ready.set(api.metadata.name, (now - t0) / 1000);
      }
      if (ready.size < count) await sleep(300);
    }
    log(
      `operator: ${ready.size} of ${count} AggregatedAPIs Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    return [...ready.values()].concat(Array(count - ready.size).fill(Infinity));
  } finally {
    await k([
      'delete',
      'aggregatedapis',
      '-l',
      `bench.example.com/run=${label}`,
      '--ignore-not-found',
      '--timeout=120s',
    ]).catch((e: Error) => log(`operator: deleting the AggregatedAPIs failed: ${e.message.split('\n')[0]}`));
    await k([
      'delete',
      'namespaces',
      '-l',
      `bench.example.com/run=${label}`,
      '--ignore-not-found',
      '--wait=false',
    ]).catch((e: Error) => log(`operator: deleting the namespaces failed: ${e.message.split('\n')[0]}`));
  }
}

export async function benchOperator(
  suffix: string,
  counts: number[],
  log: (l: string) => void,
): Promise<OperatorResult | undefined> {
  const found = await operatorPods();
  if (!found || !found.pids.size) {
    log('operator: not installed on the bed (kubectl apply -k config/local): skipped');
    return undefined;
  }
  // CPU at rest over 10 s, before any AggregatedAPI is applied.
  const before = new Map([...found.pids].map(([pod, pid]) => [pod, cpuSeconds(pid)]));
  await sleep(10_000);
  const replicas = [...found.pids].map(([pod, pid]) => ({
    pod,
    rssMiB: rssMiB(pid),
    cpuAtRestMillicores: Math.round(((cpuSeconds(pid) - before.get(pod)!) / 10) * 1000),
  }));
  const result: OperatorResult = { image: found.image, replicas, applyToReady: [] };
  for (const count of counts) {
    const seconds = (await applyToReady(suffix, count, log)).sort((a, b) => a - b);
    const done = seconds.filter(Number.isFinite);
    result.applyToReady.push({
      apis: count,
      p50Seconds: Math.round(seconds[Math.floor((seconds.length - 1) / 2)] * 10) / 10,
      maxSeconds: done.length ? Math.round(done[done.length - 1] * 10) / 10 : NaN,
      notReady: count - done.length,
    });
  }
  return result;
}
