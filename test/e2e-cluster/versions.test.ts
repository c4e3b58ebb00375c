/**
 * An AggregatedAPI declaring v1, v1beta1 and v1alpha1, through kube-apiserver's aggregator: the
 * operator registers one APIService per version and tells the server which to serve; kubectl creates
 * at one version and reads at another, watches at v1beta1 while a patch is made at v1, and uses each
 * version's table, field selectors and explain; the garbage collector and namespace deletion work with
 * the three versions registered. A version the image does not serve is reported, not left unexplained.
 */
import { randomBytes } from 'node:crypto';
import { kubectlWatch } from '../support/kubectl';
import {
  ensureClusterUp,
  eventually,
  forgetCachedDiscovery,
  installOperatorFromCheckout,
  k,
  kubeconfigPath,
} from './cluster';

jest.setTimeout(15 * 60 * 1000);

const suffix = randomBytes(3).toString('hex');
const name = `versions-${suffix}`;
const unservedName = `unserved-${suffix}`;
const group = `versions-${suffix}.example.com`;
const unservedGroup = `unserved-${suffix}.example.com`;
const system = `versions-system-${suffix}`;
const ns = `versions-${suffix}`;
const at = (version: string) => `widgets.${version}.${group}`;
const json = async (args: string[]) => JSON.parse(await k([...args, '-o', 'json']));

const widget = (version: string, widgetName: string, spec: Record<string, unknown>, extra = {}) =>
  JSON.stringify({
    apiVersion: `${group}/${version}`,
    kind: 'Widget',
    metadata: { name: widgetName, namespace: ns, ...extra },
    // The bed's pause image runs with no registry: the Widget controller makes these Running.
    spec: { image: 'localhost/pause:bed', ...spec },
  });

beforeAll(async () => {
  ensureClusterUp();
  await installOperatorFromCheckout();
  await k(['create', 'namespace', system]);
  await k(['create', 'namespace', ns]);
  await k(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'aggregation.example.com/v1alpha1',
      kind: 'AggregatedAPI',
      metadata: { name },
      spec: {
        group,
        versions: [
          { name: 'v1', versionPriority: 15 },
          { name: 'v1beta1', versionPriority: 12 },
          { name: 'v1alpha1', versionPriority: 9 },
        ],
        namespace: system,
        storage: { embedded: {} },
      },
    }),
  );
  await k(['wait', '--for=condition=Ready', `aggregatedapi/${name}`, '--timeout=300s']);
});

