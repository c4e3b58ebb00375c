/**
 * The serving certificate reloader on real files and real directory watches: a new pair written in
 * place is installed, as is a Secret volume updated the way kubelet does it (a new timestamped
 * directory, then the `..data` link swapped by rename), and other files written in the same directory
 * do not make it read the pair at all.
 */
import fsPromises from 'node:fs/promises';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createCA, issueServingCert } from '../../../src/shared/pki';
import { TlsReloader, type ServingPair } from '../../../src/widget-server/http/tls-reloader';

const HOUR = 3600_000;
const ca = createCA({ commonName: 'reload-ca', validityMs: HOUR });
const pair = (name: string) =>
  issueServingCert(ca, { commonName: name, dnsNames: [name], ipAddresses: [], validityMs: HOUR });

const logger = pino({ level: 'silent' });
let dir: string;
let reloader: TlsReloader | undefined;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tls-reloader-'));
});

afterEach(() => {
  reloader?.stop();
  reloader = undefined;
  jest.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a reloader on `certFile`/`keyFile` that polls only once an hour: what it sees, it saw by watch. */
async function startReloader(certFile: string, keyFile: string): Promise<ServingPair[]> {
  const installed: ServingPair[] = [];
  reloader = new TlsReloader(certFile, keyFile, (p) => void installed.push(p), logger, HOUR);
  await reloader.load();
  reloader.start();
  return installed;
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a pair rewritten in place is installed, and other files in the directory are not read for', async () => {
  const first = pair('first');
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  writeFileSync(certFile, first.certPem);
  writeFileSync(keyFile, first.keyPem);
  const installed = await startReloader(certFile, keyFile);
  const reads = jest.spyOn(fsPromises, 'readFile');

  for (let i = 0; i < 20; i++) writeFileSync(path.join(dir, 'server.log'), `line ${i}\n`, { flag: 'a' });
  // The watch has delivered the log file's events by the time a later event for the pair arrives.
  await new Promise((r) => setTimeout(r, 300));
  expect(reads).not.toHaveBeenCalled();

  const second = pair('second');
  writeFileSync(keyFile, second.keyPem);
  writeFileSync(certFile, second.certPem);
  await until('the second pair to be installed', () => installed.some((p) => p.cert === second.certPem));
  expect(installed.at(-1)).toEqual({ cert: second.certPem, key: second.keyPem });
  expect(reads).toHaveBeenCalled();
});

test('a Secret volume updated as kubelet does it (the ..data link renamed over) is installed', async () => {
  // kubelet's AtomicWriter: files in a timestamped directory, `..data` links to it, and each file name
  // links through `..data`.
  const writeVersion = (name: string, p: { certPem: string; keyPem: string }) => {
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, 'tls.crt'), p.certPem);
    writeFileSync(path.join(dir, name, 'tls.key'), p.keyPem);
  };
  const first = pair('first');
  writeVersion('..2026_12_07_01', first);
  symlinkSync('..2026_12_07_01', path.join(dir, '..data'));
  symlinkSync('..data/tls.crt', path.join(dir, 'tls.crt'));
  symlinkSync('..data/tls.key', path.join(dir, 'tls.key'));
  const installed = await startReloader(path.join(dir, 'tls.crt'), path.join(dir, 'tls.key'));
  expect(installed).toEqual([]);

  const second = pair('second');
  writeVersion('..2026_12_07_02', second);
  symlinkSync('..2026_12_07_02', path.join(dir, '..data_tmp'));
  renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  await until('the rotated pair to be installed', () => installed.length > 0);
  expect(installed.at(-1)).toEqual({ cert: second.certPem, key: second.keyPem });
});
