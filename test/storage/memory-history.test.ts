/**
 * The embedded store's history cap compacts as it goes: past `maxHistoryEvents`, every write compacts
 * the oldest history away, visiting only the keys that history touched. What a client sees must not
 * change: live keys and values, deletions, CompactedError for revisions that are gone, and reads and
 * watches from the revisions that remain.
 */
import { MemoryStorage } from '../../src/widget-server/storage/memory';
import { CompactedError, type StorageWatchEvent } from '../../src/widget-server/storage/storage';

test('a 50-event history over 2,100 writes keeps every live key right and only the last 50 revisions', async () => {
  const s = new MemoryStorage({ maxHistoryEvents: 50 });
  try {
    const first = await s.currentRevision();
    for (let i = 0; i < 1000; i++) await s.create(`w/k${String(i).padStart(4, '0')}`, { i, v: 0 });
    for (let i = 0; i < 1000; i++) {
      const key = `w/k${String(i).padStart(4, '0')}`;
      const kv = (await s.get(key))!;
      await s.update(key, { i, v: 1 }, kv.modRevision);
    }
    for (let i = 0; i < 100; i++) {
      const key = `w/k${String(i * 10).padStart(4, '0')}`;
      await s.delete(key, (await s.get(key))!.modRevision);
    }
    const list = await s.list('w/');
    expect(list.items).toHaveLength(900);
    expect(list.items.every((kv) => (kv.value as { v: number }).v === 1)).toBe(true);
    expect(list.items.map((kv) => kv.key)).toEqual([...list.items.map((kv) => kv.key)].sort());
    expect(await s.get('w/k0000')).toBeUndefined();
    expect((await s.get('w/k0001'))?.value).toEqual({ i: 1, v: 1 });
    // Only the last 50 revisions remain readable.
    const now = await s.currentRevision();
    await expect(s.list('w/', { revision: first + 1 })).rejects.toBeInstanceOf(CompactedError);
    const past = await s.list('w/', { revision: now - 40 });
    expect(past.items.length).toBeGreaterThanOrEqual(900);
    // A watch from a remaining revision replays exactly what came after it.
    const events: StorageWatchEvent[] = [];
    const handle = s.watch('w/', now - 10, {
      onEvent: (e) => events.push(e),
      onError: (e) => {
        throw e;
      },
    });
    for (let i = 0; i < 100 && events.length < 10; i++) await new Promise((r) => setTimeout(r, 10));
    handle.stop();
    expect(events.map((e) => e.modRevision)).toEqual([...Array(10).keys()].map((k) => now - 9 + k));
    expect(events.every((e) => e.type === 'delete')).toBe(true);
  } finally {
    await s.close();
  }
});
