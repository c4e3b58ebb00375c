/**
 * NamespaceLifecycle end to end: widgets created through kube-apiserver (kubectl and the client library
 * with the admin kubeconfig) into the sample AggregatedAPI `widgets`, whose server runs the image built
 * from this checkout. A missing namespace is 404 with kube-apiserver's Status and nothing is stored (dry
 * run too); a terminating namespace (held by a widget with a finalizer) is 403 NamespaceTerminating, while
 * the held widget can still be updated; a namespace created a moment before accepts the create.
 */
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import {
  createWidgetThroughKube,
  ensureClusterUp,
  eventually,
  installSampleWidgetsApi,
  k,
  withLogTails,
} from './cluster';
import { dryRunCreate, untilEveryReplica } from './server-replicas';

jest.setTimeout(20 * 60 * 1000);

const SERVER_NS = 'widgets-system';
const GROUP = 'custom.example.com';
const suffix = randomBytes(3).toString('hex');
const missing = `nl-missing-${suffix}`;
const terminating = `nl-terminating-${suffix}`;
const fresh = `nl-fresh-${suffix}`;
const HOLD = 'example.com/hold';

let api: CustomObjectsApi;
/** Whether this suite installed the sample AggregatedAPI (then it removes it: other suites claim its group). */

const widget = (name: string, namespace: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Widget',
  metadata: { name, namespace, ...extra },
  spec: { image: 'nginx:1.27', replicas: 1 },
});

const create = (namespace: string, body: object, dryRun = false) =>
  createWidgetThroughKube(api, namespace, body, dryRun);

async function widgetsIn(namespace: string): Promise<string[]> {
  const list = JSON.parse(await k(['get', 'widgets', '-n', namespace, '-o', 'json'])) as {
    items: { metadata: { name: string } }[];
  };
  return list.items.map((w) => w.metadata.name);
}

/** Lifts the finalizer that holds the terminating namespace (an update, allowed while it terminates). */
function releaseHeld(): Promise<string> {
  return k([
    '-n',
    terminating,
    'patch',
    'widget',
    'held',
    '--type=merge',
    '-p',
    '{"metadata":{"finalizers":null}}',
  ]);
}

async function kubectlError(args: string[], input?: string): Promise<string> {
  return k(args, input).then(
    (out) => `unexpected success: ${out}`,
    (e: { stderr?: string }) => e.stderr ?? String(e),
  );
}

beforeAll(async () => {
  const kubeconfig = ensureClusterUp();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  api = kc.makeApiClient(CustomObjectsApi);
  await installSampleWidgetsApi();
});

afterAll(async () => {
  await releaseHeld().catch(() => undefined);
  for (const ns of [terminating, fresh]) {
    await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  }
  // The aggregator suite serves custom.example.com by hand: leave the group as this suite found it.
});

test(
  'the server reports the namespace informer in /readyz',
  withLogTails(async () => {
    const verbose = await k([
      'get',
      '--raw',
      `/api/v1/namespaces/${SERVER_NS}/services/https:widgets-apiserver:443/proxy/readyz?verbose`,
    ]);
    expect(verbose).toContain('[+]informer-sync ok');
  }),
);

test(
  'a create into a missing namespace is 404 NotFound for the namespace, and nothing is stored (dry run too)',
  withLogTails(async () => {
    const expected = {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: `namespaces "${missing}" not found`,
      reason: 'NotFound',
      details: { name: missing, kind: 'namespaces' },
      code: 404,
    };
    expect(await create(missing, widget('w1', missing))).toMatchObject(expected);
    expect(await create(missing, widget('w1', missing), true)).toMatchObject(expected);
    expect(await kubectlError(['create', '-f', '-'], JSON.stringify(widget('w2', missing)))).toContain(
      `Error from server (NotFound): error when creating "STDIN": namespaces "${missing}" not found`,
    );
    expect(
      await kubectlError(['create', '--dry-run=server', '-f', '-'], JSON.stringify(widget('w3', missing))),
    ).toContain(`namespaces "${missing}" not found`);
    expect(await widgetsIn(missing)).toEqual([]);
  }),
);

test(
  'a namespace created a moment ago accepts the create at once',
  withLogTails(async () => {
    await k(['create', 'namespace', fresh]);
    expect(await create(fresh, widget('w1', fresh))).toBeUndefined();
    expect(await widgetsIn(fresh)).toEqual(['w1']);
  }),
);

test(
  'a create into a terminating namespace is 403 NamespaceTerminating; the held widget can still be updated',
  withLogTails(async () => {
    await k(['create', 'namespace', terminating]);
    expect(await create(terminating, widget('held', terminating, { finalizers: [HOLD] }))).toBeUndefined();
    await k(['delete', 'namespace', terminating, '--wait=false']);
    // The namespace controller deletes the widget, which its finalizer holds: the namespace stays Terminating.
    await eventually(
      'the held widget to be marked for deletion',
      async () =>
        (
          await k([
            '-n',
            terminating,
            'get',
            'widget',
            'held',
            '-o',
            'jsonpath={.metadata.deletionTimestamp}',
          ])
        ).trim(),
      120_000,
    );
    expect((await k(['get', 'namespace', terminating, '-o', 'jsonpath={.status.phase}'])).trim()).toBe(
      'Terminating',
    );
    // Dry runs have no effect: they show when the server's informer has seen the phase (milliseconds).
    await untilEveryReplica(
      'sees the namespace terminating',
      dryRunCreate(terminating, widget('probe', terminating)),
      (r) => r.status === 403,
      30_000,
    );
    const status = await create(terminating, widget('w2', terminating));
    expect(status).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Forbidden',
      code: 403,
      message: `widgets.${GROUP} "w2" is forbidden: unable to create new content in namespace ${terminating} because it is being terminated`,
      details: {
        name: 'w2',
        group: GROUP,
        kind: 'widgets',
        causes: [
          {
            reason: 'NamespaceTerminating',
            message: `namespace ${terminating} is being terminated`,
            field: 'metadata.namespace',
          },
        ],
      },
    });
    expect(await kubectlError(['create', '-f', '-'], JSON.stringify(widget('w3', terminating)))).toContain(
      `unable to create new content in namespace ${terminating} because it is being terminated`,
    );
    expect(await widgetsIn(terminating)).toEqual(['held']);
    // Updates are allowed in a terminating namespace: lifting the finalizer lets the namespace go.
    await releaseHeld();
    await eventually(
      'the terminating namespace to be gone',
      async () =>
        (await k(['get', 'namespace', terminating, '--ignore-not-found', '-o', 'name'])).trim() === '',
      180_000,
    );
  }),
);
