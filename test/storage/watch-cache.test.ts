/**
 * The watch cache on a real etcd: fifty watchers are one etcd watcher (etcd's own gauge says so), each
 * receives every event of its prefix exactly once and in order, and they all receive the very same
 * event objects (decoded once); a watcher that starts before the window gets an etcd watch of its own.
 */
import http from 'node:http';
import { EtcdStorage } from '../../src/widget-server/storage/etcd';
import type { StorageWatchEvent } from '../../src/widget-server/storage/storage';
import { WatchCacheStorage } from '../../src/widget-server/storage/watch-cache';
import { startEtcd, type EtcdProcess } from '../support/etcd';
import { uniquePrefix } from '../support/widget-server';

let etcd: EtcdProcess;

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.stop();
});

/** etcd's gauge of open watchers (all clients). */
function etcdWatchers(): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${etcd.endpoint}/metrics`, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text);
          if (m) resolve(Number(m[1]));
          else reject(new Error('etcd_debugging_mvcc_watcher_total not in /metrics'));
        });
      })
      .on('error', reject);
  });
}

async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A watch whose events land in the returned array; an error fails the test loudly. */
function watchInto(storage: WatchCacheStorage, prefix: string, after: number) {
  const events: StorageWatchEvent[] = [];
  const handle = storage.watch(prefix, after, {
    onEvent: (e) => events.push(e),
    onError: (e) => {
      throw e;
    },
  });
  return { events, handle };
}

test('fifty watchers share one etcd watch and the same decoded events', async () => {
  const storage = new WatchCacheStorage(
    new EtcdStorage({ endpoints: [etcd.endpoint], prefix: uniquePrefix('watch-cache') }),
    100,
  );
  try {
    const before = await etcdWatchers();
    const start = await storage.currentRevision();
    const received: StorageWatchEvent[][] = [];
    const handles = [];
    for (let i = 0; i < 50; i++) {
      // Half watch one namespace, half the whole collection.
      const { events, handle } = watchInto(storage, i % 2 ? 'widgets/a/' : 'widgets/', start);
      received.push(events);
      handles.push(handle);
    }
    expect(storage.sharedWatchers).toBe(50);
    await eventually('etcd to register the shared watch', async () => (await etcdWatchers()) === before + 1);
    for (let i = 0; i < 10; i++) await storage.create(`widgets/${i % 2 ? 'a' : 'b'}/w${i}`, { n: i });
    await eventually('every watcher to receive its events', () =>
      received.every((events, i) => events.length === (i % 2 ? 5 : 10)),
    );
    for (const [i, events] of received.entries()) {
      const keys = events.map((e) => e.key);
      const expected = [...Array(10).keys()]
        .filter((n) => !(i % 2) || n % 2)
        .map((n) => `widgets/${n % 2 ? 'a' : 'b'}/w${n}`);
      expect(keys).toEqual(expected);
      // The same objects for everyone: one decode per event.
      for (const e of events) expect(e).toBe(received[0].find((f) => f.key === e.key));
    }
    expect(await etcdWatchers()).toBe(before + 1);
    for (const h of handles) h.stop();
    expect(storage.sharedWatchers).toBe(0);
  } finally {
    await storage.close();
  }
});

test('a watch from before the window gets its own etcd watch and misses nothing', async () => {
  const storage = new WatchCacheStorage(
    new EtcdStorage({ endpoints: [etcd.endpoint], prefix: uniquePrefix('watch-cache') }),
    3,
  );
  try {
    const start = await storage.currentRevision();
    const live = watchInto(storage, '', start).events;
    for (let i = 0; i < 6; i++) await storage.create(`widgets/x/w${i}`, { n: i });
    await eventually('the live watcher to see six events', () => live.length === 6);
    const before = await etcdWatchers();
    // The window holds the last three events: starting at `start` is before it.
    const { events: late, handle: own } = watchInto(storage, '', start);
    expect(storage.sharedWatchers).toBe(1);
    await eventually('the late watcher to replay six events', () => late.length === 6);
    expect(late.map((e) => e.modRevision)).toEqual(live.map((e) => e.modRevision));
    expect(await etcdWatchers()).toBe(before + 1);
    // Starting inside the window is served from it.
    const recent = watchInto(storage, '', live[3].modRevision).events;
    expect(recent.map((e) => e.key)).toEqual(['widgets/x/w4', 'widgets/x/w5']);
    expect(recent[0]).toBe(live[4]);
    own.stop();
  } finally {
    await storage.close();
  }
});

test('the window is bounded by stored bytes too: large objects leave it sooner', async () => {
  // Room for 1,000 events but only 10 KB: two 4 KB events at most.
  const storage = new WatchCacheStorage(
    new EtcdStorage({ endpoints: [etcd.endpoint], prefix: uniquePrefix('watch-cache') }),
    1000,
    10 * 1024,
  );
  try {
    const start = await storage.currentRevision();
    const live = watchInto(storage, '', start).events;
    const filler = 'x'.repeat(4000);
    for (let i = 0; i < 5; i++) await storage.create(`widgets/y/w${i}`, { filler, i });
    await eventually('the live watcher to see five events', () => live.length === 5);
    expect(live.every((e) => (e.bytes ?? 0) > 4000)).toBe(true);
    // From the third event on is outside the window (only the last two fit): a watch of its own.
    const { events: fromThird, handle: own } = watchInto(storage, '', live[1].modRevision);
    expect(storage.sharedWatchers).toBe(1);
    await eventually('the late watcher to see three events', () => fromThird.length === 3);
    own.stop();
    // From the fourth on is in the window: served from it at once.
    const fromFourth = watchInto(storage, '', live[2].modRevision).events;
    expect(storage.sharedWatchers).toBe(2);
    expect(fromFourth).toEqual([live[3], live[4]]);
  } finally {
    await storage.close();
  }
});
