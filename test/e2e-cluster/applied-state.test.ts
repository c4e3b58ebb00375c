/**
 * Skipping applies that cannot change anything (src/shared/kube/applied-state.ts), against the bed's
 * kube-apiserver with a real informer, as the operator wires them: a second apply of the same document
 * is not sent while the object is as our apply left it; a change by another field manager, a delete,
 * a different document, and an informer that has not caught up each make the next apply go out, and
 * the drift is repaired. Writes are counted where the client asks whether it may write.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { kubeconfigFromFile } from '../../src/shared/kube/client-config';
import { AppliedState } from '../../src/shared/kube/applied-state';
import { Informer } from '../../src/shared/kube/informer';
import { KubeRest, resourcePath, type KubeObject, type ResourceRef } from '../../src/shared/kube/rest';
import { ensureClusterUp, eventually, k, kubeconfigPath } from './cluster';

jest.setTimeout(5 * 60 * 1000);

const ns = `applied-${randomBytes(3).toString('hex')}`;
const CONFIG_MAP: ResourceRef = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};
const logger = pino({ level: 'silent' });

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}
const configMap = (name: string, data: Record<string, string>): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns, labels: { 'test.example.com/applied': 'yes' } },
  data,
});

let informer: Informer<ConfigMap>;
let rest: KubeRest;
let other: KubeRest;
let writes = 0;

beforeAll(async () => {
  ensureClusterUp();
  await k(['create', 'namespace', ns]);
  const config = kubeconfigFromFile(kubeconfigPath);
  const plain = new KubeRest(config);
  informer = new Informer<ConfigMap>(
    plain,
    { path: resourcePath(CONFIG_MAP, ns), labelSelector: 'test.example.com/applied=yes', name: 'ConfigMap' },
    logger,
  );
  const applied = new AppliedState((ref, namespace, name) =>
    ref === CONFIG_MAP ? informer.get(`${namespace}/${name}`) : undefined,
  );
  rest = new KubeRest(config, {
    fieldManager: 'applied-state-test',
    applied,
    mayWrite: () => {
      writes++;
      return true;
    },
  });
  other = new KubeRest(config, { fieldManager: 'someone-else' });
  informer.start();
  await informer.synced;
});

afterAll(async () => {
  informer?.stop();
  await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

/** Waits until the informer shows the object at `resourceVersion` (or gone, for undefined). */
const informerAt = (name: string, resourceVersion: string | undefined) =>
  eventually(`the informer to show ${name} at ${resourceVersion ?? 'deleted'}`, async () => {
    const cached = informer.get(`${ns}/${name}`);
    return (cached?.metadata?.resourceVersion === resourceVersion || (!cached && !resourceVersion)) && true;
  });

test('an unchanged apply to an unchanged object is not sent; any other write makes the next one go out', async () => {
  const doc = configMap('settings', { color: 'blue' });
  const first = await rest.apply<ConfigMap>(CONFIG_MAP, doc);
  expect(writes).toBe(1);
  // The informer has not necessarily seen our write yet: until it has, applies are sent.
  await informerAt('settings', first.metadata!.resourceVersion);

  const again = await rest.apply<ConfigMap>(CONFIG_MAP, doc);
  expect(writes).toBe(1);
  expect(again.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
  expect(again.data).toEqual({ color: 'blue' });

  // Another field manager takes the field over: the next apply is sent and takes it back (force).
  const drifted = await other.apply<ConfigMap>(CONFIG_MAP, configMap('settings', { color: 'red' }));
  await informerAt('settings', drifted.metadata!.resourceVersion);
  const repaired = await rest.apply<ConfigMap>(CONFIG_MAP, doc);
  expect(writes).toBe(2);
  expect(repaired.data).toEqual({ color: 'blue' });
  const live = JSON.parse(await k(['-n', ns, 'get', 'configmap', 'settings', '-o', 'json'])) as ConfigMap;
  expect(live.data).toEqual({ color: 'blue' });

  // A different document is sent even when the object has not changed.
  await informerAt('settings', repaired.metadata!.resourceVersion);
  const changed = await rest.apply<ConfigMap>(CONFIG_MAP, configMap('settings', { color: 'green' }));
  expect(writes).toBe(3);
  expect(changed.data).toEqual({ color: 'green' });

  // Deleted behind our back: the informer sees it go, and the next apply re-creates it.
  await informerAt('settings', changed.metadata!.resourceVersion);
  await k(['-n', ns, 'delete', 'configmap', 'settings']);
  await informerAt('settings', undefined);
  const recreated = await rest.apply<ConfigMap>(CONFIG_MAP, configMap('settings', { color: 'green' }));
  expect(writes).toBe(4);
  expect(recreated.metadata?.uid).not.toBe(changed.metadata?.uid);
  expect(recreated.data).toEqual({ color: 'green' });
});

test('an object the informer does not hold (no label, so not selected) is always applied', async () => {
  const unlabelled: ConfigMap = {
    ...configMap('plain', { a: '1' }),
    metadata: { name: 'plain', namespace: ns },
  };
  const before = writes;
  const first = await rest.apply<ConfigMap>(CONFIG_MAP, unlabelled);
  await new Promise((r) => setTimeout(r, 500));
  const second = await rest.apply<ConfigMap>(CONFIG_MAP, unlabelled);
  expect(writes).toBe(before + 2);
  // kube-apiserver itself saw nothing to change: the no-op apply kept the resourceVersion.
  expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
});
