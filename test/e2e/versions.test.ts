/**
 * The Widget API in three versions, driven with the real kubectl: discovery prefers v1, each version
 * has its own fields, table, explain and field selectors, an object created in one version is read in
 * another, and a watch in one version sees a change made in another. On etcd: objects written while
 * v1beta1 was the storage version are read by a v1 server and migrated to v1, resuming an interrupted
 * migration.
 */
import { kubectlOk, kubectl, kubectlWatch } from '../support/kubectl';
import { startEtcd, type EtcdProcess } from '../support/etcd';
import {
  startServerOnStore,
  startTestServer,
  uniquePrefix,
  type StoreKind,
  type TestServer,
} from '../support/widget-server';
import { WidgetRegistry } from '../../src/widget-server/registry/widget-registry';
import { migrateStorageVersion } from '../../src/widget-server/registry/storage-migration';

jest.setTimeout(120000);

const GROUP = 'custom.example.com';
const alphaYaml = (name: string, size: number) => `apiVersion: ${GROUP}/v1alpha1
kind: Widget
metadata:
  name: ${name}
spec:
  image: nginx:1.27
  size: ${size}
`;
const v1Yaml = (name: string, color: string) => `apiVersion: ${GROUP}/v1
kind: Widget
metadata:
  name: ${name}
spec:
  image: nginx:1.27
  replicas: 2
  color: ${color}
`;
const at = (version: string) => `widgets.${version}.${GROUP}`;

