/**
 * What managedFields cost per write (issue 11: "no more than one extra pass over the object"), with
 * tracking on and off, alternating the two so drift hits both, in two views:
 * - the registry alone, in this process, on the embedded store (creates, merge patches, replaces): the
 *   field manager's own cost, as large as it can look;
 * - end to end: a standalone Widget server process (bench/managed-fields-server.ts) driven by the Go
 *   load generator over HTTPS (client-go creates, updates, merge patches), its CPU read from /proc:
 *   what a client sees.
 * Reports writes per second and CPU microseconds per write, and the ratios. Run with
 * `npm run bench:managed-fields`; results go to bench/results/<date>-managed-fields.{json,md}.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { buildLoadgen, LOADGEN, type LoadgenResult } from './loadgen';
import { cpuSeconds } from './proc';
import { WidgetRegistry, type WriteOptions } from '../src/widget-server/registry/widget-registry';
import { MemoryStorage } from '../src/widget-server/storage/memory';
import type { Widget } from '../src/widget-server/api/types';

const GROUP = 'custom.example.com';
const N = Number(process.env.BENCH_WRITES ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
/** End to end: objects created, then updates and patches sent, per round; workers. */
const E2E_OBJECTS = Number(process.env.BENCH_E2E_OBJECTS ?? 1500);
const E2E_WRITES = Number(process.env.BENCH_E2E_WRITES ?? 3000);
const E2E_CONCURRENCY = 8;
const opts: WriteOptions = { dryRun: false, fieldValidation: 'Strict', fieldManager: 'bench' };

const widget = (i: number) => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Widget',
  metadata: { name: `w-${i}`, labels: { app: 'bench', shard: String(i % 10) } },
  spec: { image: 'nginx:1.27', replicas: 1, color: 'blue' },
});

interface Rate {
  perSecond: number;
  cpuMicrosPerWrite: number;
}

async function measure(fn: (i: number) => Promise<unknown>): Promise<Rate> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < N; i++) await fn(i);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: N / seconds, cpuMicrosPerWrite: (used.user + used.system) / N };
}

async function round(track: boolean): Promise<Record<string, Rate>> {
  const registry = new WidgetRegistry(new MemoryStorage(), {
    identity: { group: GROUP, version: 'v1' },
    trackManagedFields: track,
  });
  const create = await measure((i) => registry.create('ns', widget(i), opts));
  const patch = await measure((i) =>
    registry.patch('ns', `w-${i}`, 'application/merge-patch+json', '{"spec":{"replicas":2}}', opts),
  );
  const current = await Promise.all(Array.from({ length: N }, (_, i) => registry.get('ns', `w-${i}`)));
  const update = await measure((i) => {
    const w = current[i] as Widget;
    return registry.update('ns', w.metadata.name!, { ...w, spec: { ...w.spec, color: 'red' } }, opts);
  });
  return { create, patch, update };
}

/** A Widget server process with tracking on or off; resolves once it serves. */
async function serve(mode: 'on' | 'off') {
  const dir = mkdtempSync(path.join(os.tmpdir(), `managed-fields-${mode}-`));
  const child = spawn(process.execPath, [path.join(__dirname, 'managed-fields-server.js'), dir, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`managed-fields-server exited ${code}`)));
  });
  const { kubeconfig } = JSON.parse(line) as { kubeconfig: string };
  return {
    pid: child.pid!,
    kubeconfig,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function loadgen(kubeconfig: string, namespace: string, flags: string[]): Promise<LoadgenResult> {
  const args = ['-kubeconfig', kubeconfig, '-group', GROUP, '-version', 'v1', '-resource', 'widgets'];
  args.push('-kind', 'Widget', '-namespace', namespace, '-concurrency', String(E2E_CONCURRENCY), ...flags);
  return new Promise((resolve, reject) =>
    execFile(LOADGEN, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`loadgen ${flags.join(' ')}: ${stderr || err.message}`));
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as LoadgenResult;
      if (result.errors) return reject(new Error(`loadgen ${flags.join(' ')}: ${result.firstError}`));
      resolve(result);
    }),
  );
}

