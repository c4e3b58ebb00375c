/**
 * The work queue's guarantees: de-duplication, no concurrent processing of one key (an add during
 * processing runs it once more afterwards), per-key exponential backoff on failure, delayed adds.
 */
import { WorkQueue } from '../../../src/shared/controller/workqueue';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('adds of a queued key collapse into one', async () => {
  const q = new WorkQueue();
  const seen: string[] = [];
  q.add('a');
  q.add('a');
  q.add('b');
  q.add('a');
  const run = q.run(
    2,
    async (k) => void seen.push(k),
    () => undefined,
  );
  await sleep(20);
  q.shutDown();
  await run;
  expect(seen.sort()).toEqual(['a', 'b']);
});

test('a key is never processed twice at once, and an add during processing runs it again after', async () => {
  const q = new WorkQueue();
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const run = q.run(
    4,
    async () => {
      active++;
      runs++;
      maxActive = Math.max(maxActive, active);
      if (runs === 1) {
        q.add('x');
        q.add('x');
      }
      await sleep(30);
      active--;
    },
    () => undefined,
  );
  q.add('x');
  await sleep(150);
  q.shutDown();
  await run;
  expect(maxActive).toBe(1);
  expect(runs).toBe(2);
});

test('failures back off exponentially per key, and success forgets them', async () => {
  const q = new WorkQueue({ baseDelayMs: 20, maxDelayMs: 1000 });
  const delays: number[] = [];
  let attempts = 0;
  const run = q.run(
    1,
    async () => {
      attempts++;
      if (attempts <= 3) throw new Error('boom');
    },
    (_key, _err, retryInMs) => delays.push(retryInMs),
  );
  q.add('k');
  await sleep(400);
  expect(delays).toEqual([20, 40, 80]);
  expect(attempts).toBe(4);
  expect(q.failureCount('k')).toBe(0);
  q.shutDown();
  await run;
});

test('requeueAfterMs and addAfter bring a key back later, the earliest delay winning', async () => {
  const q = new WorkQueue();
  const at: number[] = [];
  const start = Date.now();
  const run = q.run(
    1,
    async () => {
      at.push(Date.now() - start);
      return at.length === 1 ? { requeueAfterMs: 50 } : undefined;
    },
    () => undefined,
  );
  q.add('k');
  q.addAfter('k', 5000);
  await sleep(200);
  q.shutDown();
  await run;
  expect(at.length).toBe(2);
  expect(at[1]).toBeGreaterThanOrEqual(45);
});
