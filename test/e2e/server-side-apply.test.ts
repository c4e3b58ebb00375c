/**
 * Server-side apply and managedFields with the real kubectl, on both stores: apply creates and re-applies
 * without change, a second manager's change is a conflict naming field and manager, --force-conflicts
 * takes it over, fields a manager stops applying are removed, kubectl scale and patch --subresource
 * are recorded with their subresource, the client-side -> server-side apply upgrade works, and bad
 * requests get kube-apiserver's answers.
 */
import { kubectl, kubectlOk } from '../support/kubectl';
import { startServerOnStore, type StoreKind, type TestServer } from '../support/widget-server';
import { ApiClient } from '../support/api-client';

jest.setTimeout(120000);

const yaml = (name: string, spec: string, labels = '') => `apiVersion: custom.example.com/v1
kind: Widget
metadata:
  name: ${name}
${labels}spec:
${spec}`;

interface Entry {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1: Record<string, unknown>;
}

describe.each<StoreKind>(['memory', 'etcd'])('server-side apply (%s store)', (store) => {
  let server: TestServer;
  let kc: string;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServerOnStore(store, 'ssa');
    kc = server.kubeconfig;
    api = new ApiClient(server);
  });

  afterAll(async () => {
    await server?.close();
  });

  const managed = async (name: string): Promise<Entry[]> =>
    JSON.parse(await kubectlOk(kc, ['get', 'widget', name, '--show-managed-fields', '-o', 'json'])).metadata
      .managedFields;

  test('apply creates, owns what it sent, and re-applying changes nothing', async () => {
    const manifest = yaml('ssa1', '  image: nginx:1.27\n  replicas: 2\n');
    expect(await kubectlOk(kc, ['apply', '--server-side', '-f', '-'], manifest)).toMatch(
      /widget.custom.example.com\/ssa1 serverside-applied/,
    );
    const entries = await managed('ssa1');
    expect(entries).toEqual([
      expect.objectContaining({
        manager: 'kubectl',
        operation: 'Apply',
        apiVersion: 'custom.example.com/v1',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:image': {}, 'f:replicas': {} } },
      }),
    ]);
    const rv = await kubectlOk(kc, ['get', 'widget', 'ssa1', '-o', 'jsonpath={.metadata.resourceVersion}']);
    await kubectlOk(kc, ['apply', '--server-side', '-f', '-'], manifest);
    expect(await kubectlOk(kc, ['get', 'widget', 'ssa1', '-o', 'jsonpath={.metadata.resourceVersion}'])).toBe(
      rv,
    );
    // Hidden from kubectl's default output, as for any object.
    expect(await kubectlOk(kc, ['get', 'widget', 'ssa1', '-o', 'yaml'])).not.toMatch(/managedFields/);
  });

  test('a field another manager changed is a conflict naming it; --force-conflicts takes it over', async () => {
    await kubectlOk(kc, [
      'patch',
      'widget',
      'ssa1',
      '--type=merge',
      '--field-manager=tuner',
      '-p',
      '{"spec":{"replicas":5}}',
    ]);
    const manifest = yaml('ssa1', '  image: nginx:1.27\n  replicas: 2\n');
    const conflict = await kubectl(kc, ['apply', '--server-side', '-f', '-'], manifest);
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/conflict with "tuner" using custom.example.com\/v1/);
    expect(conflict.stderr).toMatch(/\.spec\.replicas/);
    expect(await kubectlOk(kc, ['get', 'widget', 'ssa1', '-o', 'jsonpath={.spec.replicas}'])).toBe('5');
    await kubectlOk(kc, ['apply', '--server-side', '--force-conflicts', '-f', '-'], manifest);
    expect(await kubectlOk(kc, ['get', 'widget', 'ssa1', '-o', 'jsonpath={.spec.replicas}'])).toBe('2');
    const entries = await managed('ssa1');
    expect(entries.find((e) => e.manager === 'tuner')).toBeUndefined();
  });

  test('fields a manager stops applying are removed, unless another manager owns them', async () => {
    const labels = (l: string) => `  labels:\n${l}`;
    await kubectlOk(
      kc,
      ['apply', '--server-side', '--field-manager=labeller', '-f', '-'],
      yaml('ssa2', '  image: nginx\n', labels('    a: "1"\n    b: "1"\n')),
    );
    await kubectlOk(kc, ['label', 'widget', 'ssa2', 'c=1']);
    await kubectlOk(
      kc,
      ['apply', '--server-side', '--field-manager=labeller', '-f', '-'],
      yaml('ssa2', '  image: nginx\n', labels('    a: "1"\n')),
    );
    const got = JSON.parse(await kubectlOk(kc, ['get', 'widget', 'ssa2', '-o', 'json']));
    expect(got.metadata.labels).toEqual({ a: '1', c: '1' });
  });

  test('kubectl scale and patch --subresource=status are recorded with their subresource', async () => {
    await kubectlOk(kc, ['scale', 'widget', 'ssa1', '--replicas=3']);
    await kubectlOk(kc, [
      'patch',
      'widget',
      'ssa1',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Running"}}',
    ]);
    const entries = await managed('ssa1');
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          operation: 'Update',
          subresource: 'scale',
          fieldsV1: { 'f:spec': { 'f:replicas': {} } },
        }),
        expect.objectContaining({ manager: 'kubectl-patch', operation: 'Update', subresource: 'status' }),
      ]),
    );
    const status = entries.find((e) => e.subresource === 'status')!;
    expect(Object.keys(status.fieldsV1)).toEqual(['f:status']);
  });

  test('client-side apply, then apply --server-side: kubectl upgrades the manager', async () => {
    const manifest = yaml('ssa3', '  image: nginx\n  replicas: 1\n');
    await kubectlOk(kc, ['apply', '-f', '-'], manifest);
    expect((await managed('ssa3')).map((e) => e.manager)).toContain('kubectl-client-side-apply');
    // kubectl applies, upgrades the client-side entry and applies again: none of it may fail or warn.
    const upgraded = await kubectl(
      kc,
      ['apply', '--server-side', '-f', '-'],
      manifest.replace('replicas: 1', 'replicas: 4'),
    );
    expect(upgraded.code).toBe(0);
    expect(upgraded.stderr).toBe('');
    const entries = await managed('ssa3');
    expect(entries.find((e) => e.manager === 'kubectl' && e.operation === 'Apply')).toBeDefined();
    expect(await kubectlOk(kc, ['get', 'widget', 'ssa3', '-o', 'jsonpath={.spec.replicas}'])).toBe('4');
  });

  test('apply with --dry-run=server neither creates nor changes anything', async () => {
    const fresh = yaml('ssa-dry', '  image: nginx\n');
    expect(await kubectlOk(kc, ['apply', '--server-side', '--dry-run=server', '-f', '-'], fresh)).toMatch(
      /ssa-dry serverside-applied \(server dry run\)/,
    );
    expect((await kubectl(kc, ['get', 'widget', 'ssa-dry'])).code).not.toBe(0);
    const before = await kubectlOk(kc, ['get', 'widget', 'ssa1', '-o', 'json']);
    await kubectlOk(
      kc,
      ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'],
      yaml('ssa1', '  image: nginx:1.28\n  replicas: 9\n'),
    );
    expect(await kubectlOk(kc, ['get', 'widget', 'ssa1', '-o', 'json'])).toBe(before);
  });

  test('apply needs a fieldManager, refuses managedFields in the configuration, and force only goes with apply', async () => {
    const body =
      'apiVersion: custom.example.com/v1\nkind: Widget\nmetadata:\n  name: ssa4\nspec:\n  image: nginx\n';
    const W = '/apis/custom.example.com/v1/namespaces/default/widgets/ssa4';
    const applyYaml = (query: string, rawBody: string) =>
      api.request('PATCH', `${W}${query}`, { rawBody, contentType: 'application/apply-patch+yaml' });
    const noManager = await applyYaml('', body);
    expect(noManager.status).toBe(422);
    expect(noManager.json.message).toMatch(/fieldManager: Required value: is required for apply patch/);
    const withFields = await applyYaml(
      '?fieldManager=m',
      body.replace('  name: ssa4\n', '  name: ssa4\n  managedFields: []\n'),
    );
    expect(withFields.status).toBe(400);
    const created = await applyYaml('?fieldManager=m', body);
    expect(created.status).toBe(201);
    const forced = await api.patch(
      `${W}?force=true`,
      { spec: { replicas: 2 } },
      'application/merge-patch+json',
    );
    expect(forced.status).toBe(422);
    expect(forced.json.message).toMatch(/force: Forbidden: may not be specified for non-apply patch/);
  });
});
