/**
 * `npm run bench [-- --quick]`: the benchmark orchestrator of issue 9. It brings the bed up, sets up the
 * targets (targets.ts: the Widget server on the bed's etcd, direct and through kube-apiserver's
 * aggregator, its CRD twin, raw etcd, and the Widget server on its embedded store), runs every scenario
 * against each with the Go load generator (bench/loadgen, one scenario per invocation), measures the
 * servers' CPU and RSS itself from /proc, times the installed operator's apply -> Ready (operator.ts),
 * writes bench/results/<UTC date>-<mode>.{json,md,svg}, and always tears down what it set up.
 *
 * Toolchain: plain tsc. package.json's "bench" script compiles the server (tsconfig.build.json, into
 * dist/, which the Widget server processes run from) and this folder (tsconfig.bench.json, into
 * dist-bench/), then runs dist-bench/bench/main.js with node. No new dependency.
 *
 * Flags: --quick (tiny counts, one concurrency level, about 2.5 minutes on a warm bed), --targets a,b
 * (a subset of crd, widget-aggregated, widget-direct, widget-embedded, etcd, operator; written to its own
 * results files), --setup-only (set up, read RSS, tear down: no load generator needed, nothing written),
 * --profile DIR (the Widget server processes write V8 CPU profiles to DIR when they stop), --cases a,b
 * (a subset of verbs: create, get, update, patch and delete together, as each needs the one before;
 * watch; list; rss; written to its own results files; the operator target has no cases).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildLoadgen, measure, prepare, type Measurement } from './loadgen';
import { ensureBedUp, k, root } from './kube';
import { describeMachine, rssMiB } from './proc';
import { benchOperator } from './operator';
import { markdownReport, svgPlot, type BenchResults, type RssPoint } from './report';
import { etcdVersion, setUpBed, tearDownBed, type Bed, type Target } from './targets';

interface Settings {
  /** Objects created, read, updated, patched and deleted by the per-verb cases. */
  objects: number;
  createConcurrency: number[];
  getConcurrency: number[];
  /** Workers for update, patch, delete and for loading data. */
  concurrency: number;
  /** Requests per get/update/patch case. */
  requests: number;
  listSizes: number[];
  page: number;
  lists: number;
  /** Widgets loaded before reading RSS (targets widget-direct, widget-embedded, crd). */
  rssSizes: number[];
  /** How long the processes idle after a load before RSS is read again "at rest". */
  rssRestMs: number;
  watchers: number[];
  events: number;
  /** AggregatedAPIs applied at once for the operator's apply -> Ready. */
  operatorApis: number[];
  /** Which groups of cases run (--cases); all when absent. */
  cases?: Case[];
}

const CASES = ['verbs', 'watch', 'list', 'rss'] as const;
type Case = (typeof CASES)[number];
const wants = (s: Settings, c: Case) => !s.cases || s.cases.includes(c);

const MODES: Record<'quick' | 'full', Settings> = {
  quick: {
    objects: 200,
    createConcurrency: [4],
    getConcurrency: [4],
    concurrency: 4,
    requests: 400,
    listSizes: [200],
    page: 100,
    lists: 5,
    // Exercises the RSS path; 10k took a third of CI's quick run (the full run measures 10k and 100k).
    rssSizes: [2000],
    // Exercises the path only: V8 returns a load's garbage after about 10 to 30 s idle.
    rssRestMs: 2_000,
    watchers: [10],
    events: 20,
    operatorApis: [1],
  },
  full: {
    objects: 2000,
    createConcurrency: [1, 4, 16, 64],
    getConcurrency: [1, 4, 16, 64],
    concurrency: 16,
    requests: 5000,
    listSizes: [1000, 10000],
    page: 500,
    lists: 20,
    rssSizes: [10000, 100000],
    rssRestMs: 30_000,
    watchers: [100, 1000],
    events: 100,
    operatorApis: [1, 20],
  },
};

const started = Date.now();
let interrupted: string | undefined;

/** Every case and preparation starts here: an interrupted run stops at the next one. */
function checkInterrupted(): void {
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
}

