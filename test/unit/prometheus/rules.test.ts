/**
 * Tests the operator's alerting rules (config/prometheus/prometheus_rule.yaml) with Debian's promtool:
 * the PrometheusRule's spec.groups, written out as a Prometheus rule file, must pass `promtool check
 * rules` and the unit tests in rules.test.yaml beside this file (`promtool test rules`: every alert fires
 * with exact labels and annotations, and stays quiet on healthy series and on trouble shorter than its
 * `for`). Also checks that the rules read only metrics the operator registers (a prom-client Registry
 * given createOperatorMetrics), by labels those have, and that the job they select is the one the
 * ServiceMonitor's scrape of the metrics Service gives. promtool (Debian package prometheus) comes from
 * test/install-deps.sh; when it is missing these tests fail, they never skip.
 */
import { execFileSync } from 'child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { Registry } from 'prom-client';
import { parse, stringify } from 'yaml';
import { createOperatorMetrics } from '../../../src/operator/controller/metrics';

const repoRoot = path.resolve(__dirname, '../../..');
const configDir = path.join(repoRoot, 'config/prometheus');
const unitTests = path.join(__dirname, 'rules.test.yaml');
const readYaml = (file: string) => parse(readFileSync(file, 'utf8'));

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels: Record<string, string> }[] | null;
}
interface UnitTest {
  name: string;
  input_series: { series: string }[];
  alert_rule_test: AlertTest[];
}

const prometheusRule = readYaml(path.join(configDir, 'prometheus_rule.yaml'));
const groups: { name: string; rules: Rule[] }[] = prometheusRule.spec.groups;
const rules = groups.flatMap((g) => g.rules);
const tests: UnitTest[] = readYaml(unitTests).tests;

/** Runs promtool in `cwd`; a missing promtool fails the test with what to install. */
function promtool(args: string[], cwd: string): string {
  try {
    return execFileSync('promtool', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const error = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; status?: number | null };
    if (error.code === 'ENOENT') {
      throw new Error(
        "promtool is not on PATH: the alerting rule tests need Debian's promtool (package prometheus): run " +
          '`bash test/install-deps.sh` as root (or `apt-get install --no-install-recommends prometheus`)',
      );
    }
    throw new Error(
      `promtool ${args.join(' ')} failed (exit ${error.status}):\n${error.stdout ?? ''}${error.stderr ?? error.message}`,
    );
  }
}

/**
 * The metric and label names a PromQL expression mentions, and its label matchers: as much PromQL as
 * rules use (selectors, ranges, functions, aggregations with by/without, binary operators with
 * on/ignoring/group_*), so that a misspelt or renamed metric is caught here rather than by a silent alert.
 */
