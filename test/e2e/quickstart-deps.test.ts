/**
 * The fresh-machine path of `npm start`: on a machine without the system packages, the quickstart must
 * install them (as root) or name them and stop, before it compiles anything. The machine's packages are
 * hidden behind a `dpkg` on PATH that knows none of them, and the script runs as an unprivileged user, so
 * it cannot install: it has to say what is missing and stop before the cluster step.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

function runUnprivileged(script: string, env: NodeJS.ProcessEnv) {
  // As root (CI, the bed), drop to `nobody`; otherwise this user already cannot install.
  const asRoot = process.getuid?.() === 0;
  const command = asRoot ? 'setpriv' : 'bash';
  const args = asRoot
    ? ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', 'bash', script]
    : [script];
  return spawnSync(command, args, { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
}

describe('npm start on a machine without the system packages', () => {
  let fakeBin: string;

  beforeAll(() => {
    fakeBin = mkdtempSync(path.join(os.tmpdir(), 'no-packages-'));
    chmodSync(fakeBin, 0o755);
    // dpkg -s answers "not installed" for every package, as on a fresh machine.
    writeFileSync(path.join(fakeBin, 'dpkg'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  });

  afterAll(() => rmSync(fakeBin, { recursive: true, force: true }));

  test('names every missing package and stops before the cluster is built', () => {
    const env = {
      PATH: `${fakeBin}:${process.env.PATH}`,
      HOME: fakeBin,
      // A state dir nobody can be confused with the real bed's.
      CLUSTER_STATE_DIR: path.join(fakeBin, 'state'),
    };
    const result = runUnprivileged('test/cluster/quickstart.sh', env);
    const output = result.stdout + result.stderr;
    expect(result.status).not.toBe(0);
    expect(output).toMatch(/missing Debian packages: .*etcd-server/);
    for (const p of [
      'containerd',
      'runc',
      'iptables',
      'conntrack',
      'buildah',
      'containernetworking-plugins',
    ]) {
      expect(output).toContain(p);
    }
    expect(output).toMatch(/sudo apt-get install/);
    // Nothing past the package check ran: no cluster step, no compile.
    expect(output).not.toContain('local cluster');
    expect(output).not.toMatch(/building kube|compiled \d+ packages/);
  });

  test('with the packages present, the check passes without installing anything', () => {
    const result = runUnprivileged('test/install-deps.sh', { PATH: process.env.PATH, HOME: os.tmpdir() });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
