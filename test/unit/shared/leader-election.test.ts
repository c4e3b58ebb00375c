/**
 * The Lease elector's timing, driven by a fake clock: settings validated as client-go does, a renew that
 * hangs ends leadership exactly renewDeadline after the last successful renew (and the hung call is
 * aborted), successful renews keep it, and a standby takes an expired lease only leaseDuration after it
 * observed the last renew on its own clock. The Lease is served in memory behind the same REST method
 * the elector uses; the REST client's part (aborting a call already on the wire, refusing writes after
 * the loss) is checked against a real HTTP server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeClientConfig } from '../../../src/shared/kube/client-config';
import pino from 'pino';
import {
  LeaderElector,
  validateTiming,
  type Clock,
  type LeaseApi,
  type LeaderElectionConfig,
} from '../../../src/shared/controller/leader-election';
import { KubeApiError, KubeRest, type RequestOptions } from '../../../src/shared/kube/rest';

const logger = pino({ level: 'silent' });
const settle = () => new Promise((r) => setImmediate(r));

/** One timeline with timers; views may be skewed, as different nodes' clocks are. */
class FakeTime {
  private t = Date.parse('2026-01-01T00:00:00Z');
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();

  view(skewMs = 0): Clock {
    return {
      now: () => this.t + skewMs,
      setTimeout: (fn, ms) => {
        const id = ++this.seq;
        this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
        return id;
      },
      clearTimeout: (id) => void this.timers.delete(id as number),
    };
  }

  get now(): number {
    return this.t;
  }

  /** Moves time forward, firing due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}

interface StoredLease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: Record<string, unknown>;
}

/** The Lease endpoint of one apiserver, with resourceVersion preconditions on update. */
class LeaseStore {
  lease?: StoredLease;
  private rv = 0;

  handle(method: string, body: unknown): unknown {
    const copy = () => structuredClone(this.lease);
    if (method === 'GET') {
      if (!this.lease) throw new KubeApiError(404, 'NotFound', 'leases "aggregator-operator" not found');
      return copy();
    }
    const incoming = structuredClone(body) as StoredLease;
    if (method === 'POST') {
      if (this.lease) throw new KubeApiError(409, 'AlreadyExists', 'already exists');
    } else if (method === 'PUT') {
      if (!this.lease) throw new KubeApiError(404, 'NotFound', 'not found');
      if (incoming.metadata.resourceVersion !== this.lease.metadata.resourceVersion) {
        throw new KubeApiError(409, 'Conflict', 'the object has been modified');
      }
    } else {
      throw new KubeApiError(405, 'MethodNotAllowed', method);
    }
    this.lease = { ...incoming, metadata: { ...incoming.metadata, resourceVersion: String(++this.rv) } };
    return copy();
  }
}

/** One replica's connection to the store; `partitioned` makes every call hang until aborted. */
class LeaseConnection implements LeaseApi {
  partitioned = false;
  calls: { method: string; at: number }[] = [];
  aborted: { method: string; at: number }[] = [];

  constructor(
    private readonly store: LeaseStore,
    private readonly time: FakeTime,
  ) {}