function prep(...args: Parameters<typeof prepare>): Promise<void> {
  checkInterrupted();
  return prepare(...args);
}
function log(line: string): void {
  process.stderr.write(`[bench +${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
}

function summary(m: Measurement): string {
  if (!m.result) return `FAILED ${m.error}`;
  const r = m.result;
  return (
    `${r.throughput.toFixed(0)}/s p50 ${r.latencyMs.p50.toFixed(2)} ms p99 ${r.latencyMs.p99.toFixed(2)} ms` +
    `${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}, client CPU ${r.clientCpuUtilization.toFixed(2)}`
  );
}

function readRss(bed: Bed, target: Target, point: string): RssPoint {
  return {
    target: target.name,
    point,
    widgetServerMiB: target.serverPid ? rssMiB(target.serverPid) : undefined,
    kubeApiserverMiB: rssMiB(bed.kubeApiserverPid),
  };
}

/**
 * RSS after the processes have been idle for `waitMs` following a load. Right after a load both runtimes
 * hold garbage they have not returned yet: V8's memory reducer collects and shrinks the heap only once
 * allocation has stopped for several seconds (then up to three rounds), Go's scavenger returns memory
 * over a similar time. The figure just after the load is what a memory limit must allow; this one is
 * what the stored objects cost. Both are reported, each with its wait in its label.
 */
async function readRssAtRest(bed: Bed, target: Target, size: number, waitMs: number): Promise<RssPoint> {
  await new Promise((r) => setTimeout(r, waitMs));
  return readRss(bed, target, `${size} widgets, idle ${Math.round(waitMs / 1000)} s after loading`);
}

/** Every case against one Kubernetes-API target (all but etcd). */
async function runApiTarget(bed: Bed, t: Target, s: Settings, out: BenchResults): Promise<void> {
  const run = async (testCase: string, flags: Record<string, string | number>) => {
    checkInterrupted();
    const m = await measure(bed, t, testCase, flags);
    out.measurements.push(m);
    log(`${t.name} ${testCase}: ${summary(m)}`);
  };
  const cleanup = () => prep(t, { scenario: 'create', cleanup: true, concurrency: s.concurrency });
  await cleanup();
  // Unmeasured warm-up: a CRD's first writes wait for its storage to start (p99 of seconds otherwise),
  // and every server's first requests fill its caches (authorization, connections).
  await prep(t, { scenario: 'create', 'setup-only': true, objects: 20, concurrency: s.concurrency });
  await cleanup();
  if (wants(s, 'verbs')) {
    for (const [i, c] of s.createConcurrency.entries()) {
      if (i > 0) await cleanup();
      await run(`create c=${c}`, { scenario: 'create', objects: s.objects, concurrency: c });
    }
    for (const c of s.getConcurrency) {
      await run(`get c=${c}`, { scenario: 'get', objects: s.objects, requests: s.requests, concurrency: c });
    }
    for (const verb of ['update', 'patch']) {
      await run(verb, {
        scenario: verb,
        objects: s.objects,
        requests: s.requests,
        concurrency: s.concurrency,
      });
    }
    await run('delete', { scenario: 'delete', objects: s.objects, concurrency: s.concurrency });
  }
  for (const w of wants(s, 'watch') ? s.watchers : []) {
    await run(`watch ${w}`, { scenario: 'watch', objects: 1, watchers: w, events: s.events, concurrency: 1 });
    await cleanup();
  }

  // The aggregated target shares the direct target's server and storage: its RSS is the direct one's.
  const rssSizes = t.name === 'widget-aggregated' || !wants(s, 'rss') ? [] : s.rssSizes;
  const listSizes = wants(s, 'list') ? s.listSizes : [];
  const loads = [...new Set([...listSizes, ...rssSizes])].sort((a, b) => a - b);
  for (const size of loads) {
    await cleanup();
    const t0 = Date.now();
    await prep(t, { scenario: 'create', 'setup-only': true, objects: size, concurrency: 16 });
    log(`${t.name}: loaded ${size} widgets in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (listSizes.includes(size)) {
      await run(`list ${size} full`, {
        scenario: 'list',
        objects: size,
        page: 0,
        lists: s.lists,
        concurrency: 1,
      });
      await run(`list ${size} paged ${s.page}`, {
        scenario: 'list',
        objects: size,
        page: s.page,
        lists: s.lists,
        concurrency: 1,
      });
    }
    if (rssSizes.includes(size)) {
      for (const p of [
        readRss(bed, t, `${size} widgets, just loaded`),
        await readRssAtRest(bed, t, size, s.rssRestMs),
      ]) {
        out.rss.push(p);
        log(
          `${t.name}: RSS with ${p.point}: server ${p.widgetServerMiB ?? '–'} MiB, kube-apiserver ${p.kubeApiserverMiB} MiB`,
        );
      }
    }
  }
  // The largest load stays: deleting 10k objects one by one takes longer than the cases. Teardown drops
  // it with the namespaces, the CRD, the Widget server's etcd prefix and the embedded server. Only the
  // aggregated target's objects would be seen by the next target (the direct one, same server).
  if (t.name === 'widget-aggregated') await cleanup();
}

