/**
 * The NamespaceLifecycle admission plugin and its namespace informer in-process, against the test bed's
 * real kube-apiserver (admin kubeconfig): the informer's first list and its watch, a create into a
 * missing namespace (404 with kube-apiserver's Status), into a terminating one (403, NamespaceTerminating
 * cause; kept terminating by a ConfigMap with a finalizer), into one created a moment before that the
 * cache has not seen (the live lookup), updates and deletes, and a plugin whose informer never syncs.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { ApiError } from '../../src/shared/status-errors';
import {
  AdmissionChain,
  type AdmissionAttributes,
  type Operation,
} from '../../src/widget-server/admission/admission';
import { NamespaceInformer } from '../../src/widget-server/admission/namespace-informer';
import { NamespaceLifecycle } from '../../src/widget-server/admission/namespace-lifecycle';
import { loadKubeConfig } from '../../src/widget-server/auth/kube-delegation';
import { KubeRest } from '../../src/shared/kube/rest';
import { ensureClusterUp, eventually, k, withLogTails } from './cluster';

jest.setTimeout(5 * 60 * 1000);

const suffix = randomBytes(3).toString('hex');
const active = `nl-active-${suffix}`;
const terminating = `nl-terminating-${suffix}`;
const missing = `nl-missing-${suffix}`;
const fresh = `nl-fresh-${suffix}`;
const HOLD = 'example.com/hold';
const logger = pino({ level: 'silent' });

let informer: NamespaceInformer;
let chain: AdmissionChain;

const attributes = (operation: Operation, namespace: string, name = 'w'): AdmissionAttributes => ({
  operation,
  kind: { group: 'custom.example.com', version: 'v1', kind: 'Widget' },
  resource: { group: 'custom.example.com', version: 'v1', resource: 'widgets' },
  subresource: '',
  namespace,
  name,
  object:
    operation === 'DELETE'
      ? undefined
      : { apiVersion: 'custom.example.com/v1', kind: 'Widget', metadata: { name, namespace } },
  dryRun: false,
});

async function refusal(a: AdmissionAttributes): Promise<ReturnType<ApiError['toStatus']>> {
  const err = await chain.run(a).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected a refusal, got ${String(err)}`);
  return err.toStatus();
}

beforeAll(async () => {
  const kubeconfig = ensureClusterUp();
  await k(['create', 'namespace', active]);
  await k(['create', 'namespace', terminating]);
  // A finalizer nobody removes keeps the namespace Terminating until afterAll lifts it.
  await k(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'hold', namespace: terminating, finalizers: [HOLD] },
    }),
  );
  await k(['delete', 'namespace', terminating, '--wait=false']);
  informer = new NamespaceInformer(new KubeRest(loadKubeConfig(kubeconfig)), logger);
  informer.start();
  chain = new AdmissionChain([new NamespaceLifecycle(informer)]);
  await eventually('the namespace informer to sync', async () => informer.hasSynced, 60_000);
  await eventually(
    'the informer to see the terminating namespace',
    async () => informer.get(terminating)?.status?.phase === 'Terminating',
    60_000,
  );
});

afterAll(async () => {
  informer?.stop();
  await k([
    '-n',
    terminating,
    'patch',
    'configmap',
    'hold',
    '--type=merge',
    '-p',
    '{"metadata":{"finalizers":null}}',
  ]).catch(() => undefined);
  for (const ns of [active, fresh, terminating]) {
    await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  }
});

test(
  'creates in an active namespace are admitted; in a missing one, 404 as kube-apiserver answers',
  withLogTails(async () => {
    await expect(chain.run(attributes('CREATE', active))).resolves.toBeUndefined();
    const status = await refusal(attributes('CREATE', missing));
    expect(status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `namespaces "${missing}" not found`,
      reason: 'NotFound',
      details: { name: missing, kind: 'namespaces' },
      code: 404,
    });
    // The same answer kube-apiserver gives for its own resources (its NamespaceLifecycle plugin).
    const kube = await k(['-n', missing, 'create', 'configmap', 'x']).then(
      () => '',
      (e: { stderr?: string }) => e.stderr ?? '',
    );
    expect(kube).toContain(`namespaces "${missing}" not found`);
  }),
);

test(
  'creates in a terminating namespace are 403 with the NamespaceTerminating cause; updates and deletes pass',
  withLogTails(async () => {
    const status = await refusal(attributes('CREATE', terminating, 'w1'));
    expect(status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `widgets.custom.example.com "w1" is forbidden: unable to create new content in namespace ${terminating} because it is being terminated`,
      reason: 'Forbidden',
      details: {
        name: 'w1',
        group: 'custom.example.com',
        kind: 'widgets',
        causes: [
          {
            reason: 'NamespaceTerminating',
            message: `namespace ${terminating} is being terminated`,
            field: 'metadata.namespace',
          },
        ],
      },
      code: 403,
    });
    // kube-apiserver's own message for the same case, for comparison.
    const kube = await k(['-n', terminating, 'create', 'configmap', 'x']).then(
      () => '',
      (e: { stderr?: string }) => e.stderr ?? '',
    );
    expect(kube).toContain(
      `unable to create new content in namespace ${terminating} because it is being terminated`,
    );
    await expect(chain.run(attributes('UPDATE', terminating))).resolves.toBeUndefined();
    await expect(chain.run(attributes('DELETE', terminating))).resolves.toBeUndefined();
  }),
);

test(
  'updates need the namespace to exist; deletes never look',
  withLogTails(async () => {
    expect(await refusal(attributes('UPDATE', missing))).toMatchObject({
      code: 404,
      message: `namespaces "${missing}" not found`,
    });
    await expect(chain.run(attributes('DELETE', missing))).resolves.toBeUndefined();
  }),
);

test(
  'a namespace created a moment ago is found by the live lookup when the cache has not seen it',
  withLogTails(async () => {
    // An informer that synced and then stopped watching: its cache can never learn of the namespace,
    // so admitting the create proves the live GET.
    const frozen = new NamespaceInformer(new KubeRest(loadKubeConfig(ensureClusterUp())), logger);
    frozen.start();
    await eventually('the second informer to sync', async () => frozen.hasSynced, 60_000);
    frozen.stop();
    await k(['create', 'namespace', fresh]);
    expect(frozen.get(fresh)).toBeUndefined();
    const frozenChain = new AdmissionChain([new NamespaceLifecycle(frozen)]);
    await expect(frozenChain.run(attributes('CREATE', fresh))).resolves.toBeUndefined();
    // The live informer learns of it through its watch.
    await eventually('the informer to see the new namespace', async () => !!informer.get(fresh), 30_000);
  }),
);

test(
  'a plugin whose informer cannot sync refuses with "not yet ready to handle request"',
  withLogTails(async () => {
    // Nothing listens on port 1: the list never succeeds.
    const kc = { ...loadKubeConfig(ensureClusterUp()), server: new URL('https://127.0.0.1:1') };
    const dead = new NamespaceInformer(new KubeRest(kc), logger);
    dead.start();
    try {
      const plugin = new NamespaceLifecycle(dead, { readyWaitMs: 300 });
      const err = await plugin.admit(attributes('CREATE', active, 'w2')).catch((e: unknown) => e);
      expect((err as ApiError).toStatus()).toMatchObject({
        code: 403,
        reason: 'Forbidden',
        message: 'widgets.custom.example.com "w2" is forbidden: not yet ready to handle request',
      });
      expect(dead.hasSynced).toBe(false);
    } finally {
      dead.stop();
    }
  }),
);