afterAll(async () => {
  await k(['delete', 'aggregatedapi', name, unservedName, '--ignore-not-found', '--timeout=120s']).catch(
    () => undefined,
  );
  await k(['delete', 'namespace', system, ns, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  // Both groups serve `widgets`: later suites' bare `kubectl get widgets` must not find them, live or cached.
  await eventually(
    'the APIServices of the test groups to be gone',
    async () => !(await k(['get', 'apiservices', '-o', 'name'])).split('\n').some((s) => s.includes(suffix)),
    120_000,
  );
  forgetCachedDiscovery();
});

test('one APIService per version, all available; discovery prefers v1', async () => {
  const api = await json(['get', 'aggregatedapi', name]);
  expect(
    api.status.apiServices.map((s: { name: string; available: string }) => [s.name, s.available]),
  ).toEqual([
    [`v1.${group}`, 'True'],
    [`v1beta1.${group}`, 'True'],
    [`v1alpha1.${group}`, 'True'],
  ]);
  const discovered = JSON.parse(await k(['get', '--raw', `/apis/${group}`]));
  expect(discovered.preferredVersion.version).toBe('v1');
  expect(discovered.versions.map((v: { version: string }) => v.version)).toEqual([
    'v1',
    'v1beta1',
    'v1alpha1',
  ]);
  const deployment = await json(['-n', system, 'get', 'deployment', `${name}-apiserver`]);
  expect(deployment.spec.template.spec.containers[0].args).toContain('--api-versions=v1,v1beta1,v1alpha1');
});

test('created at v1alpha1, read at v1; a watch at v1beta1 sees a patch made at v1', async () => {
  await k(['create', '-f', '-'], widget('v1alpha1', 'alpha', { size: 3 }));
  expect(await k(['-n', ns, 'get', at('v1'), 'alpha', '-o', 'jsonpath={.spec.replicas} {.spec.color}'])).toBe(
    '3 blue',
  );
  const watch = kubectlWatch(kubeconfigPath, [
    '-n',
    ns,
    'get',
    at('v1beta1'),
    'alpha',
    '-w',
    '-o',
    'jsonpath={.apiVersion} {.metadata.labels.tier} {.spec.replicas}{"\\n"}',
  ]);
  try {
    await watch.waitFor(new RegExp(`${group}/v1beta1`));
    await k([
      '-n',
      ns,
      'patch',
      at('v1'),
      'alpha',
      '--type=merge',
      '-p',
      '{"metadata":{"labels":{"tier":"gold"}},"spec":{"replicas":4}}',
    ]);
    expect(await watch.waitFor(/gold/, 30_000)).toBe(`${group}/v1beta1 gold 4`);
  } finally {
    watch.stop();
  }
});

test('each version has its table, field selectors and explain', async () => {
  await k(['create', '-f', '-'], widget('v1', 'red-one', { replicas: 2, color: 'red' }));
  await k(['create', '-f', '-'], widget('v1', 'stuck', { replicas: 1, image: 'localhost/no-such-image:1' }));
  // The Widget controller writes status.phase: wait until it has settled all three.
  const phases = { alpha: 'Running', 'red-one': 'Running', stuck: 'Failed' };
  await eventually(
    `the Widget controller to report ${JSON.stringify(phases)}`,
    async () => {
      const list = await json(['-n', ns, 'get', at('v1')]);
      const seen = Object.fromEntries(
        list.items.map((w: { metadata: { name: string }; status?: { phase?: string } }) => [
          w.metadata.name,
          w.status?.phase,
        ]),
      );
      return Object.entries(phases).every(([n, phase]) => seen[n] === phase);
    },
    180_000,
  );
  const alpha = await k(['-n', ns, 'get', at('v1alpha1'), '-o', 'wide']);
  expect(alpha).toMatch(/^NAME\s+SIZE\s+AVAILABLE\s+PHASE\s+AGE/m);
  expect(alpha).toMatch(/^red-one\s+2\s+2\s+Running/m);
  const beta = await k(['-n', ns, 'get', at('v1beta1'), '-o', 'wide']);
  expect(beta).toMatch(/^NAME\s+REPLICAS\s+AVAILABLE\s+COLOR\s+PHASE\s+AGE/m);
  expect(beta).toMatch(/^red-one\s+2\s+2\s+red\s+Running/m);
  const names = async (version: string, selector: string) =>
    (await k(['get', at(version), '-A', '--field-selector', selector, '-o', 'name']))
      .trim()
      .split('\n')
      .filter(Boolean)
      .sort();
  for (const version of ['v1', 'v1beta1', 'v1alpha1']) {
    expect(await names(version, 'metadata.name=red-one')).toEqual([`widget.${group}/red-one`]);
    expect(await names(version, 'status.phase=Running')).toEqual([
      `widget.${group}/alpha`,
      `widget.${group}/red-one`,
    ]);
    expect(await names(version, 'status.phase!=Running')).toEqual([`widget.${group}/stuck`]);
    expect(await names(version, 'status.phase=Pending')).toEqual([]);
  }
  const explained = await k(['explain', 'widgets.spec', `--api-version=${group}/v1alpha1`]);
  expect(explained).toMatch(/^\s+size\s+<integer>/m);
  expect(explained).not.toMatch(/^\s+color\s/m);
  expect(await k(['explain', 'widgets.spec', `--api-version=${group}/v1`])).toMatch(
    /^\s+replicas\s+<integer>/m,
  );
});

test('the garbage collector removes a v1alpha1 Widget whose owner is deleted', async () => {
  await k(['-n', ns, 'create', 'configmap', 'owner']);
  const uid = (await k(['-n', ns, 'get', 'configmap', 'owner', '-o', 'jsonpath={.metadata.uid}'])).trim();
  await k(
    ['create', '-f', '-'],
    widget(
      'v1alpha1',
      'owned',
      { size: 1 },
      { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }] },
    ),
  );
  await k(['-n', ns, 'delete', 'configmap', 'owner']);
  await eventually(
    'the owned Widget to be collected',
    async () => !(await k(['-n', ns, 'get', at('v1'), '-o', 'name'])).includes('owned'),
    180_000,
  );
});

test('deleting a namespace with widgets made at each version finishes and removes them', async () => {
  await k(['create', '-f', '-'], widget('v1beta1', 'beta', { replicas: 1 }));
  await k(['delete', 'namespace', ns, '--timeout=240s']);
  for (const version of ['v1', 'v1beta1', 'v1alpha1']) {
    const left = JSON.parse(await k(['get', '--raw', `/apis/${group}/${version}/namespaces/${ns}/widgets`]));
    expect(left.items).toEqual([]);
  }
});

test('a version the image does not serve is reported as VersionNotServed, with no APIService for it', async () => {
  await k(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'aggregation.example.com/v1alpha1',
      kind: 'AggregatedAPI',
      metadata: { name: unservedName },
      spec: {
        group: unservedGroup,
        versions: [{ name: 'v1' }, { name: 'v2' }],
        namespace: system,
        storage: { embedded: {} },
      },
    }),
  );
  const ready = await eventually(
    'the AggregatedAPI to report VersionNotServed',
    async () => {
      const api = await json(['get', 'aggregatedapi', unservedName]);
      const c = (api.status?.conditions ?? []).find((x: { type: string }) => x.type === 'Ready');
      return c?.reason === 'VersionNotServed' ? c : undefined;
    },
    120_000,
  );
  expect(ready).toMatchObject({ status: 'False' });
  expect(ready.message).toMatch(
    /spec.versions lists v2, which image .* does not serve \(it serves v1, v1beta1, v1alpha1\)/,
  );
  await eventually(
    'v1 to be registered and available',
    async () =>
      (await k([
        'get',
        'apiservice',
        `v1.${unservedGroup}`,
        '-o',
        'jsonpath={.status.conditions[0].status}',
      ])) === 'True',
    120_000,
  );
  const v2 = await k(['get', 'apiservice', `v2.${unservedGroup}`, '--ignore-not-found', '-o', 'name']);
  expect(v2.trim()).toBe('');
  const degraded = (await json(['get', 'aggregatedapi', unservedName])).status.conditions.find(
    (x: { type: string }) => x.type === 'Degraded',
  );
  expect(degraded).toMatchObject({ status: 'True', reason: 'VersionNotServed' });
});
