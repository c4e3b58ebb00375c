/**
 * The bench's handle on the bed: the checkout root, the bed's state directory, bringing the bed up and
 * running kubectl. (test/e2e-cluster/cluster.ts has the same helpers for jest, but it finds the checkout
 * from its own location, which moves when the bench is compiled into dist-bench/.)
 */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { kubectlEnv } from '../test/support/kubectl';

/** The checkout: bench/*.ts run compiled from dist-bench/bench/. */
export const root = path.resolve(__dirname, '../..');
export const clusterDir = process.env.CLUSTER_STATE_DIR ?? path.join(root, '.cluster');
export const kubeconfigPath = path.join(clusterDir, 'kubeconfig');
const run = promisify(execFile);

/** test/cluster/cluster.sh up: a no-op when the bed is running, a (long) build on a cold machine. */
export function ensureBedUp(): void {
  const result = spawnSync('bash', [path.join(root, 'test/cluster/cluster.sh'), 'up'], {
    stdio: ['ignore', process.stderr.fd, process.stderr.fd],
    timeout: 40 * 60 * 1000,
  });
  if (result.status !== 0) throw new Error(`test/cluster/cluster.sh up failed (status ${result.status})`);
}

export async function k(args: string[], input?: string): Promise<string> {
  const child = run('kubectl', ['--kubeconfig', kubeconfigPath, ...args], {
    maxBuffer: 64 * 1024 * 1024,
    env: kubectlEnv(kubeconfigPath),
  });
  if (input !== undefined) child.child.stdin?.end(input);
  const { stdout } = await child;
  return stdout;
}
