/**
 * The e2e suites' handle on the local test cluster: brings it up through test/cluster/cluster.sh (a no-op
 * when it is already running), hands out the admin kubeconfig, and prints the tail of every component's
 * log when a suite fails, so a red run says why.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { kubectlEnv } from '../support/kubectl';

const root = path.resolve(__dirname, '../..');
export const clusterDir = process.env.CLUSTER_STATE_DIR ?? path.join(root, '.cluster');
export const kubeconfigPath = path.join(clusterDir, 'kubeconfig');
const run = promisify(execFile);

let upAlready = false;

/**
 * Brings the bed up (builds what is missing, starts what is stopped; about 10 s when warm, up to half an
 * hour on a cold machine). Progress goes to this process's stderr so a long first build is visible.
 * Returns the admin kubeconfig path.
 */
export function ensureClusterUp(): string {
  if (upAlready) return kubeconfigPath;
  const result = spawnSync('bash', [path.join(root, 'test/cluster/cluster.sh'), 'up'], {
    encoding: 'utf8',
    stdio: ['ignore', process.stderr.fd, process.stderr.fd],
    timeout: 40 * 60 * 1000,
  });
  if (result.status !== 0) {
    throw new Error(
      `test/cluster/cluster.sh up failed (status ${result.status}${result.signal ? `, ${result.signal}` : ''}${result.error ? `, ${result.error.message}` : ''})\n${componentLogTails()}`,
    );
  }
  upAlready = true;
  return kubeconfigPath;
}

/** Runs a test body; if it throws, the error carries the tail of every component's log. */
export function withLogTails(body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (e) {
      if (e instanceof Error && !e.message.includes('----- kube-apiserver.log')) {
        e.message += `\n${componentLogTails()}`;
      }
      throw e;
    }
  };
}

export function componentLogTails(lines = 30): string {
  const dir = path.join(clusterDir, 'logs');
  if (!existsSync(dir)) return '(no component logs)';
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => {
      const text = readFileSync(path.join(dir, f), 'utf8').trimEnd().split('\n');
      return `----- ${f} (last ${lines} lines) -----\n${text.slice(-lines).join('\n')}`;
    })
    .join('\n');
}

/**
 * Forgets kubectl's cached discovery for the bed. A suite that served a resource name (`widgets`) from a
 * group of its own calls this once that group is gone: otherwise a later suite's `kubectl get widgets`
 * could still resolve to the cached, deleted group and get a 404.
 */
export function forgetCachedDiscovery(): void {
  rmSync(kubectlEnv(kubeconfigPath).KUBECACHEDIR!, { recursive: true, force: true });
}

export async function k(args: string[], input?: string): Promise<string> {
  return (await kubectlOutput(args, input)).stdout;
}

