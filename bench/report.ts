/**
 * Turns a bench run's results into the committed report: a Markdown table (throughput, p50/p99 and the
 * ratios against the CRD for each case and target, CPU per 1000 requests, RSS) and a hand-written SVG
 * plot of p50/p99 latency against concurrency for the three servers.
 */
import type { Measurement } from './loadgen';
import type { OperatorResult } from './operator';
import type { Machine } from './proc';

export interface RssPoint {
  target: string;
  /** e.g. "idle", "10000 widgets" */
  point: string;
  widgetServerMiB?: number;
  kubeApiserverMiB: number;
}

export interface BenchResults {
  mode: 'quick' | 'full';
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  settings: Record<string, unknown>;
  measurements: Measurement[];
  rss: RssPoint[];
  operator?: OperatorResult;
  notes: string[];
}

const TARGET_ORDER = ['widget-direct', 'widget-aggregated', 'crd', 'etcd', 'widget-embedded'];
const PLOTTED = ['widget-direct', 'widget-aggregated', 'crd'];
const COLORS: Record<string, string> = {
  'widget-direct': '#1f77b4',
  'widget-aggregated': '#ff7f0e',
  crd: '#2ca02c',
};

const fmt = (n: number | undefined, digits = 1) =>
  n === undefined || !Number.isFinite(n) ? '–' : n >= 100 ? n.toFixed(0) : n.toFixed(digits);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0
    ? '–'
    : `${a / b >= 0.1 ? (a / b).toFixed(2) : (a / b).toPrecision(2)}×`;

/** Cases in the order they were run, each once. */
function cases(ms: Measurement[]): string[] {
  return [...new Set(ms.map((m) => m.case))];
}

