/**
 * Runs the Go load generator (bench/loadgen, one scenario per invocation, bench-contract.md) against a
 * target and wraps its JSON result with what the orchestrator measures around it: CPU seconds of the
 * Widget server process and of kube-apiserver, per 1000 requests.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { root } from './kube';
import { cpuSeconds } from './proc';
import type { Bed, Target } from './targets';
import { KIND, RESOURCE } from '../src/widget-server/api/types';

export const LOADGEN = path.join(root, 'bench/loadgen/build/loadgen');
const BUILD = path.join(root, 'bench/loadgen/build.sh');

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** The load generator's stdout (bench-contract.md); fields beyond the contract are kept as they come. */
export interface LoadgenResult {
  scenario: string;
  target: string;
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  throughput: number;
  latencyMs: Latency;
  clientCpuSeconds: number;
  clientCpuUtilization: number;
  concurrency: number;
  [more: string]: unknown;
}

export interface Measurement {
  target: string;
  /** The row this measurement belongs to in the report, e.g. "get", "list 10000 paged 500", "watch 100". */
  case: string;
  flags: Record<string, string | number>;
  result?: LoadgenResult;
  error?: string;
  cpuSeconds: { widgetServer?: number; kubeApiserver: number };
  cpuSecondsPer1000: { widgetServer?: number; kubeApiserver: number };
}

/** Builds the load generator (bench/loadgen/build.sh; pinned and cached, quick when up to date). */
export function buildLoadgen(): void {
  if (!existsSync(BUILD)) throw new Error(`${BUILD} does not exist yet: the load generator is not available`);
  const result = spawnSync('bash', [BUILD], {
    cwd: root,
    stdio: ['ignore', process.stderr.fd, process.stderr.fd],
    timeout: 15 * 60 * 1000,
  });
  if (result.status !== 0) throw new Error(`bench/loadgen/build.sh failed (status ${result.status})`);
  if (!existsSync(LOADGEN)) throw new Error(`bench/loadgen/build.sh did not produce ${LOADGEN}`);
}

function exec(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(LOADGEN, args, { maxBuffer: 16 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && !stdout ? err.message : '') });
    });
  });
}

/** The load generator's flags for `target`, then the scenario's. */
export function loadgenArgs(target: Target, flags: Record<string, string | number | boolean>): string[] {
  const args =
    target.name === 'etcd'
      ? ['-etcd-endpoint', 'http://127.0.0.1:23790', '-etcd-prefix', target.namespace]
      : [
          ...target.connection,
          '-group',
          target.group,
          '-version',
          'v1',
          '-resource',
          RESOURCE,
          '-kind',
          KIND,
          '-namespace',
          target.namespace,
        ];
  args.push('-label', target.name);
  for (const [flag, value] of Object.entries(flags)) {
    if (value === false) continue;
    args.push(value === true ? `-${flag}` : `-${flag}=${value}`);
  }
  return args;
}

/** Creates `objects` objects (or etcd keys) without measuring, or with `cleanup` deletes them all. */
export async function prepare(
  target: Target,
  flags: Record<string, string | number | boolean>,
): Promise<void> {
  const { code, stderr } = await exec(loadgenArgs(target, flags), 30 * 60 * 1000);
  if (code !== 0) {
    throw new Error(
      `loadgen ${Object.keys(flags).join(' ')} on ${target.name} failed (${code}): ${stderr.trim()}`,
    );
  }
}

/** One measured scenario: CPU of the serving processes is read from /proc just before and after. */
export async function measure(
  bed: Bed,
  target: Target,
  testCase: string,
  flags: Record<string, string | number>,
): Promise<Measurement> {
  const widgetPid = target.serverPid;
  const before = {
    widget: widgetPid ? cpuSeconds(widgetPid) : undefined,
    kube: cpuSeconds(bed.kubeApiserverPid),
  };
  const { code, stdout, stderr } = await exec(loadgenArgs(target, flags), 30 * 60 * 1000);
  const cpu = {
    widgetServer: widgetPid ? cpuSeconds(widgetPid) - before.widget! : undefined,
    kubeApiserver: cpuSeconds(bed.kubeApiserverPid) - before.kube,
  };
  const m: Measurement = {
    target: target.name,
    case: testCase,
    flags,
    cpuSeconds: round(cpu),
    cpuSecondsPer1000: { kubeApiserver: 0 },
  };
  if (code !== 0) {
    m.error = `loadgen exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
    return m;
  }
  try {
    m.result = JSON.parse(stdout.trim().split('\n').pop()!) as LoadgenResult;
  } catch {
    m.error = `loadgen printed no JSON result: ${stdout.slice(0, 200)}`;
    return m;
  }
  const per = m.result.requests > 0 ? 1000 / m.result.requests : 0;
  m.cpuSecondsPer1000 = round({
    widgetServer: cpu.widgetServer === undefined ? undefined : cpu.widgetServer * per,
    kubeApiserver: cpu.kubeApiserver * per,
  });
  return m;
}

function round<T extends Record<string, number | undefined>>(o: T): T {
  return Object.fromEntries(
    Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .map(([key, v]) => [key, Math.round(v! * 1000) / 1000]),
  ) as T;
}