/** kubectl's stdout and stderr (where it prints the response's warnings). */
export async function kubectlOutput(
  args: string[],
  input?: string,
): Promise<{ stdout: string; stderr: string }> {
  const child = run('kubectl', ['--kubeconfig', kubeconfigPath, ...args], {
    maxBuffer: 16 * 1024 * 1024,
    env: kubectlEnv(kubeconfigPath),
  });
  if (input !== undefined) child.child.stdin?.end(input);
  const { stdout, stderr } = await child;
  return { stdout, stderr };
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 120000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${last ? `: ${String(last)}` : ''}\n${componentLogTails()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export const OPERATOR_NS = 'aggregator-operator-system';

const OPERATOR_IMAGE = 'localhost/aggregator-operator:dev';

/** The image id (config digest, as pods report it) the operator's tag names in the node's containerd now. */
async function taggedOperatorImageID(): Promise<string | undefined> {
  const ctr = (...args: string[]) =>
    run(
      'ctr',
      ['--address', path.join(clusterDir, 'containerd', 'containerd.sock'), '-n', 'k8s.io', ...args],
      {
        maxBuffer: 4 * 1024 * 1024,
      },
    );
  try {
    const listed = (await ctr('images', 'ls', `name==${OPERATOR_IMAGE}`)).stdout.split('\n')[1]?.split(/\s+/);
    const manifest = listed?.[2];
    if (!manifest?.startsWith('sha256:')) return undefined;
    return JSON.parse((await ctr('content', 'get', manifest)).stdout).config?.digest;
  } catch {
    return undefined;
  }
}

/**
 * Installs the operator from config/local and, unless every operator pod already runs the image
 * cluster.sh last built from this checkout, restarts it onto that image (the image keeps its tag, so a
 * changed image needs a restart), then waits for the rollout. Suites after the first find it current
 * and skip the restart.
 */
export async function installOperatorFromCheckout(): Promise<void> {
  await k(['apply', '-k', path.join(root, 'config/local')]);
  await k([
    'wait',
    '--for=condition=Established',
    'crd/aggregatedapis.aggregation.example.com',
    '--timeout=60s',
  ]);
  const tagged = await taggedOperatorImageID();
  const running = (
    await k([
      '-n',
      OPERATOR_NS,
      'get',
      'pods',
      '-l',
      'app.kubernetes.io/name=aggregator-operator',
      '-o',
      'jsonpath={range .items[*]}{.status.containerStatuses[0].imageID}{"\\n"}{end}',
    ])
  )
    .split('\n')
    .filter(Boolean);
  const current = !!tagged && running.length > 0 && running.every((id) => id === tagged);
  if (!current) await k(['-n', OPERATOR_NS, 'rollout', 'restart', 'deployment/aggregator-operator']);
  await k(['-n', OPERATOR_NS, 'rollout', 'status', 'deployment/aggregator-operator', '--timeout=300s']);
}

/**
 * The sample AggregatedAPI `widgets` (config/samples) served by the image built from this checkout: the
 * operator from the checkout, the sample applied, the operator's admission RBAC bound, the server's pod
 * rolled onto the rebuilt image and Ready (its /readyz includes the admission informers' sync). Resolves
 * whether this call installed the sample. Suites leave it for the next one: it takes a managed etcd of 3
 * members and 2 server replicas, about 20 s that each suite would pay again; it holds no state a suite
 * depends on (each works in namespaces of its own), `cluster:down` ends it, and the operator's deletion
 * test deletes it and its claims itself.
 */
export async function installSampleWidgetsApi(): Promise<boolean> {
  await installOperatorFromCheckout();
  const installed = !(
    await k(['get', 'aggregatedapis', 'widgets', '--ignore-not-found', '-o', 'name'])
  ).trim();
  await k(['apply', '-f', path.join(root, 'config/samples/aggregatedapi.yaml')]);
  await eventually(
    'the operator to bind the server to the admission reader role',
    async () => k(['get', 'clusterrolebinding', 'aggregatedapi:widgets:admission', '-o', 'name']),
    180_000,
  );
  await waitForServerOnOperatorImage('widgets-system', 'widgets-apiserver');
  await k(['wait', '--for=condition=Ready', 'aggregatedapi/widgets', '--timeout=300s']);
  await eventually(
    'widgets to be served through kube-apiserver',
    async () => k(['get', 'widgets', '-n', 'default', '-o', 'name']).then(() => true),
    120_000,
  );
  return installed;
}

/**
 * Waits until the operator (restarted onto the image just built) has put its image's digest into the
 * server Deployment's pod template, which rolls the server onto that image once, and the rollout is
 * done: objects written before that would go with the old pod's embedded store.
 */
export async function waitForServerOnOperatorImage(namespace: string, deployment: string): Promise<void> {
  const operatorImageIDs = async () =>
    new Set(
      (
        await k([
          '-n',
          OPERATOR_NS,
          'get',
          'pods',
          '-l',
          'app.kubernetes.io/name=aggregator-operator',
          '-o',
          'jsonpath={range .items[*]}{.status.containerStatuses[0].imageID}{"\\n"}{end}',
        ])
      )
        .split('\n')
        .filter(Boolean),
    );
  await eventually(
    `the operator to roll ${namespace}/${deployment} onto its image`,
    async () => {
      const ids = await operatorImageIDs();
      const annotation = await k([
        '-n',
        namespace,
        'get',
        'deployment',
        deployment,
        '-o',
        "jsonpath={.spec.template.metadata.annotations['aggregation\\.example\\.com/image-id']}",
      ]);
      return ids.size === 1 && ids.has(annotation.trim());
    },
    180_000,
  );
  await k(['-n', namespace, 'rollout', 'status', `deployment/${deployment}`, '--timeout=300s']);
}

/**
 * Removes the sample, which suites leave installed (installSampleWidgetsApi), for a suite that serves
 * custom.example.com by hand: the operator would otherwise keep the APIService pointed at the sample.
 */
export async function removeSampleWidgetsApi(): Promise<void> {
  // On a bed where no suite has installed the operator yet there is no such kind, and nothing to remove.
  const crd = await k([
    'get',
    'crd',
    'aggregatedapis.aggregation.example.com',
    '--ignore-not-found',
    '-o',
    'name',
  ]);
  if (!crd.trim()) return;
  await k(['delete', 'aggregatedapi', 'widgets', '--ignore-not-found', '--wait=true', '--timeout=120s']);
  await deleteSampleClaims();
}

/**
 * The sample's etcd claims outlive it (retained, as data should be): a test that removes the sample
 * removes them too, so that the next one starts from an empty store, not from this one's widgets.
 */
export async function deleteSampleClaims(): Promise<void> {
  await k([
    '-n',
    'widgets-system',
    'delete',
    'pvc',
    '-l',
    'aggregation.example.com/aggregatedapi=widgets',
    '--ignore-not-found',
    '--wait=false',
  ]).catch(() => undefined);
}

/** POSTs a widget through kube-apiserver: the refusal's Status, or undefined on success. */
export async function createWidgetThroughKube(
  api: CustomObjectsApi,
  namespace: string,
  body: object,
  dryRun = false,
): Promise<Record<string, unknown> | undefined> {
  try {
    await api.createNamespacedCustomObject({
      group: 'custom.example.com',
      version: 'v1',
      namespace,
      plural: 'widgets',
      body,
      dryRun: dryRun ? 'All' : undefined,
    });
    return undefined;
  } catch (e) {
    const text = (e as { body?: unknown }).body;
    if (typeof text !== 'string') throw e;
    return JSON.parse(text) as Record<string, unknown>;
  }
}