export function markdownReport(r: BenchResults): string {
  const m = r.machine;
  const lines = [
    `# Bench results (${r.mode}), ${r.startedAt}`,
    '',
    `Machine: ${m.nproc} CPUs (${m.cpuModel}), ${(m.memoryMiB / 1024).toFixed(1)} GiB, Linux ${m.kernel}; ` +
      `Node ${m.node}, Kubernetes ${m.kubernetes ?? '?'}, etcd ${m.etcd ?? '?'}; commit ${m.commit ?? '?'}. ` +
      `Run from ${r.startedAt} to ${r.finishedAt}.`,
    '',
    `Settings: ${Object.entries(r.settings)
      .map(([key, v]) => `${key} ${JSON.stringify(v)}`)
      .join(', ')}.`,
    '',
    'Targets: **widget-direct** the Widget server on the bed etcd, reached directly; **widget-aggregated** the same ' +
      'server through kube-apiserver; **crd** the same Widget as a CRD served by kube-apiserver on the same etcd; ' +
      '**etcd** raw puts (create) and ranges (get, list) as the floor; **widget-embedded** the Widget server on ' +
      'its embedded store, direct. "× CRD": throughput divided by the CRD\'s (higher is better) and p99 divided by ' +
      "the CRD's (lower is better). CPU s/1k: CPU seconds per 1000 requests of the Widget server process and of " +
      "kube-apiserver, from /proc around each case. Client CPU: the load generator's CPU use (near 1.0 means the " +
      'client saturated). Watch latency is from write acknowledgement to event receipt, per watcher and event.',
    '',
    '| case | target | req/s | p50 ms | p99 ms | req/s × CRD | p99 × CRD | Widget server CPU s/1k | kube-apiserver CPU s/1k | client CPU | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of cases(r.measurements)) {
    const row = r.measurements.filter((x) => x.case === c);
    const crd = row.find((x) => x.target === 'crd')?.result;
    row.sort((a, b) => TARGET_ORDER.indexOf(a.target) - TARGET_ORDER.indexOf(b.target));
    for (const x of row) {
      if (!x.result) {
        const why = `failed: ${x.error?.replace(/\|/g, '/') ?? '?'}`;
        lines.push(`| ${c} | ${x.target} | ${why} |${' |'.repeat(8)}`);
        continue;
      }
      const res = x.result;
      const vsCrd = x.target !== 'crd' && crd;
      lines.push(
        `| ${c} | ${x.target} | ${fmt(res.throughput)} | ${fmt(res.latencyMs.p50, 2)} | ${fmt(res.latencyMs.p99, 2)} | ` +
          `${vsCrd ? ratio(res.throughput, crd.throughput) : ''} | ${vsCrd ? ratio(res.latencyMs.p99, crd.latencyMs.p99) : ''} | ` +
          `${fmt(x.cpuSecondsPer1000.widgetServer, 2)} | ${fmt(x.cpuSecondsPer1000.kubeApiserver, 2)} | ` +
          `${fmt(res.clientCpuUtilization, 2)} | ${res.errors}${res.errors && res.firstError ? ` (${res.firstError.slice(0, 60).replace(/\|/g, '/')})` : ''} |`,
      );
    }
  }
  const watches = r.measurements.filter((x) => x.case.startsWith('watch') && x.result);
  if (watches.length) {
    // Events often overtake the write's own response (earlyEvents, counted as 0 ms from the
    // acknowledgement), so the delivery from the write's start is shown beside it.
    const lat = (l: unknown, k: 'p50' | 'p99') => fmt((l as Record<string, number> | undefined)?.[k], 2);
    lines.push(
      '',
      '## Watch delivery (ms)',
      '',
      '| case | target | from write ack p50 | p99 | from write start p50 | p99 | early events | write p50 | write p99 |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
      ...watches.map((x) => {
        const res = x.result!;
        return (
          `| ${x.case} | ${x.target} | ${lat(res.latencyMs, 'p50')} | ${lat(res.latencyMs, 'p99')} | ` +
          `${lat(res.fromWriteStartMs, 'p50')} | ${lat(res.fromWriteStartMs, 'p99')} | ` +
          `${String(res.earlyEvents ?? '–')} of ${res.requests} | ${lat(res.writeLatencyMs, 'p50')} | ${lat(res.writeLatencyMs, 'p99')} |`
        );
      }),
    );
  }
  if (r.rss.length) {
    lines.push(
      '',
      '## Memory (RSS, MiB)',
      '',
      '| target | loaded | Widget server | kube-apiserver |',
      '|---|---|---:|---:|',
      ...r.rss.map(
        (p) => `| ${p.target} | ${p.point} | ${fmt(p.widgetServerMiB)} | ${fmt(p.kubeApiserverMiB)} |`,
      ),
    );
  }
  if (r.operator) {
    const o = r.operator;
    lines.push(
      '',
      '## Operator',
      '',
      `Image ${o.image}. Per replica: ${o.replicas
        .map((x) => `${x.pod} RSS ${fmt(x.rssMiB)} MiB, CPU at rest ${x.cpuAtRestMillicores} millicores`)
        .join('; ')}.`,
      '',
      '| AggregatedAPIs applied at once | apply -> Ready p50 s | max s | not Ready in 5 min |',
      '|---:|---:|---:|---:|',
      ...o.applyToReady.map(
        (a) => `| ${a.apis} | ${fmt(a.p50Seconds)} | ${fmt(a.maxSeconds)} | ${a.notReady} |`,
      ),
    );
  }
  if (r.notes.length) lines.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}

interface Series {
  target: string;
  stat: 'p50' | 'p99';
  points: [number, number][];
}