function promqlNames(expr: string) {
  const labels = new Set<string>();
  const matchers: { label: string; op: string; value: string }[] = [];
  let selectors = 0;
  let rest = expr.replace(/\{([^}]*)\}/g, (_, body: string) => {
    selectors += 1;
    for (const m of body.matchAll(/([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      labels.add(m[1]);
      matchers.push({ label: m[1], op: m[2], value: m[3] });
    }
    return ' ';
  });
  rest = rest.replace(/"(?:[^"\\]|\\.)*"/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  rest = rest.replace(
    /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_, list: string) => {
      for (const l of list.split(',').map((s) => s.trim())) if (l) labels.add(l);
      return ' ';
    },
  );
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  const metrics = new Set<string>();
  // A whole identifier (not inside a number such as 1e9 or a duration) that is not a function's name.
  for (const m of rest.matchAll(/(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    if (!keywords.has(m[1].toLowerCase())) metrics.add(m[1]);
  }
  return { metrics, labels, matchers, selectors };
}

/** Every sample name the operator's registry exposes (a histogram's _bucket, _sum, _count), with its labels. */
function operatorSeries(): Map<string, Set<string>> {
  const registry = new Registry();
  // The operator's own metrics and the shared controller-runtime ones (createControllerMetrics), which
  // createOperatorMetrics registers under its controller name.
  createOperatorMetrics(registry);
  const series = new Map<string, Set<string>>();
  for (const metric of registry.getMetricsAsArray()) {
    // prom-client keeps a metric's label names on the object; its typings do not declare them.
    const labelNames = (metric as unknown as { labelNames?: unknown }).labelNames;
    if (!Array.isArray(labelNames)) throw new Error(`prom-client metric ${metric.name} has no labelNames`);
    const names =
      String(metric.type) === 'histogram'
        ? ['_bucket', '_sum', '_count'].map((s) => metric.name + s)
        : String(metric.type) === 'summary'
          ? [metric.name, `${metric.name}_sum`, `${metric.name}_count`]
          : [metric.name];
    const extra = String(metric.type) === 'histogram' ? ['le'] : [];
    for (const name of names) series.set(name, new Set([...labelNames, ...extra]));
  }
  return series;
}

/** Labels Prometheus adds to every scraped series (the target's), beside the metric's own. */
const TARGET_LABELS = ['job', 'instance', 'pod'];

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(path.join(tmpdir(), 'prometheus-rules-'));
  // A plain Prometheus rule file: what the Prometheus Operator renders from spec.groups. The unit tests
  // name it rules.yaml, relative to themselves.
  writeFileSync(path.join(workDir, 'rules.yaml'), stringify({ groups }, { blockQuote: 'literal' }));
  copyFileSync(unitTests, path.join(workDir, 'rules.test.yaml'));
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

test('the PrometheusRule holds one group of alerts, each with a severity, summary and description', () => {
  expect(prometheusRule.apiVersion).toBe('monitoring.coreos.com/v1');
  expect(prometheusRule.kind).toBe('PrometheusRule');
  expect(rules.length).toBeGreaterThan(0);
  for (const rule of rules) {
    expect(['warning', 'critical']).toContain(rule.labels.severity);
    expect(rule.annotations.summary).toEqual(expect.any(String));
    expect(rule.annotations.description).toContain('Runbook:');
  }
});

test('promtool check rules accepts the rule groups', () => {
  const out = promtool(['check', 'rules', 'rules.yaml'], workDir);
  expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
});

test('promtool test rules: every alert fires where it should and nowhere else', () => {
  const out = promtool(['test', 'rules', 'rules.test.yaml'], workDir);
  expect(out).toContain('SUCCESS');
});

test('the unit tests cover every alert, firing at every severity and quiet at least once', () => {
  const alertTests = tests.flatMap((t) => t.alert_rule_test);
  const names = new Set(rules.map((r) => r.alert));
  // A test of a misspelt alert name would expect silence and pass whatever the rules say.
  for (const t of alertTests) expect(names).toContain(t.alertname);
  for (const rule of rules) {
    const cases = alertTests.filter((t) => t.alertname === rule.alert);
    const fired = cases.flatMap((t) => t.exp_alerts ?? []).map((a) => a.exp_labels.severity);
    expect({ alert: rule.alert, fired: fired.includes(rule.labels.severity) }).toEqual({
      alert: rule.alert,
      fired: true,
    });
    expect({ alert: rule.alert, quiet: cases.some((t) => !t.exp_alerts?.length) }).toEqual({
      alert: rule.alert,
      quiet: true,
    });
  }
});

test('the rules read only metrics the operator registers, by labels those metrics have', () => {
  const series = operatorSeries();
  for (const rule of rules) {
    const { metrics, labels } = promqlNames(rule.expr);
    expect(metrics.size).toBeGreaterThan(0);
    const known = new Set(TARGET_LABELS);
    for (const metric of metrics) {
      expect({ alert: rule.alert, metric, registered: series.has(metric) }).toEqual({
        alert: rule.alert,
        metric,
        registered: true,
      });
      for (const label of series.get(metric)!) known.add(label);
    }
    const annotationLabels = Object.values(rule.annotations).flatMap((a) =>
      [...a.matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]),
    );
    for (const label of [...labels, ...annotationLabels]) {
      expect({ alert: rule.alert, label, known: known.has(label) }).toEqual({
        alert: rule.alert,
        label,
        known: true,
      });
    }
  }
  // The unit tests' input series are ones the operator exposes, with its labels and the target's.
  for (const { series: text } of tests.flatMap((t) => t.input_series)) {
    const [, name, body] = /^([A-Za-z_:][\w:]*)\{(.*)\}$/.exec(text)!;
    expect({ name, registered: series.has(name) }).toEqual({ name, registered: true });
    for (const [, label] of body.matchAll(/([A-Za-z_]\w*)="/g)) {
      expect([...series.get(name)!, ...TARGET_LABELS]).toContain(label);
    }
  }
});

test("the rules select the operator's controller and the job the ServiceMonitor scrapes", () => {
  const { controller } = createOperatorMetrics(new Registry());
  const service = readYaml(path.join(repoRoot, 'config/manager/metrics_service.yaml'));
  const monitor = readYaml(path.join(configDir, 'service_monitor.yaml'));
  // A ServiceMonitor's series get job=<the Service's name>.
  expect(monitor.kind).toBe('ServiceMonitor');
  expect(monitor.metadata.namespace).toBe(service.metadata.namespace);
  expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
  expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain(monitor.spec.endpoints[0].port);
  for (const rule of rules) {
    const { matchers, selectors } = promqlNames(rule.expr);
    const jobs = matchers.filter((m) => m.label === 'job');
    // Every selector is scoped to the operator's job: absent() of an unscoped one would not fire while
    // anything else exported the metric.
    expect({ alert: rule.alert, scoped: jobs.length }).toEqual({ alert: rule.alert, scoped: selectors });
    for (const m of jobs) expect(m).toEqual({ label: 'job', op: '=', value: service.metadata.name });
    for (const m of matchers.filter((m) => m.label === 'controller')) {
      expect(m).toEqual({ label: 'controller', op: '=', value: controller });
    }
  }
  const kustomization = readYaml(path.join(configDir, 'kustomization.yaml'));
  expect([...kustomization.resources].sort()).toEqual(['prometheus_rule.yaml', 'service_monitor.yaml']);
});