/** The floor: raw etcd puts as "create" and ranges as "get" and "list". */
async function runEtcd(bed: Bed, t: Target, s: Settings, out: BenchResults): Promise<void> {
  const run = async (testCase: string, flags: Record<string, string | number>) => {
    checkInterrupted();
    const m = await measure(bed, t, testCase, flags);
    out.measurements.push(m);
    log(`etcd ${testCase}: ${summary(m)}`);
  };
  const cleanup = () => prep(t, { scenario: 'etcd-put', cleanup: true });
  await cleanup();
  const verbs = wants(s, 'verbs');
  for (const c of verbs ? s.createConcurrency : []) {
    await run(`create c=${c}`, {
      scenario: 'etcd-put',
      objects: s.objects,
      requests: s.objects,
      concurrency: c,
    });
  }
  await cleanup();
  if (verbs) await prep(t, { scenario: 'etcd-put', 'setup-only': true, objects: s.objects, concurrency: 16 });
  for (const c of verbs ? s.getConcurrency : []) {
    await run(`get c=${c}`, {
      scenario: 'etcd-range',
      objects: s.objects,
      requests: s.requests,
      concurrency: c,
    });
  }
  for (const size of wants(s, 'list') ? s.listSizes : []) {
    await cleanup();
    await prep(t, { scenario: 'etcd-put', 'setup-only': true, objects: size, concurrency: 16 });
    await run(`list ${size} full`, {
      scenario: 'etcd-range',
      objects: size,
      requests: 0,
      lists: s.lists,
      concurrency: 1,
    });
  }
  await cleanup();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      targets: { type: 'string' },
      cases: { type: 'string' },
      'setup-only': { type: 'boolean', default: false },
      profile: { type: 'string' },
    },
  });
  const mode = values.quick ? 'quick' : 'full';
  let failedCases = 0;
  let failedTargets = 0;
  const only = values.targets?.split(',').map((x) => x.trim());
  const cases = values.cases?.split(',').map((x) => x.trim());
  const unknown = cases?.filter((c) => !(CASES as readonly string[]).includes(c));
  if (unknown?.length) throw new Error(`--cases: unknown ${unknown.join(', ')} (known: ${CASES.join(', ')})`);
  const settings: Settings = { ...MODES[mode], ...(cases ? { cases: cases as Case[] } : {}) };
  const out: BenchResults = {
    mode,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    machine: describeMachine(),
    settings: { ...settings, ...(only ? { targets: only } : {}) },
    measurements: [],
    rss: [],
    notes: [],
  };
  if (!values['setup-only']) {
    log('building the load generator (bench/loadgen/build.sh)');
    buildLoadgen();
  }
  log('bringing the bed up (test/cluster/cluster.sh up)');
  ensureBedUp();
  const version = JSON.parse(await k(['version', '-o', 'json'])) as {
    serverVersion?: { gitVersion?: string };
  };
  out.machine.kubernetes = version.serverVersion?.gitVersion;
  out.machine.etcd = await etcdVersion();

  let bed: Bed | undefined;
  // Interrupted (Ctrl-C, a CI timeout): `finally` does not run on a signal, so the signal only stops the
  // run at the next case and the teardown below runs as usual.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping after the current step, then tearing down`);
      interrupted = signal;
    });
  }
  try {
    log('setting up the targets');
    const profileDir = values.profile ? path.resolve(values.profile) : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    bed = await setUpBed(
      mkdtempSync(path.join(os.tmpdir(), 'bench-')),
      (partial) => (bed = partial),
      profileDir,
    );
    log(`targets ready (work dir ${bed.workDir}; server logs there)`);
    const apiserverArgs = readFileSync(`/proc/${bed.kubeApiserverPid}/cmdline`, 'utf8').split('\0');
    // Defaults on both sides, so the figures are what a user gets; the two differ in what they log.
    out.notes.push(
      'Both Widget servers run with their default flags (log level info: one JSON line per request, to a ' +
        `file); kube-apiserver with the bed's (${apiserverArgs.find((a) => a.startsWith('--v=')) ?? 'default -v'}). ` +
        'Each API target gets an unmeasured warm-up of 20 creates first.',
    );
    for (const t of bed.targets) {
      if (t.name !== 'etcd') out.rss.push(readRss(bed, t, 'idle'));
    }
    if (mode === 'quick') {
      out.notes.push(
        'A quick run keeps the harness from rotting: with its tiny counts on a 2-core machine shared with ' +
          'the bed, its figures move by up to 2-3× from run to run. The full run is the measurement.',
      );
    }
    if (values['setup-only']) return;
    const order = ['crd', 'widget-aggregated', 'widget-direct', 'widget-embedded', 'etcd'];
    for (const name of order) {
      const t = bed.targets.find((x) => x.name === name)!;
      if (only && !only.includes(name)) continue;
      log(`== ${name}`);
      try {
        if (name === 'etcd') await runEtcd(bed, t, settings, out);
        else await runApiTarget(bed, t, settings, out);
      } catch (err) {
        if (interrupted) throw err;
        // One target failing (a setup or cleanup step) must not cost the others their measurements.
        const message = err instanceof Error ? err.message : String(err);
        log(`${name}: aborted: ${message}`);
        out.notes.push(`Target ${name} was aborted after its last measured case: ${message}`);
        failedTargets++;
      }
    }
    if (!only || only.includes('operator')) {
      checkInterrupted();
      log('== operator');
      out.operator = await benchOperator(bed.suffix, settings.operatorApis, log);
    }
  } finally {
    out.finishedAt = new Date().toISOString();
    if (bed) {
      log('tearing down');
      await tearDownBed(bed, log);
    }
    // A setup-only or interrupted run must not overwrite a real run's results.
    if (values['setup-only']) log(`RSS: ${JSON.stringify(out.rss)}`);
    else if (interrupted) log('interrupted: no results written');
    else failedCases = writeResults(out);
  }
  // CI runs --quick so the harness cannot rot: a case that failed or had errors fails the run.
  if (failedCases + failedTargets > 0) {
    throw new Error(
      `${failedCases} case(s) failed or had errors, ${failedTargets} target(s) aborted (see the results)`,
    );
  }
}

/** Writes the results files; returns how many cases failed or had errors. */
function writeResults(out: BenchResults): number {
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  // A run of some targets only must not replace a whole run's results.
  const only = [
    ...((out.settings.targets as string[] | undefined) ?? []),
    ...((out.settings.cases as string[] | undefined) ?? []),
  ].join('-');
  const base = path.join(dir, `${out.startedAt.slice(0, 10)}-${out.mode}${only ? `-${only}` : ''}`);
  const failed = out.measurements.filter((m) => !m.result || m.result.errors > 0);
  if (failed.length) out.notes.push(`${failed.length} case(s) failed or had errors: see the table.`);
  writeFileSync(`${base}.json`, JSON.stringify(out, null, 2) + '\n');
  writeFileSync(`${base}.md`, markdownReport(out));
  writeFileSync(`${base}.svg`, svgPlot(out));
  log(`results: ${path.relative(root, base)}.{json,md,svg}`);
  return failed.length;
}

main().then(
  () => process.exit(0),
  (err) => {
    if (interrupted) process.exit(130);
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
