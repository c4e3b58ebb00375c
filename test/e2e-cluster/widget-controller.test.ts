/**
 * The Widget controller end to end: the sample AggregatedAPI `widgets` runs the Widget server from this
 * checkout, whose leader runs the controller. Widgets applied with kubectl through kube-apiserver become
 * Deployments of their image (the bed's pause image, which runs anywhere here) and report `Running`
 * with their available replicas, also after `kubectl scale`; `kubectl wait --for=condition=Available`
 * works on them; an image that cannot be pulled makes the Widget `Failed` with the reason; and deleting
 * a Widget lets the garbage collector remove its Deployment. A controller stopped before it could list
 * its Widgets (its group not served yet) stops at once and gives up its Lease.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { loadKubeConfig } from '../../src/widget-server/auth/kube-delegation';
import { LEASE_NAME, runWidgetController } from '../../src/widget-controller/run';
import {
  ensureClusterUp,
  eventually,
  installSampleWidgetsApi,
  k,
  kubeconfigPath,
  withLogTails,
} from './cluster';

jest.setTimeout(20 * 60 * 1000);

const GROUP = 'custom.example.com';
const ns = `wctl-${randomBytes(3).toString('hex')}`;

const widget = (name: string, image: string, replicas: number) =>
  JSON.stringify({
    apiVersion: `${GROUP}/v1`,
    kind: 'Widget',
    metadata: { name, namespace: ns },
    spec: { image, replicas, color: 'green' },
  });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const getJson = async (args: string[]): Promise<any> => JSON.parse(await k([...args, '-o', 'json']));

beforeAll(async () => {
  ensureClusterUp();
  await installSampleWidgetsApi();
  await k(['create', 'namespace', ns]);
});

afterAll(async () => {
  await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

test(
  'a Widget runs as its Deployment and reports Running with its replicas available, also after kubectl scale',
  withLogTails(async () => {
    const started = Date.now();
    await k(['apply', '-f', '-'], widget('runner', 'localhost/pause:bed', 2));
    const running = await eventually(
      'the Widget to be Running with 2 available',
      async () => {
        const w = await getJson(['-n', ns, 'get', 'widget', 'runner']);
        return w.status?.phase === 'Running' && w.status?.availableReplicas === 2 && w;
      },
      180_000,
    );
    const toRunning = (Date.now() - started) / 1000;
    const d = await getJson(['-n', ns, 'get', 'deployment', 'runner']);
    expect(d.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'Widget',
        name: 'runner',
        uid: running.metadata.uid,
        controller: true,
      }),
    ]);
    expect(d.metadata.labels).toMatchObject({
      'app.kubernetes.io/instance': 'runner',
      'app.kubernetes.io/managed-by': 'widget-controller',
      [`${GROUP}/color`]: 'green',
    });
    expect(d.spec.template.spec.containers[0].image).toBe('localhost/pause:bed');
    expect(running.status.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Available', status: 'True', observedGeneration: 1 }),
        expect.objectContaining({ type: 'Progressing', status: 'True', observedGeneration: 1 }),
      ]),
    );
    // The condition tooling reads it as any other object's.
    await k(['-n', ns, 'wait', '--for=condition=Available', 'widget/runner', '--timeout=30s']);

    const scaledAt = Date.now();
    await k(['-n', ns, 'scale', 'widget', 'runner', '--replicas=3']);
    await eventually(
      'the Widget to have 3 available after kubectl scale',
      async () => {
        const w = await getJson(['-n', ns, 'get', 'widget', 'runner']);
        return w.status?.availableReplicas === 3 && w.status?.phase === 'Running';
      },
      180_000,
    );
    const toScaled = (Date.now() - scaledAt) / 1000;
    expect((await getJson(['-n', ns, 'get', 'deployment', 'runner'])).spec.replicas).toBe(3);
    // The Scale reports what runs, and its selector finds the Widget's pods.
    const scale = JSON.parse(
      await k(['get', '--raw', `/apis/${GROUP}/v1/namespaces/${ns}/widgets/runner/scale`]),
    );
    expect(scale.status.replicas).toBe(3);
    const pods = await getJson(['-n', ns, 'get', 'pods', '-l', scale.status.selector]);
    expect(pods.items).toHaveLength(3);
    console.log(
      `widget controller: Running in ${toRunning.toFixed(1)} s; scaled 2 -> 3 in ${toScaled.toFixed(1)} s`,
    );
  }),
);

test(
  'an image that cannot be pulled makes the Widget Failed with the reason',
  withLogTails(async () => {
    await k(['apply', '-f', '-'], widget('broken', 'localhost/no-such-image:1', 1));
    const failed = await eventually(
      'the Widget to be Failed',
      async () => {
        const w = await getJson(['-n', ns, 'get', 'widget', 'broken']);
        return w.status?.phase === 'Failed' && w;
      },
      180_000,
    );
    const progressing = failed.status.conditions.find((c: { type: string }) => c.type === 'Progressing');
    expect(progressing).toMatchObject({
      status: 'False',
      reason: expect.stringMatching(/ErrImagePull|ImagePullBackOff/),
    });
    expect(progressing.message).toMatch(/^pod broken-/);
  }),
);

test(
  'deleting a Widget lets the garbage collector remove its Deployment',
  withLogTails(async () => {
    await k(['-n', ns, 'delete', 'widget', 'broken']);
    await eventually(
      'the Deployment of the deleted Widget to be gone',
      async () =>
        !(await k(['-n', ns, 'get', 'deployment', 'broken', '--ignore-not-found', '-o', 'name'])).trim(),
      120_000,
    );
    // The other Widget's Deployment stays.
    expect((await k(['-n', ns, 'get', 'deployment', 'runner', '-o', 'name'])).trim()).toBe(
      'deployment.apps/runner',
    );
  }),
);

test('a controller stopped before its Widgets can be listed stops at once and releases its Lease', async () => {
  // A group nobody serves: its list is a 404 from kube-apiserver, retried, as a server's own list is
  // until its APIService is available. Stopping then used to wait for a sync that never came.
  const lines: { msg?: string; informer?: string }[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) },
  );
  const running = runWidgetController(
    loadKubeConfig(kubeconfigPath),
    { group: `unserved-${randomBytes(3).toString('hex')}.example.com`, version: 'v1', leaseNamespace: ns },
    logger,
  );
  await eventually(
    'the controller to lead and its Widget list to fail',
    async () =>
      lines.some((l) => l.msg === 'became leader') &&
      lines.some((l) => l.msg === 'list/watch failed; retrying' && l.informer === 'Widget'),
    30_000,
  );
  const started = Date.now();
  await running.stop();
  const stopSeconds = (Date.now() - started) / 1000;
  expect(stopSeconds).toBeLessThan(5);
  const lease = await getJson(['-n', ns, 'get', 'lease', LEASE_NAME]);
  expect(lease.spec.holderIdentity ?? '').toBe('');
  expect(lines.map((l) => l.msg)).toContain('released the lease');
});
