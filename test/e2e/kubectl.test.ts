/**
 * Drives the Widget server with the real kubectl, once on the embedded store and once on a real etcd.
 */
import { kubectl, kubectlOk, kubectlWatch } from '../support/kubectl';
import { startServerOnStore, type StoreKind, type TestServer } from '../support/widget-server';

jest.setTimeout(120000);

const widgetYaml = (name: string, extra = '') => `apiVersion: custom.example.com/v1
kind: Widget
metadata:
  name: ${name}
  labels:
    app: demo
${extra}spec:
  image: nginx:1.27
  replicas: 2
`;

describe.each<StoreKind>(['memory', 'etcd'])('kubectl against the Widget server (%s store)', (store) => {
  let server: TestServer;
  let kc: string;

  beforeAll(async () => {
    server = await startServerOnStore(store, 'kubectl');
    kc = server.kubeconfig;
  });

  afterAll(async () => {
    await server?.close();
  });

  test('apply creates, get shows the table, wide, yaml and jsonpath forms', async () => {
    expect(await kubectlOk(kc, ['apply', '-f', '-'], widgetYaml('alpha'))).toMatch(
      /widget.custom.example.com\/alpha created/,
    );
    const table = await kubectlOk(kc, ['get', 'widgets']);
    expect(table).toMatch(/^NAME\s+REPLICAS\s+AVAILABLE\s+(COLOR\s+)?PHASE\s+AGE/m);
    expect(table).toMatch(/^alpha\s+2\s+0\s+/m);
    const wide = await kubectlOk(kc, ['get', 'wg', '-o', 'wide']);
    expect(wide).toMatch(/COLOR/);
    expect(wide).toMatch(/alpha\s+2\s+0\s+blue\s+Pending/);
    const yaml = await kubectlOk(kc, ['get', 'widget', 'alpha', '-o', 'yaml']);
    expect(yaml).toMatch(/color: blue/);
    expect(yaml).toMatch(/uid: [0-9a-f-]{36}/);
    expect(yaml).toMatch(/generation: 1/);
    expect(await kubectlOk(kc, ['get', 'widget', 'alpha', '-o', 'jsonpath={.status.phase}'])).toBe('Pending');
    // Re-applying the same manifest changes nothing.
    expect(await kubectlOk(kc, ['apply', '-f', '-'], widgetYaml('alpha'))).toMatch(/unchanged/);
    // Listed in the `all` category.
    expect(await kubectlOk(kc, ['get', 'all', '-o', 'name'])).toMatch(/widget.custom.example.com\/alpha/);
  });

  test('get -w sees a change made by another client', async () => {
    const watch = kubectlWatch(kc, ['get', 'widgets', '-w', '--output-watch-events']);
    try {
      await watch.waitFor(/alpha/);
      await kubectlOk(kc, ['label', 'widget', 'alpha', 'tier=gold']);
      await kubectlOk(kc, ['apply', '-f', '-'], widgetYaml('beta'));
      await watch.waitFor(/ADDED\s+beta/);
      await kubectlOk(kc, ['get', 'widget', 'beta']);
    } finally {
      watch.stop();
    }
  });

  test('explain documents the schema', async () => {
    const out = await kubectlOk(kc, ['explain', 'widget.spec']);
    expect(out).toMatch(/KIND:\s+Widget/);
    expect(out).toMatch(/image\s+<string> -required-/);
    expect(out).toMatch(/replicas\s+<integer>/);
    expect(out).toMatch(/color\s+<string>/);
  });

  test('scale sets spec.replicas through the scale subresource', async () => {
    expect(await kubectlOk(kc, ['scale', 'widget', 'alpha', '--replicas=5'])).toMatch(/scaled/);
    expect(
      await kubectlOk(kc, [
        'get',
        'widget',
        'alpha',
        '-o',
        'jsonpath={.spec.replicas}/{.metadata.generation}',
      ]),
    ).toBe('5/2');
    const refused = await kubectl(kc, ['scale', 'widget', 'alpha', '--replicas=101']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/must be less than or equal to 100/);
  });

  test('patch of each type, label and annotate', async () => {
    await kubectlOk(kc, ['patch', 'widget', 'alpha', '--type=merge', '-p', '{"spec":{"color":"green"}}']);
    await kubectlOk(kc, [
      'patch',
      'widget',
      'alpha',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/replicas","value":7}]',
    ]);
    await kubectlOk(kc, ['patch', 'widget', 'alpha', '-p', '{"metadata":{"labels":{"smp":"yes"}}}']);
    await kubectlOk(kc, ['annotate', 'widget', 'alpha', 'note=hello']);
    await kubectlOk(kc, ['label', 'widget', 'alpha', 'app-']);
    const got = JSON.parse(await kubectlOk(kc, ['get', 'widget', 'alpha', '-o', 'json']));
    expect(got.spec).toMatchObject({ color: 'green', replicas: 7 });
    expect(got.metadata.labels).toEqual({ smp: 'yes', tier: 'gold' });
    expect(got.metadata.annotations.note).toBe('hello');
    const badJson = await kubectl(kc, [
      'patch',
      'widget',
      'alpha',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/nope/x","value":1}]',
    ]);
    expect(badJson.code).not.toBe(0);
    const bad = await kubectl(kc, [
      'patch',
      'widget',
      'alpha',
      '--type=merge',
      '-p',
      '{"spec":{"color":"pink"}}',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/spec.color: Unsupported value: "pink"/);
    // Label selectors filter lists.
    expect(await kubectlOk(kc, ['get', 'widgets', '-l', 'smp=yes', '-o', 'name'])).toBe(
      'widget.custom.example.com/alpha\n',
    );
  });

  test('delete waits on a finalizer and completes when it is released', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], widgetYaml('held', '  finalizers:\n  - example.com/hold\n'));
    await kubectlOk(kc, ['delete', 'widget', 'held', '--wait=false']);
    const pending = JSON.parse(await kubectlOk(kc, ['get', 'widget', 'held', '-o', 'json']));
    expect(pending.metadata.deletionTimestamp).toBeTruthy();
    expect(pending.metadata.finalizers).toEqual(['example.com/hold']);
    const deleted = kubectl(kc, ['wait', '--for=delete', 'widget/held', '--timeout=30s']);
    await kubectlOk(kc, [
      'patch',
      'widget',
      'held',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    ]);
    expect((await deleted).code).toBe(0);
    const gone = await kubectl(kc, ['get', 'widget', 'held']);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/widgets.custom.example.com "held" not found/);
  });

  test('wait --for=condition=Ready sees a status condition set through /status', async () => {
    const waiting = kubectl(kc, ['wait', '--for=condition=Ready', 'widget/beta', '--timeout=30s']);
    await new Promise((r) => setTimeout(r, 500));
    const condition = {
      type: 'Ready',
      status: 'True',
      reason: 'AllReplicasAvailable',
      message: 'all replicas are available',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 1,
    };
    await kubectlOk(kc, [
      'patch',
      'widget',
      'beta',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Running', availableReplicas: 2, conditions: [condition] } }),
    ]);
    const result = await waiting;
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/widget.custom.example.com\/beta condition met/);
    expect(await kubectlOk(kc, ['get', 'widget', 'beta', '-o', 'jsonpath={.status.phase}'])).toBe('Running');
  });

  test('create --dry-run=server stores nothing', async () => {
    const out = await kubectlOk(
      kc,
      ['create', '--dry-run=server', '-f', '-', '-o', 'jsonpath={.spec.color}'],
      widgetYaml('dry'),
    );
    expect(out).toBe('blue');
    const after = await kubectl(kc, ['get', 'widget', 'dry']);
    expect(after.stderr).toMatch(/not found/);
  });

  test('apply --validate=strict rejects an unknown field and stores nothing', async () => {
    const manifest = widgetYaml('strict').replace('replicas: 2', 'replicas: 2\n  foo: bar');
    const r = await kubectl(kc, ['apply', '--validate=strict', '-f', '-'], manifest);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown field "spec.foo"/);
    expect((await kubectl(kc, ['get', 'widget', 'strict'])).stderr).toMatch(/not found/);
  });
});