/** Latency against concurrency for `verb` ("create", "get"), one series per server and percentile. */
function series(ms: Measurement[], verb: string): Series[] {
  const out: Series[] = [];
  for (const target of PLOTTED) {
    for (const stat of ['p50', 'p99'] as const) {
      const points = ms
        .filter((m) => m.target === target && m.case.startsWith(`${verb} `) && m.result)
        .map((m) => [m.result!.concurrency, m.result!.latencyMs[stat]] as [number, number])
        .sort((a, b) => a[0] - b[0]);
      if (points.length) out.push({ target, stat, points });
    }
  }
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Two panels (create, get): x = concurrency (log2), y = latency in ms (log10); p50 solid, p99 dashed and hollow. */
export function svgPlot(r: BenchResults): string {
  const W = 1000;
  const H = 460;
  const panelW = 400;
  const panelH = 300;
  const top = 60;
  const parts: string[] = [];
  const verbs = ['create', 'get'];
  const all = verbs.flatMap((v) => series(r.measurements, v));
  const xs = [...new Set(all.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const ys = all.flatMap((s) => s.points.map((p) => p[1])).filter((y) => y > 0);
  const yMin = Math.pow(10, Math.floor(Math.log10(Math.min(...ys, 1))));
  const yMax = Math.pow(10, Math.ceil(Math.log10(Math.max(...ys, 10))));
  const xMin = Math.log2(Math.max(xs[0] ?? 1, 1));
  const xMax = Math.log2(Math.max(xs[xs.length - 1] ?? 1, 1));
  parts.push(
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">Latency against concurrency (${r.mode} run, ${esc(r.startedAt)})</text>`,
  );
  verbs.forEach((verb, i) => {
    const left = 70 + i * (panelW + 60);
    const px = (c: number) =>
      xMax === xMin ? left + panelW / 2 : left + ((Math.log2(c) - xMin) / (xMax - xMin)) * panelW;
    const py = (ms: number) =>
      top + panelH - ((Math.log10(Math.max(ms, yMin)) - Math.log10(yMin)) / Math.log10(yMax / yMin)) * panelH;
    parts.push(
      `<rect x="${left}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#888"/>`,
      `<text x="${left + panelW / 2}" y="${top - 10}" text-anchor="middle" font-size="14">${verb}</text>`,
      `<text x="${left + panelW / 2}" y="${top + panelH + 36}" text-anchor="middle" font-size="12">concurrency (workers)</text>`,
      `<text x="${left - 48}" y="${top + panelH / 2}" font-size="12" transform="rotate(-90 ${left - 48} ${top + panelH / 2})" text-anchor="middle">latency ms (log)</text>`,
    );
    for (const c of xs) {
      parts.push(
        `<line x1="${px(c)}" y1="${top + panelH}" x2="${px(c)}" y2="${top + panelH + 5}" stroke="#888"/>`,
        `<text x="${px(c)}" y="${top + panelH + 18}" text-anchor="middle" font-size="11">${c}</text>`,
      );
    }
    for (let y = yMin; y <= yMax; y *= 10) {
      parts.push(
        `<line x1="${left}" y1="${py(y)}" x2="${left + panelW}" y2="${py(y)}" stroke="#eee"/>`,
        `<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end" font-size="11">${y}</text>`,
      );
    }
    for (const s of series(r.measurements, verb)) {
      const color = COLORS[s.target];
      const dash = s.stat === 'p99' ? ' stroke-dasharray="6 4"' : '';
      const pts = s.points.map(([c, ms]) => `${px(c).toFixed(1)},${py(ms).toFixed(1)}`);
      parts.push(
        `<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`,
      );
      for (const p of pts) {
        const [x, y] = p.split(',');
        const fill = s.stat === 'p99' ? 'white' : color;
        parts.push(
          `<circle cx="${x}" cy="${y}" r="3.5" fill="${fill}" stroke="${color}" stroke-width="1.5"/>`,
        );
      }
    }
  });
  PLOTTED.forEach((target, i) => {
    const x = 70 + i * 220;
    parts.push(
      `<line x1="${x}" y1="${H - 22}" x2="${x + 24}" y2="${H - 22}" stroke="${COLORS[target]}" stroke-width="2"/>`,
      `<text x="${x + 30}" y="${H - 18}" font-size="12">${target}</text>`,
    );
  });
  parts.push(
    `<text x="${W - 20}" y="${H - 18}" text-anchor="end" font-size="12">p50: solid line, filled dot; p99: dashed line, hollow dot</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="${W}" height="${H}" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
