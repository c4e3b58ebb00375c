/**
 * Load and faults for bed tests of availability and durability (restarts.test.ts, durability.test.ts):
 * a writer whose workers each merge-patch an increasing sequence number into a Widget of their own,
 * through kube-apiserver; one watch resumed from its last resourceVersion whenever its stream ends, as a
 * client-go reflector does; and a fault window that reports what the writer saw (requests, failures by
 * code, the longest gap between acknowledged writes, the new pods' start-up).
 */
import { KubeApiError, type KubeRest, type WatchEvent } from '../../src/shared/kube/rest';
import { podNetworkConflicts } from './pod-network';
import { eventually, k } from './cluster';

export const SEQ = 'restarts.example.com/seq';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const json = async (args: string[]) => JSON.parse(await k([...args, '-o', 'json']));

export interface Pod {
  metadata: { name: string; uid: string; creationTimestamp: string; deletionTimestamp?: string };
  status: {
    conditions?: { type: string; status: string; lastTransitionTime: string }[];
    containerStatuses?: { restartCount: number; containerID?: string }[];
  };
}

const restarts = (p: Pod) => (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);

/** One AggregatedAPI under test: its names, and how to read its pods. */
export class Subject {
  readonly namespace: string;
  readonly selector: string;
  constructor(
    readonly name: string,
    readonly group: string,
  ) {
    this.namespace = name;
    this.selector = `app.kubernetes.io/instance=${name}`;
  }

  async pods(): Promise<Pod[]> {
    return (await json(['-n', this.namespace, 'get', 'pods', '-l', this.selector])).items;
  }

  /** Settled: `replicas` pods Ready, none terminating. Returns the pods. */
  async settled(replicas: number): Promise<Pod[]> {
    return eventually(
      `${this.name}: ${replicas} ready pods and none terminating`,
      async () => {
        const pods = await this.pods();
        const ready = pods.filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
        return pods.length === replicas && ready.length === replicas ? pods : undefined;
      },
      180_000,
    );
  }
}

export function isReady(p: Pod): boolean {
  return !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Seconds from a pod's creation to its Ready condition (kube's timestamps have second precision). */
export function startupSeconds(p: Pod): number {
  const ready = p.status.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
  return (Date.parse(ready!.lastTransitionTime) - Date.parse(p.metadata.creationTimestamp)) / 1000;
}

export interface Ack {
  name: string;
  seq: number;
  rv: string;
  at: number;
}

interface Written {
  metadata: { resourceVersion: string };
}

interface Failure {
  at: number;
  /** The write that failed: its Widget and the number it carried. */
  name: string;
  seq: number;
  code: string;
  message: string;
}

/** The writer: each worker creates its Widget, then merge-patches an increasing sequence number into it. */
export class Writer {
  readonly acks: Ack[] = [];
  readonly failures: Failure[] = [];
  private running = true;
  private workers: Promise<void>[] = [];

  constructor(
    private readonly rest: KubeRest,
    private readonly subject: Subject,
  ) {}

  private path(name?: string) {
    const base = `/apis/${this.subject.group}/v1/namespaces/${this.subject.namespace}/widgets`;
    return name ? `${base}/${name}` : base;
  }

  async start(workers: number): Promise<void> {
    for (let i = 0; i < workers; i++) {
      const name = `writer-${i}`;
      const created = await this.rest.request<Written>('POST', this.path(), { body: this.widget(name, 0) });
      this.acks.push({ name, seq: 0, rv: created.metadata.resourceVersion, at: Date.now() });
      this.workers.push(this.work(name));
    }
  }

  private widget(name: string, seq: number) {
    return {
      apiVersion: `${this.subject.group}/v1`,
      kind: 'Widget',
      metadata: { name, annotations: { [SEQ]: String(seq) } },
      // No pods: the Widget controller's Deployment for it stays at zero replicas.
      spec: { image: 'localhost/pause:bed', replicas: 0 },
    };
  }

