/**
 * What managedFields cost per write (issue 11: "no more than one extra pass over the object"): the
 * Widget registry on the embedded store, in this process, creating, merge-patching and replacing
 * widgets with managedFields tracked and with tracking off, alternating the two so drift hits both.
 * Reports writes per second and CPU microseconds per write, and the ratio. Run with
 * `npm run bench:managed-fields`; results go to bench/results/<date>-managed-fields.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WidgetRegistry, type WriteOptions } from '../src/widget-server/registry/widget-registry';
import { MemoryStorage } from '../src/widget-server/storage/memory';
import type { Widget } from '../src/widget-server/api/types';

const GROUP = 'custom.example.com';
const N = Number(process.env.BENCH_WRITES ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  await round(true); // warm-up: JIT and allocator, results dropped
  const runs: Record<'on' | 'off', Array<Record<string, Rate>>> = { on: [], off: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of r % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      runs[mode].push(await round(mode === 'on'));
      process.stderr.write(`[managed-fields] round ${r + 1}/${ROUNDS} ${mode} done\n`);
    }
  }
  const verbs = ['create', 'patch', 'update'];
  const summary = verbs.map((verb) => {
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
  const machine = {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    node: process.version,
    writes: N,
    rounds: ROUNDS,
  };
  const day = new Date().toISOString().slice(0, 10);
  const dir = path.resolve(__dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `${day}-managed-fields.json`),
    JSON.stringify({ machine, summary, runs }, null, 2) + '\n',
  );
  const rows = summary.map(
    (s) =>
      `| ${s.verb} | ${s.off.perSecond.toFixed(0)} | ${s.on.perSecond.toFixed(0)} | ${s.rateRatio.toFixed(2)}x | ${s.off.cpuMicrosPerWrite.toFixed(0)} | ${s.on.cpuMicrosPerWrite.toFixed(0)} | ${s.cpuRatio.toFixed(2)}x |`,
  );
  const md = [
    `# managedFields cost per write (${day})`,
    '',
    `Widget registry on the embedded store, in process; ${N} writes per verb, median of ${ROUNDS} alternating rounds; ${machine.cpus} CPUs (${machine.model}), Node ${machine.node}.`,
    '',
    '| write | writes/s without | writes/s with | rate with/without | CPU µs/write without | CPU µs/write with | CPU with/without |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  writeFileSync(path.join(dir, `${day}-managed-fields.md`), md);
  process.stdout.write(md);
}

void main();
