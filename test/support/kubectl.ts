/**
 * Runs the real kubectl binary against a kubeconfig and returns its output; `kubectlWatch` keeps a
 * `kubectl get -w` running and collects its lines until stopped.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * kubectl's environment for a kubeconfig: its discovery and HTTP caches go to `kube-cache` beside the
 * kubeconfig, never to ~/.kube/cache, which every bed at the same address would share (a CRD left by an
 * earlier bed once made `widget` resolve to the wrong group).
 */
export function kubectlEnv(kubeconfig: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KUBECONFIG: kubeconfig,
    KUBECACHEDIR: path.join(path.dirname(path.resolve(kubeconfig)), 'kube-cache'),
  };
}

export function kubectl(
  kubeconfig: string,
  args: string[],
  stdin?: string,
  timeoutMs = 30000,
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], {
      env: { ...kubectlEnv(kubeconfig), KUBECTL_EXPLAIN_OPENAPIV3: 'true' },
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `kubectl ${args.join(' ')} timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin.end(stdin);
    else child.stdin.end();
  });
}

/** Like kubectl() but fails the test with kubectl's stderr when the command fails. */
export async function kubectlOk(kubeconfig: string, args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(kubeconfig, args, stdin);
  if (r.code !== 0)
    throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export interface KubectlWatch {
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): void;
}

export function kubectlWatch(kubeconfig: string, args: string[]): KubectlWatch {
  const child: ChildProcessWithoutNullStreams = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    env: kubectlEnv(kubeconfig),
  });
  const lines: string[] = [];
  let buffer = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (d) => {
    buffer += d;
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (d) => (stderr += d));
  return {
    lines,
    waitFor(pattern, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = () => {
          const hit = lines.find((l) => pattern.test(l));
          if (hit) return resolve(hit);
          if (Date.now() > deadline) {
            return reject(
              new Error(`no line matched ${pattern} in:\n${lines.join('\n')}\nstderr: ${stderr}`),
            );
          }
          waiters.push(check);
          setTimeout(check, 200);
        };
        check();
      });
    },
    stop() {
      child.kill('SIGTERM');
    },
  };
}