  request<T>(method: string, _path: string, opts: RequestOptions = {}): Promise<T> {
    this.calls.push({ method, at: this.time.now });
    opts.signal?.throwIfAborted();
    if (this.partitioned) {
      return new Promise<T>((_resolve, reject) =>
        opts.signal?.addEventListener('abort', () => {
          this.aborted.push({ method, at: this.time.now });
          reject(opts.signal!.reason);
        }),
      );
    }
    try {
      return Promise.resolve(this.store.handle(method, opts.body) as T);
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

const S = 1000;
const timing = { leaseDurationMs: 15 * S, renewDeadlineMs: 10 * S, retryPeriodMs: 2 * S };

function candidate(store: LeaseStore, time: FakeTime, identity: string, skewMs = 0) {
  const api = new LeaseConnection(store, time);
  const config: LeaderElectionConfig = {
    namespace: 'aggregator-operator-system',
    name: 'aggregator-operator',
    identity,
    ...timing,
    clock: time.view(skewMs),
    random: () => 0,
  };
  const elector = new LeaderElector(api, config, logger);
  const lost: number[] = [];
  let acquiredAt: number | undefined;
  const acquired = elector
    .acquire(() => lost.push(time.now))
    .then(() => {
      acquiredAt = time.now;
    });
  return { api, elector, lost, acquired, acquiredAt: () => acquiredAt };
}

describe('settings are validated as client-go does', () => {
  test.each([
    [
      'leaseDuration equal to renewDeadline',
      { leaseDurationMs: 10 * S, renewDeadlineMs: 10 * S, retryPeriodMs: 2 * S },
      /leaseDuration must be greater than renewDeadline/,
    ],
    [
      'renewDeadline not above 1.2 x retryPeriod',
      { leaseDurationMs: 15 * S, renewDeadlineMs: 10 * S, retryPeriodMs: 9 * S },
      /renewDeadline must be greater than retryPeriod\*JitterFactor/,
    ],
    [
      'zero leaseDuration',
      { leaseDurationMs: 0, renewDeadlineMs: 10 * S, retryPeriodMs: 2 * S },
      /leaseDuration must be greater than zero/,
    ],
    [
      'negative renewDeadline',
      { leaseDurationMs: 15 * S, renewDeadlineMs: -1, retryPeriodMs: 2 * S },
      /renewDeadline must be greater than zero/,
    ],
    [
      'NaN retryPeriod',
      { leaseDurationMs: 15 * S, renewDeadlineMs: 10 * S, retryPeriodMs: NaN },
      /retryPeriod must be greater than zero/,
    ],
  ])('%s', (_name, t, message) => {
    expect(() => validateTiming(t)).toThrow(message);
    const time = new FakeTime();
    expect(
      () =>
        new LeaderElector(
          new LeaseConnection(new LeaseStore(), time),
          { namespace: 'ns', name: 'l', identity: 'a', ...t, clock: time.view() },
          logger,
        ),
    ).toThrow(message);
  });

  test('the defaults and a retry period just under the jitter bound are accepted', () => {
    expect(() => validateTiming(timing)).not.toThrow();
    expect(() => validateTiming({ ...timing, retryPeriodMs: 8 * S })).not.toThrow(); // 9.6 s < 10 s
  });
});

describe('leadership is bounded by the renew deadline', () => {
  test('successful renews keep leadership and move renewTime forward', async () => {
    const time = new FakeTime();
    const store = new LeaseStore();
    const a = candidate(store, time, 'a');
    await time.advance(0);
    await a.acquired;
    expect(a.elector.isLeader).toBe(true);
    await time.advance(60 * S);
    expect(a.elector.isLeader).toBe(true);
    expect(a.lost).toEqual([]);
    expect(store.lease?.spec).toMatchObject({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      renewTime: new Date(time.now).toISOString().replace('Z', '000Z'),
    });
    // One GET and one PUT (POST at first) every retry period.
    expect(a.api.calls.filter((c) => c.method !== 'GET')).toHaveLength(31);
  });

  test('a renew that hangs forever ends leadership at renewDeadline after the last good renew, and is aborted', async () => {
    const time = new FakeTime();
    const start = time.now;
    const store = new LeaseStore();
    const a = candidate(store, time, 'a');
    await time.advance(0);
    await a.acquired;
    await time.advance(4 * S); // renews at +2 s and +4 s succeed
    const lastGoodRenew = time.now;
    expect(store.lease?.spec.renewTime).toBe(new Date(lastGoodRenew).toISOString().replace('Z', '000Z'));
    a.api.partitioned = true;
    await time.advance(2 * S); // the renew at +6 s hangs
    const hung = a.api.calls.at(-1)!;
    expect(hung).toEqual({ method: 'GET', at: start + 6 * S });
    await time.advance(lastGoodRenew + timing.renewDeadlineMs - time.now - 1);
    expect(a.elector.isLeader).toBe(true);
    expect(a.lost).toEqual([]);
    expect(a.api.aborted).toEqual([]);
    await time.advance(1);
    expect(a.lost).toEqual([lastGoodRenew + timing.renewDeadlineMs]);
    expect(a.elector.isLeader).toBe(false);
    expect(a.api.aborted).toEqual([{ method: 'GET', at: lastGoodRenew + timing.renewDeadlineMs }]);
    // Nothing more is tried, even once the network heals.
    const callsAtLoss = a.api.calls.length;
    a.api.partitioned = false;
    await time.advance(60 * S);
    expect(a.api.calls).toHaveLength(callsAtLoss);
    expect(a.lost).toHaveLength(1);
  });

  test('a renew that fails fast is retried, and leadership still ends at the deadline', async () => {
    const time = new FakeTime();
    const store = new LeaseStore();
    const a = candidate(store, time, 'a');
    await time.advance(0);
    await a.acquired;
    const lastGoodRenew = time.now;
    const failing = { request: () => Promise.reject(new KubeApiError(500, 'InternalError', 'etcd down')) };
    (a.api as unknown as { request: unknown }).request = failing.request;
    await time.advance(timing.renewDeadlineMs - 1);
    expect(a.elector.isLeader).toBe(true);
    await time.advance(1);
    expect(a.lost).toEqual([lastGoodRenew + timing.renewDeadlineMs]);
  });

  test('a leader that finds another holder in the Lease stops at once', async () => {
    const time = new FakeTime();
    const store = new LeaseStore();
    const a = candidate(store, time, 'a');
    await time.advance(0);
    await a.acquired;
    store.lease!.spec.holderIdentity = 'someone-else';
    await time.advance(2 * S);
    expect(a.lost).toEqual([time.now]);
    expect(a.elector.isLeader).toBe(false);
  });
});

test('a standby takes an expired lease only leaseDuration after it saw the last renew, on its own clock', async () => {
  const time = new FakeTime();
  const start = time.now;
  const store = new LeaseStore();
  const a = candidate(store, time, 'a');
  await time.advance(1 * S);
  await a.acquired;
  // b polls at odd seconds; its clock is an hour ahead, so the lease's renewTime (written on a's clock)
  // looks an hour old to it: comparing timestamps across nodes would take the lease at once.
  const b = candidate(store, time, 'b', 3_600_000);
  await time.advance(4 * S); // a renews at +2 s and +4 s; b sees the +4 s renew at +5 s
  a.api.partitioned = true;
  const lastGoodRenew = start + 4 * S;
  const bSawIt = start + 5 * S;
  await time.advance(bSawIt + timing.leaseDurationMs - time.now);
  expect(a.lost).toEqual([lastGoodRenew + timing.renewDeadlineMs]);
  expect(b.acquiredAt()).toBeUndefined(); // exactly leaseDuration after: not yet expired
  expect(store.lease?.spec.holderIdentity).toBe('a');
  await time.advance(2 * S);
  await b.acquired;
  expect(b.acquiredAt()).toBe(bSawIt + timing.leaseDurationMs + 1 * S);
  expect(b.elector.isLeader).toBe(true);
  expect(store.lease?.spec).toMatchObject({
    holderIdentity: 'b',
    leaseTransitions: 1,
    acquireTime: new Date(b.acquiredAt()! + 3_600_000).toISOString().replace('Z', '000Z'),
  });
  // The old leader stopped well before: leaseDuration - renewDeadline plus b's observation delay.
  expect(b.acquiredAt()! - a.lost[0]).toBe(7 * S);
});

test('release() hands the lease over at once', async () => {
  const time = new FakeTime();
  const store = new LeaseStore();
  const a = candidate(store, time, 'a');
  await time.advance(0);
  await a.acquired;
  const b = candidate(store, time, 'b');
  await time.advance(1 * S);
  await a.elector.release();
  expect(store.lease?.spec.holderIdentity).toBe('');
  await time.advance(2 * S);
  await b.acquired;
  expect(b.elector.isLeader).toBe(true);
  expect(a.lost).toEqual([]);
});

describe('the REST client', () => {
  let server: http.Server;
  let kc: KubeClientConfig;
  const seen: string[] = [];
  const closed: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url?.startsWith('/hang')) {
        req.socket.on('close', () => closed.push(req.url!));
        return; // never answers, as behind a DROP rule
      }
      res.setHeader('Content-Type', 'application/json');
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    kc = {
      server: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
      tls: { rejectUnauthorized: false },
      authorization: () => undefined,
      source: 'test',
    };
  });
  afterAll(() => new Promise((r) => server.close(r)));

  test('aborts a call that is on the wire and hangs, and closes its connection', async () => {
    const rest = new KubeRest(kc);
    const controller = new AbortController();
    const call = rest.request('GET', '/hang/1', { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toContain('GET /hang/1');
    controller.abort(new Error('renew deadline passed'));
    await expect(call).rejects.toThrow(/abort/i);
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toContain('/hang/1');
    // An already aborted signal sends nothing.
    await expect(rest.request('GET', '/hang/2', { signal: controller.signal })).rejects.toThrow(
      'renew deadline passed',
    );
    expect(seen).not.toContain('GET /hang/2');
  });

  test('refuses writes without sending them once mayWrite says no; reads still go', async () => {
    let leader = true;
    const rest = new KubeRest(kc, { mayWrite: () => leader });
    await rest.request('POST', '/apis/x/v1/things', { body: {} });
    leader = false;
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      await expect(rest.request(method, '/apis/x/v1/things/after', { body: {} })).rejects.toThrow(
        /not the leader/,
      );
    }
    await rest.request('GET', '/apis/x/v1/things/read');
    expect(seen.filter((s) => s.includes('/things'))).toEqual([
      'POST /apis/x/v1/things',
      'GET /apis/x/v1/things/read',
    ]);
  });
});
