/**
 * One conformance suite for both Storage implementations: the embedded MVCC store and etcd (a real etcd
 * process). The registry relies on exactly these semantics.
 */
import { EtcdStorage } from '../../src/widget-server/storage/etcd';
import { MemoryStorage } from '../../src/widget-server/storage/memory';
import { WatchCacheStorage } from '../../src/widget-server/storage/watch-cache';
import {
  CompactedError,
  FutureRevisionError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  type Storage,
  type StorageWatchEvent,
} from '../../src/widget-server/storage/storage';
import { startEtcd, type EtcdProcess } from '../support/etcd';
import { uniquePrefix } from '../support/widget-server';

let etcd: EtcdProcess;
const opened: Storage[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await etcd?.stop();
});

const factories: Array<[string, (prefix: string) => Storage]> = [
  ['memory', () => new MemoryStorage()],
  ['etcd', (prefix) => new EtcdStorage({ endpoints: [etcd.endpoint], prefix })],
  // The watch cache must not change what a watch sees: as served (etcd), and with a window so small
  // that most watches start before it and get a storage watch of their own.
  [
    'etcd behind the watch cache',
    (prefix) => new WatchCacheStorage(new EtcdStorage({ endpoints: [etcd.endpoint], prefix })),
  ],
  ['memory behind a 2-event watch cache', () => new WatchCacheStorage(new MemoryStorage(), 2)],
];

function collect(storage: Storage, prefix: string, after: number) {
  const events: StorageWatchEvent[] = [];
  const errors: Error[] = [];
  const handle = storage.watch(prefix, after, {
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
  });
  const until = async (n: number) => {
    for (let i = 0; i < 100 && events.length < n && !errors.length; i++)
      await new Promise((r) => setTimeout(r, 50));
    return events;
  };
  return { events, errors, handle, until };
}