describe.each<StoreKind>(['memory', 'etcd'])('Widget versions with kubectl (%s store)', (store) => {
  let server: TestServer;
  let kc: string;

  beforeAll(async () => {
    server = await startServerOnStore(store, 'versions');
    kc = server.kubeconfig;
  });

  afterAll(async () => {
    await server?.close();
  });

  test('discovery lists v1, v1beta1 and v1alpha1, and v1 is preferred', async () => {
    const versions = (await kubectlOk(kc, ['api-versions'])).split('\n');
    expect(versions).toEqual(
      expect.arrayContaining([`${GROUP}/v1`, `${GROUP}/v1beta1`, `${GROUP}/v1alpha1`]),
    );
    const resources = await kubectlOk(kc, ['api-resources', `--api-group=${GROUP}`, '--no-headers']);
    expect(resources).toMatch(new RegExp(`^widgets\\s+wg\\s+${GROUP}/v1\\s+true\\s+Widget`, 'm'));
  });

  test('created at v1alpha1, read at v1 and v1beta1: size is replicas, color defaulted', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], alphaYaml('made-alpha', 3));
    for (const version of ['v1', 'v1beta1']) {
      const out = await kubectlOk(kc, [
        'get',
        at(version),
        'made-alpha',
        '-o',
        'jsonpath={.apiVersion} {.spec.replicas} {.spec.color} {.spec.size}',
      ]);
      expect(out).toBe(`${GROUP}/${version} 3 blue `);
    }
    const alpha = JSON.parse(await kubectlOk(kc, ['get', at('v1alpha1'), 'made-alpha', '-o', 'json']));
    expect(alpha.apiVersion).toBe(`${GROUP}/v1alpha1`);
    expect(alpha.spec).toEqual({ image: 'nginx:1.27', size: 3 });
  });

  test('a v1alpha1 client that reads and writes back keeps the color it has no field for', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], v1Yaml('made-v1', 'red'));
    const alpha = JSON.parse(await kubectlOk(kc, ['get', at('v1alpha1'), 'made-v1', '-o', 'json']));
    expect(alpha.spec).toEqual({ image: 'nginx:1.27', size: 2 });
    expect(Object.values(alpha.metadata.annotations ?? {})).toContain('red');
    alpha.spec.size = 4;
    await kubectlOk(kc, ['replace', '-f', '-'], JSON.stringify(alpha));
    expect(
      await kubectlOk(kc, ['get', at('v1'), 'made-v1', '-o', 'jsonpath={.spec.replicas} {.spec.color}']),
    ).toBe('4 red');
    // The carrier annotation is conversion's, never shown at v1.
    const v1 = JSON.parse(await kubectlOk(kc, ['get', at('v1'), 'made-v1', '-o', 'json']));
    expect(Object.keys(v1.metadata.annotations ?? {})).toEqual([
      'kubectl.kubernetes.io/last-applied-configuration',
    ]);
  });

  test("each version has its own fields: strict decoding refuses the other versions' names", async () => {
    const wrong = await kubectl(
      kc,
      ['create', '--validate=strict', '-f', '-'],
      alphaYaml('wrong', 1).replace('size: 1', 'replicas: 1'),
    );
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/unknown field "spec.replicas"/);
  });

  test('tables per version: v1alpha1 prints SIZE and has no COLOR', async () => {
    const alpha = await kubectlOk(kc, ['get', at('v1alpha1'), '-o', 'wide']);
    expect(alpha).toMatch(/^NAME\s+SIZE\s+AVAILABLE\s+PHASE\s+AGE/m);
    expect(alpha).not.toMatch(/COLOR/);
    expect(alpha).toMatch(/^made-alpha\s+3\s+0\s+Pending/m);
    for (const version of ['v1', 'v1beta1']) {
      const wide = await kubectlOk(kc, ['get', at(version), '-o', 'wide']);
      expect(wide).toMatch(/^NAME\s+REPLICAS\s+AVAILABLE\s+COLOR\s+PHASE\s+AGE/m);
      expect(wide).toMatch(/^made-v1\s+4\s+0\s+red\s+Pending/m);
    }
  });

  test.each(['v1', 'v1beta1', 'v1alpha1'])('field selectors at %s', async (version) => {
    const named = await kubectlOk(kc, [
      'get',
      at(version),
      '--field-selector',
      'metadata.name=made-v1',
      '-o',
      'name',
    ]);
    expect(named.trim()).toBe(`widget.${GROUP}/made-v1`);
    const pending = await kubectlOk(kc, [
      'get',
      at(version),
      '--field-selector',
      'status.phase=Pending',
      '-o',
      'name',
    ]);
    expect(pending.trim().split('\n').sort()).toEqual([
      `widget.${GROUP}/made-alpha`,
      `widget.${GROUP}/made-v1`,
    ]);
  });

  test('a watch at v1beta1 sees a patch made at v1, in v1beta1; one at v1alpha1 sees it too', async () => {
    const jsonpath = 'jsonpath={.apiVersion} {.metadata.name} {.metadata.labels.tier} {.spec.size}{"\\n"}';
    const beta = kubectlWatch(kc, ['get', at('v1beta1'), 'made-alpha', '-w', '-o', jsonpath]);
    const alpha = kubectlWatch(kc, ['get', at('v1alpha1'), 'made-alpha', '-w', '-o', jsonpath]);
    try {
      await beta.waitFor(/made-alpha/);
      await alpha.waitFor(/made-alpha/);
      await kubectlOk(kc, [
        'patch',
        at('v1'),
        'made-alpha',
        '--type=merge',
        '-p',
        '{"metadata":{"labels":{"tier":"gold"}},"spec":{"replicas":5}}',
      ]);
      expect(await beta.waitFor(/gold/)).toBe(`${GROUP}/v1beta1 made-alpha gold `);
      expect(await alpha.waitFor(/gold/)).toBe(`${GROUP}/v1alpha1 made-alpha gold 5`);
    } finally {
      beta.stop();
      alpha.stop();
    }
  });

  test('a patch at v1alpha1 applies to the v1alpha1 form', async () => {
    await kubectlOk(kc, ['patch', at('v1alpha1'), 'made-v1', '--type=merge', '-p', '{"spec":{"size":7}}']);
    expect(
      await kubectlOk(kc, ['get', at('v1'), 'made-v1', '-o', 'jsonpath={.spec.replicas} {.spec.color}']),
    ).toBe('7 red');
    const json = await kubectl(kc, [
      'patch',
      at('v1alpha1'),
      'made-v1',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/replicas","value":1}]',
    ]);
    expect(json.code).not.toBe(0);
  });

  test('kubectl explain per version', async () => {
    const alpha = await kubectlOk(kc, ['explain', 'widgets.spec', `--api-version=${GROUP}/v1alpha1`]);
    expect(alpha).toMatch(/^\s+size\s+<integer>/m);
    expect(alpha).not.toMatch(/^\s+replicas\s/m);
    expect(alpha).not.toMatch(/^\s+color\s/m);
    const v1 = await kubectlOk(kc, ['explain', 'widgets.spec', `--api-version=${GROUP}/v1`]);
    expect(v1).toMatch(/^\s+replicas\s+<integer>/m);
    expect(v1).toMatch(/^\s+color\s+<string>/m);
    expect(v1).not.toMatch(/^\s+size\s/m);
  });
});

