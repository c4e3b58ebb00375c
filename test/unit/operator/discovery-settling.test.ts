/**
 * The moment after an APIService turns Available, when kube-apiserver's proxy still answers 503 for it:
 * checkDiscovery reports it settling (discovery Unknown, asked again within a second) rather than
 * failed, but only for a 503 and only within DISCOVERY_SETTLE_MS of the transition; the conditions say
 * DiscoverySettling and the API is not Ready. A plain HTTP server stands in for kube-apiserver's
 * discovery path, answering as its proxy does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeRest } from '../../../src/shared/kube/rest';
import {
  checkDiscovery,
  DISCOVERY_SETTLE_MS,
  type ApiServiceObject,
  availableSince,
} from '../../../src/operator/reconcile/observe';
import { computeConditions, type Observation } from '../../../src/operator/reconcile/conditions';
import type { ApiServiceStatus } from '../../../src/operator/api/aggregated-api';

const GROUP = 'g.example.com';
let answer: { code: number; body: unknown } = { code: 503, body: 'service unavailable\n' };
let server: http.Server;
let rest: KubeRest;

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    res.writeHead(answer.code, { 'Content-Type': 'application/json' });
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  rest = new KubeRest({
    server: new URL(`http://127.0.0.1:${port}`),
    tls: { rejectUnauthorized: true },
    authorization: () => undefined,
    source: 'test',
  });
});
afterAll(() => new Promise((r) => server.close(r)));

const status = (): ApiServiceStatus => ({
  name: `v1.${GROUP}`,
  available: 'True',
  reason: 'Passed',
  message: 'all checks passed',
});
const now = new Date('2026-12-08T01:00:30Z');

test('a 503 within the settle window is settling, not a failure; after it, a failure', async () => {
  answer = { code: 503, body: 'service unavailable\n' };
  const fresh = status();
  const turnedAvailable = new Date(now.getTime() - 2_000);
  const settling = await checkDiscovery(rest, GROUP, [fresh], new Map([[fresh.name, turnedAvailable]]), now);
  expect(settling).toEqual([fresh.name]);
  expect(fresh.discovery).toBe('Unknown');
  expect(fresh.discoveryMessage).toContain('turned Available 2 s ago');

  const old = status();
  const long = new Date(now.getTime() - DISCOVERY_SETTLE_MS - 1_000);
  expect(await checkDiscovery(rest, GROUP, [old], new Map([[old.name, long]]), now)).toEqual([]);
  expect(old.discovery).toBe('False');

  // Without a transition time nothing says it just turned Available.
  const unknown = status();
  expect(await checkDiscovery(rest, GROUP, [unknown], new Map(), now)).toEqual([]);
  expect(unknown.discovery).toBe('False');
});

test('only a 503 settles: any other failure right after the transition is a failure', async () => {
  answer = {
    code: 403,
    body: { kind: 'Status', apiVersion: 'v1', code: 403, reason: 'Forbidden', message: 'no' },
  };
  const s = status();
  const settling = await checkDiscovery(
    rest,
    GROUP,
    [s],
    new Map([[s.name, new Date(now.getTime() - 1_000)]]),
    now,
  );
  expect(settling).toEqual([]);
  expect(s.discovery).toBe('False');
});

test('an answered discovery is True; a settling one keeps the API from Ready with reason DiscoverySettling', async () => {
  answer = { code: 200, body: { kind: 'APIResourceList', groupVersion: `${GROUP}/v1`, resources: [] } };
  const s = status();
  expect(await checkDiscovery(rest, GROUP, [s], new Map([[s.name, now]]), now)).toEqual([]);
  expect(s.discovery).toBe('True');

  const obs: Observation = {
    generation: 1,
    certificates: { ok: true, message: 'valid' },
    deployment: {
      exists: true,
      desiredReplicas: 1,
      readyReplicas: 1,
      updatedReplicas: 1,
      observedLatest: true,
    },
    apiServices: [{ ...status(), discovery: 'Unknown', discoveryMessage: 'not routed yet' }],
    discoverySettling: [`v1.${GROUP}`],
  };
  const conditions = computeConditions(obs, undefined, now);
  const byType = Object.fromEntries(conditions.map((c) => [c.type, c]));
  expect(byType.Available).toMatchObject({ status: 'Unknown', reason: 'DiscoverySettling' });
  expect(byType.Ready).toMatchObject({ status: 'False', reason: 'DiscoverySettling' });
  // The same observation once discovery answered: Ready.
  const answered = computeConditions(
    { ...obs, apiServices: [{ ...status(), discovery: 'True' }], discoverySettling: [] },
    undefined,
    now,
  );
  expect(answered.find((c) => c.type === 'Ready')?.status).toBe('True');
});

test('the transition time is read from the APIService Available condition', () => {
  const object: ApiServiceObject = {
    status: {
      conditions: [{ type: 'Available', status: 'True', lastTransitionTime: '2026-12-08T01:00:00Z' }],
    },
  };
  expect(availableSince(object)?.toISOString()).toBe('2026-12-08T01:00:00.000Z');
  expect(availableSince({})).toBeUndefined();
});