describe.each(factories)('%s storage', (_name, make) => {
  let s: Storage;
  let prefix: string;

  beforeEach(() => {
    prefix = uniquePrefix('storage');
    s = make(prefix);
    opened.push(s);
  });

  test('create, get, and KeyExists', async () => {
    const rev = await s.create('a/1', { v: 1 });
    const kv = await s.get('a/1');
    expect(kv).toEqual({ key: 'a/1', value: { v: 1 }, modRevision: rev, createRevision: rev });
    await expect(s.create('a/1', { v: 2 })).rejects.toBeInstanceOf(KeyExistsError);
    expect(await s.get('a/missing')).toBeUndefined();
  });

  test('compare-and-swap update and delete', async () => {
    const r1 = await s.create('k', { v: 1 });
    const r2 = await s.update('k', { v: 2 }, r1);
    expect(r2).toBeGreaterThan(r1);
    await expect(s.update('k', { v: 3 }, r1)).rejects.toMatchObject({
      name: 'RevisionConflictError',
      actual: r2,
    });
    await expect(s.update('nope', { v: 1 }, 1)).rejects.toBeInstanceOf(KeyNotFoundError);
    await expect(s.delete('k', r1)).rejects.toBeInstanceOf(RevisionConflictError);
    const r3 = await s.delete('k', r2);
    expect(r3).toBeGreaterThan(r2);
    await expect(s.delete('k')).rejects.toBeInstanceOf(KeyNotFoundError);
    expect(await s.get('k')).toBeUndefined();
    expect(await s.currentRevision()).toBeGreaterThanOrEqual(r3);
  });

  test('lists more than 4 MiB in one answer (the gRPC default receive limit; 10k widgets are ~5 MB)', async () => {
    const big = 'x'.repeat(100 * 1024);
    for (let i = 0; i < 48; i++) await s.create(`big/k${String(i).padStart(2, '0')}`, { big, i });
    const all = await s.list('big/');
    expect(all.items).toHaveLength(48);
    expect(all.items[47].value).toEqual({ big, i: 47 });
  });

  test('lists in key order, at past revisions, and in pages of one snapshot', async () => {
    for (const k of ['c', 'a', 'b', 'd']) await s.create(`l/${k}`, { k });
    const before = await s.currentRevision();
    await s.delete('l/a');
    await s.create('l/e', { k: 'e' });
    const now = await s.list('l/');
    expect(now.items.map((i) => i.key)).toEqual(['l/b', 'l/c', 'l/d', 'l/e']);
    const then = await s.list('l/', { revision: before });
    expect(then.revision).toBe(before);
    expect(then.items.map((i) => i.key)).toEqual(['l/a', 'l/b', 'l/c', 'l/d']);
    const page1 = await s.list('l/', { revision: before, limit: 3 });
    expect(page1.items.map((i) => i.key)).toEqual(['l/a', 'l/b', 'l/c']);
    expect(page1).toMatchObject({ more: true, remaining: 1 });
    const page2 = await s.list('l/', { revision: before, limit: 3, startAfter: 'l/c' });
    expect(page2.items.map((i) => i.key)).toEqual(['l/d']);
    expect(page2.more).toBe(false);
    await expect(s.list('l/', { revision: (await s.currentRevision()) + 100 })).rejects.toBeInstanceOf(
      FutureRevisionError,
    );
  });

  test('compaction makes old revisions unreadable and old watches fail', async () => {
    const r1 = await s.create('c/x', { v: 1 });
    await s.update('c/x', { v: 2 }, r1);
    const current = await s.currentRevision();
    await s.compact(current);
    await expect(s.list('c/', { revision: r1 })).rejects.toBeInstanceOf(CompactedError);
    expect((await s.list('c/', { revision: current })).items[0].value).toEqual({ v: 2 });
    const w = collect(s, 'c/', r1 - 1);
    await w.until(1);
    expect(w.errors[0]).toBeInstanceOf(CompactedError);
    w.handle.stop();
  });

  test('watch replays after a revision, then streams live events in order', async () => {
    const r1 = await s.create('w/a', { v: 1 });
    const r2 = await s.update('w/a', { v: 2 }, r1);
    const w = collect(s, 'w/', r1);
    const other = collect(s, 'w/', r1);
    await s.create('w/b', { v: 1 });
    await s.delete('w/a', r2);
    await s.create('x/outside', { v: 1 });
    const events = await w.until(3);
    expect(events.map((e) => [e.type, e.key, e.isCreate])).toEqual([
      ['put', 'w/a', false],
      ['put', 'w/b', true],
      ['delete', 'w/a', false],
    ]);
    expect(events[0]).toMatchObject({ value: { v: 2 }, prevValue: { v: 1 }, modRevision: r2 });
    expect(events[2].value).toEqual({ v: 2 });
    expect((await other.until(3)).map((e) => e.modRevision)).toEqual(events.map((e) => e.modRevision));
    w.handle.stop();
    other.handle.stop();
  });

  test('a stored value cannot be changed through the object written or an object read', async () => {
    // Values are not copied at the boundary (storage.ts): a store either owns them frozen (memory) or
    // serializes them (etcd). Either way a mutation after the fact never reaches the stored value.
    const tryToChange = (o: { nested: unknown }) => {
      try {
        (o.nested as { v: number }).v = 2;
      } catch (e) {
        expect(e).toBeInstanceOf(TypeError); // frozen: strict mode throws
      }
    };
    const value = { nested: { v: 1 } };
    await s.create('alias', value);
    tryToChange(value);
    const kv = await s.get('alias');
    expect(kv!.value).toEqual({ nested: { v: 1 } });
    tryToChange(kv!.value as { nested: unknown });
    expect((await s.get('alias'))!.value).toEqual({ nested: { v: 1 } });
    const listed = await s.list('alias');
    tryToChange(listed.items[0].value as { nested: unknown });
    expect((await s.get('alias'))!.value).toEqual({ nested: { v: 1 } });
  });
});

test('two etcd storages on one etcd share state and watch events', async () => {
  const prefix = uniquePrefix('shared');
  const a = new EtcdStorage({ endpoints: [etcd.endpoint], prefix });
  const b = new EtcdStorage({ endpoints: [etcd.endpoint], prefix });
  opened.push(a, b);
  const w = collect(b, '', await b.currentRevision());
  await new Promise((r) => setTimeout(r, 200));
  const rev = await a.create('shared', { from: 'a' });
  expect((await b.get('shared'))!.modRevision).toBe(rev);
  const events = await w.until(1);
  expect(events[0]).toMatchObject({ type: 'put', key: 'shared', modRevision: rev, value: { from: 'a' } });
  w.handle.stop();
});