describe('storage versions on etcd', () => {
  let etcd: EtcdProcess;
  const prefix = uniquePrefix('storage-version');
  const names = ['m1', 'm2', 'm3', 'm4', 'm5'];
  const stored = async (server: TestServer) =>
    Promise.all(names.map(async (n) => (await server.storage.get(`widgets/default/${n}`))!.value));

  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  test('objects written while v1beta1 was the storage version are read, then migrated to v1, resuming an interrupted run', async () => {
    // The old release: stores v1beta1.
    const old = await startTestServer({
      etcdEndpoint: etcd.endpoint,
      etcdPrefix: prefix,
      args: ['--storage-version', 'v1beta1'],
    });
    let before: unknown[];
    try {
      for (const [i, n] of names.entries())
        await kubectlOk(old.kubeconfig, ['apply', '-f', '-'], v1Yaml(n, i % 2 ? 'red' : 'green'));
      expect((await stored(old)).map((v) => v.apiVersion)).toEqual(names.map(() => `${GROUP}/v1beta1`));
      before = JSON.parse(await kubectlOk(old.kubeconfig, ['get', at('v1'), '-o', 'json'])).items;
      // An upgrade that was cut short: two objects rewritten in v1, then the process stopped.
      const upgrade = new WidgetRegistry(old.storage, {
        identity: { group: GROUP, version: 'v1' },
        storageVersion: 'v1',
      });
      const partial = await migrateStorageVersion(upgrade.migrationTarget(), { maxRewrites: 2 });
      expect(partial).toMatchObject({ rewritten: 2, done: false });
      const mixed = (await stored(old)).map((v) => v.apiVersion).sort();
      expect(mixed).toEqual([...Array(2).fill(`${GROUP}/v1`), ...Array(3).fill(`${GROUP}/v1beta1`)]);
    } finally {
      await old.close();
    }

    // The new release stores v1 and migrates at start-up: the three objects left, nothing else.
    const upgraded = await startTestServer({ etcdEndpoint: etcd.endpoint, etcdPrefix: prefix });
    try {
      await upgraded.migration.settled();
      expect(upgraded.migration.last).toMatchObject({
        scanned: 5,
        rewritten: 3,
        found: { [`${GROUP}/v1`]: 2, [`${GROUP}/v1beta1`]: 3 },
        present: { [`${GROUP}/v1`]: 5 },
        done: true,
      });
      expect((await stored(upgraded)).map((v) => v.apiVersion)).toEqual(names.map(() => `${GROUP}/v1`));
      const after = JSON.parse(await kubectlOk(upgraded.kubeconfig, ['get', at('v1'), '-o', 'json'])).items;
      const content = (items: Array<{ metadata: Record<string, unknown>; spec: unknown; status: unknown }>) =>
        items.map(({ metadata: { resourceVersion: _rv, ...meta }, spec, status }) => ({
          meta,
          spec,
          status,
        }));
      expect(content(after)).toEqual(content(before as never));
      expect(after).toHaveLength(5);
      const metrics = await kubectlOk(upgraded.kubeconfig, ['get', '--raw', '/metrics']);
      expect(metrics).toMatch(
        new RegExp(`widget_server_stored_objects\\{resource="widgets",api_version="${GROUP}/v1"\\} 5`),
      );
      expect(metrics).toMatch(
        /widget_server_storage_migration_rewritten_objects_total\{resource="widgets"\} 3/,
      );
    } finally {
      await upgraded.close();
    }
  });
});