  /**
   * Patches the next number in; a Widget found missing (the embedded store restarts empty) is created
   * again with it, and the 404 counts as a failure.
   */
  private async work(name: string): Promise<void> {
    let seq = 0;
    let exists = true;
    while (this.running) {
      seq++;
      try {
        const out = exists
          ? await this.rest.request<Written>('PATCH', this.path(name), {
              body: { metadata: { annotations: { [SEQ]: String(seq) } } },
              contentType: 'application/merge-patch+json',
              timeoutMs: 20_000,
            })
          : await this.rest.request<Written>('POST', this.path(), {
              body: this.widget(name, seq),
              timeoutMs: 20_000,
            });
        exists = true;
        this.acks.push({ name, seq, rv: out.metadata.resourceVersion, at: Date.now() });
      } catch (e) {
        const code =
          e instanceof KubeApiError ? String(e.code) : ((e as NodeJS.ErrnoException).code ?? 'error');
        if (code === '404') exists = false;
        this.failures.push({
          at: Date.now(),
          name,
          seq,
          code,
          message: (e as Error).message.trim().slice(0, 300),
        });
      }
      await sleep(80);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}

/**
 * One watch from the start, resumed from its last resourceVersion (events and bookmarks) whenever its
 * stream ends or breaks, as a client-go reflector does; 429 (a draining server) is retried after its
 * pause; 410 would mean a relist, which the test counts and expects not to need.
 */
export class Watcher {
  readonly seen = new Map<string, { name: string; seq: number }>();
  readonly outOfOrder: string[] = [];
  readonly interruptions: string[] = [];
  relists = 0;
  lastRv: string;
  private running = true;
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(
    private readonly rest: KubeRest,
    private readonly subject: Subject,
    fromRv: string,
  ) {
    this.lastRv = fromRv;
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const path = `/apis/${this.subject.group}/v1/namespaces/${this.subject.namespace}/widgets`;
    while (this.running) {
      try {
        await this.rest.watch(
          path,
          { resourceVersion: this.lastRv, allowWatchBookmarks: 'true', timeoutSeconds: '600' },
          (
            e: WatchEvent<{
              metadata: { name: string; resourceVersion: string; annotations?: Record<string, string> };
            }>,
          ) => this.onEvent(e),
          this.abort.signal,
        );
        if (this.running) this.interruptions.push(`${new Date().toISOString()} end of stream`);
      } catch (e) {
        if (!this.running) break;
        const err = e as KubeApiError;
        this.interruptions.push(`${new Date().toISOString()} ${err.code ?? ''} ${err.message.slice(0, 160)}`);
        if (err.code === 410) this.relists++;
        await sleep(err.code === 429 ? 1000 : 200);
      }
    }
  }

  private onEvent(
    e: WatchEvent<{
      metadata: { name: string; resourceVersion: string; annotations?: Record<string, string> };
    }>,
  ): void {
    if (e.type === 'ERROR') {
      const status = e.object as unknown as { code?: number; message?: string };
      throw new KubeApiError(status.code ?? 500, 'WatchError', status.message ?? 'watch error');
    }
    const rv = e.object.metadata.resourceVersion;
    if (Number(rv) < Number(this.lastRv) || (e.type !== 'BOOKMARK' && rv === this.lastRv)) {
      this.outOfOrder.push(`${e.type} ${e.object.metadata.name} at ${rv} after ${this.lastRv}`);
    }
    this.lastRv = rv;
    if (e.type === 'ADDED' || e.type === 'MODIFIED') {
      const seq = Number(e.object.metadata.annotations?.[SEQ]);
      this.seen.set(rv, { name: e.object.metadata.name, seq });
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
  }
}

export interface FaultReport {
  fault: string;
  requests: number;
  failures: Record<string, number>;
  /** The first few failures' messages, to say what failed. */
  samples: string[];
  longestGapMs: number;
  startupSeconds: number[];
  /** From the fault until the old pods were gone and the new ones Ready. */
  settledSeconds: number;
  /** The bed's pod network after the fault (pod-network.ts): a pod IP held twice, say. */
  networkProblems: string[];
}

/** Runs `inject`, waits until the server has settled, and reports what the writer saw in that window. */
export async function underFault(
  fault: string,
  subject: Subject,
  writer: Writer,
  replicas: number,
  inject: (pods: Pod[]) => Promise<string[]>,
  /** Steady load kept on after the new pods are in, within the fault's window. */
  steadyMs = 3000,
): Promise<FaultReport> {
  const current = await subject.pods();
  const before = new Map(current.map((p) => [p.metadata.name, p]));
  const from = Date.now();
  const firstAck = writer.acks.length;
  const firstFailure = writer.failures.length;
  const victims = await inject(current);
  const pods = await eventually(
    `${fault}: ${victims.join(', ')} replaced`,
    async () => {
      const now = await subject.settled(replicas);
      // A victim is done with once its pod is another (a StatefulSet's keeps its name) or its
      // container has restarted (a process killed in place).
      const pending = now.filter((p) => {
        const old = before.get(p.metadata.name);
        return (
          victims.includes(p.metadata.name) &&
          old?.metadata.uid === p.metadata.uid &&
          restarts(p) <= restarts(old)
        );
      });
      return pending.length ? undefined : now;
    },
    180_000,
  );
  // The old pods are gone (they exited well inside their grace period) and the new ones are Ready.
  const settledSeconds = Math.round((Date.now() - from) / 100) / 10;
  // Some steady load after the new pods are in, so that a late fault (a replica that turns unready
  // again, a proxy still sending to the old pod) is seen in this window too.
  await sleep(steadyMs);
  const to = Date.now();
  const acks = writer.acks.slice(firstAck).map((a) => a.at);
  let longestGapMs = 0;
  let previous = from;
  for (const at of [...acks, to]) {
    longestGapMs = Math.max(longestGapMs, at - previous);
    previous = at;
  }
  const failures: Record<string, number> = {};
  const failed = writer.failures.slice(firstFailure);
  for (const f of failed) failures[f.code] = (failures[f.code] ?? 0) + 1;
  const fresh = pods.filter((p) => before.get(p.metadata.name)?.metadata.uid !== p.metadata.uid);
  return {
    fault,
    requests: acks.length + writer.failures.length - firstFailure,
    failures,
    samples: failed.slice(0, 3).map((f) => `${new Date(f.at).toISOString()} ${f.message}`),
    longestGapMs,
    startupSeconds: fresh.map(startupSeconds),
    settledSeconds,
    networkProblems: await podNetworkConflicts(),
  };
}

export function print(title: string, reports: FaultReport[]): void {
  const lines = reports.map(
    (r) =>
      `  ${r.fault.padEnd(18)} requests ${String(r.requests).padStart(4)}  failed ${JSON.stringify(r.failures)}  ` +
      `longest gap ${r.longestGapMs} ms  new pods ready after ${r.startupSeconds.join(', ')} s  ` +
      `settled after ${r.settledSeconds} s` +
      r.samples.map((m) => `\n      ${m}`).join(''),
  );
  process.stderr.write(`${title}\n${lines.join('\n')}\n`);
}