/** One end-to-end round: creates, updates and merge patches against a fresh server. */
async function e2eRound(track: boolean): Promise<Record<string, Rate>> {
  const server = await serve(track ? 'on' : 'off');
  try {
    const out: Record<string, Rate> = {};
    const scenarios: Array<[string, string[]]> = [
      ['create', ['-scenario', 'create', '-objects', String(E2E_OBJECTS)]],
      ['update', ['-scenario', 'update', '-objects', String(E2E_OBJECTS), '-requests', String(E2E_WRITES)]],
      ['patch', ['-scenario', 'patch', '-objects', String(E2E_OBJECTS), '-requests', String(E2E_WRITES)]],
    ];
    for (const [verb, flags] of scenarios) {
      const before = cpuSeconds(server.pid);
      const result = await loadgen(server.kubeconfig, 'bench', flags);
      const cpu = cpuSeconds(server.pid) - before;
      out[verb] = { perSecond: result.throughput, cpuMicrosPerWrite: (cpu * 1e6) / result.requests };
    }
    return out;
  } finally {
    await server.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

type Runs = Record<'on' | 'off', Array<Record<string, Rate>>>;

/** Rounds of `run`, alternating which mode goes first. */
async function alternate(
  label: string,
  rounds: number,
  run: (track: boolean) => Promise<Record<string, Rate>>,
) {
  const runs: Runs = { on: [], off: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      runs[mode].push(await run(mode === 'on'));
      process.stderr.write(`[managed-fields] ${label} round ${r + 1}/${rounds} ${mode} done\n`);
    }
  }
  return runs;
}

function summarize(runs: Runs, verbs: string[]) {
  return verbs.map((verb) => {
    const stat = (mode: 'on' | 'off', key: keyof Rate) => median(runs[mode].map((run) => run[verb][key]));
    const on = { perSecond: stat('on', 'perSecond'), cpuMicrosPerWrite: stat('on', 'cpuMicrosPerWrite') };
    const off = { perSecond: stat('off', 'perSecond'), cpuMicrosPerWrite: stat('off', 'cpuMicrosPerWrite') };
    return {
      verb,
      on,
      off,
      rateRatio: on.perSecond / off.perSecond,
      cpuRatio: on.cpuMicrosPerWrite / off.cpuMicrosPerWrite,
    };
  });
}

function table(summary: ReturnType<typeof summarize>): string[] {
  return [
    '| write | writes/s without | writes/s with | rate with/without | CPU µs/write without | CPU µs/write with | CPU with/without |',
    '|---|---|---|---|---|---|---|',
    ...summary.map(
      (s) =>
        `| ${s.verb} | ${s.off.perSecond.toFixed(0)} | ${s.on.perSecond.toFixed(0)} | ${s.rateRatio.toFixed(2)}x | ${s.off.cpuMicrosPerWrite.toFixed(0)} | ${s.on.cpuMicrosPerWrite.toFixed(0)} | ${s.cpuRatio.toFixed(2)}x |`,
    ),
  ];
}

async function main() {
  buildLoadgen();
  await round(true); // warm-up: JIT and allocator, results dropped
  const registryRuns = await alternate('registry', ROUNDS, round);
  const e2eRounds = Math.max(3, Math.ceil(ROUNDS / 2) + 1);
  const e2eRuns = await alternate('end to end', e2eRounds, e2eRound);
  const registry = summarize(registryRuns, ['create', 'patch', 'update']);
  const endToEnd = summarize(e2eRuns, ['create', 'patch', 'update']);
  const machine = {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    node: process.version,
    writes: N,
    rounds: ROUNDS,
    e2e: { objects: E2E_OBJECTS, writes: E2E_WRITES, concurrency: E2E_CONCURRENCY, rounds: e2eRounds },
  };
  const day = new Date().toISOString().slice(0, 10);
  const dir = path.resolve(__dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `${day}-managed-fields.json`),
    JSON.stringify(
      { machine, registry, endToEnd, runs: { registry: registryRuns, endToEnd: e2eRuns } },
      null,
      2,
    ) + '\n',
  );
  const md = [
    `# managedFields cost per write (${day})`,
    '',
    `${machine.cpus} CPUs (${machine.model}), Node ${machine.node}. Medians of alternating rounds with tracking off and on.`,
    '',
    `## End to end: a Widget server process on the embedded store, client-go over HTTPS`,
    '',
    `The Go load generator (bench/loadgen), ${E2E_CONCURRENCY} workers: ${E2E_OBJECTS} creates, then ${E2E_WRITES} updates (PUT of a new spec.replicas) and ${E2E_WRITES} JSON merge patches, against a fresh server per round (${e2eRounds} rounds per mode). CPU is the server process's, from /proc.`,
    '',
    ...table(endToEnd),
    '',
    '## The registry alone, in process',
    '',
    `The Widget registry on the embedded store, no HTTP: ${N} writes per verb, ${ROUNDS} rounds per mode. The field manager's own cost, as large as it can look.`,
    '',
    ...table(registry),
    '',
  ].join('\n');
  writeFileSync(path.join(dir, `${day}-managed-fields.md`), md);
  process.stdout.write(md);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
