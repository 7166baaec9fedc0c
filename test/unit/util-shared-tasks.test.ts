// General utilities (server/util/): SharedTasks (one run shared by concurrent callers, aborted
// only when the last one leaves) and Semaphore (bounded concurrency, abandoned waits).
import test from 'ava';
import { isKind } from '../../server/errors.js';
import { Semaphore } from '../../server/util/semaphore.js';
import { SharedTasks } from '../../server/util/shared-tasks.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test('concurrent callers share one run', async (t) => {
  const tasks = new SharedTasks<number>();
  let runs = 0;
  const work = async () => {
    runs++;
    await tick(20);
    return 42;
  };
  const results = await Promise.all([tasks.run('k', undefined, work), tasks.run('k', undefined, work), tasks.run('other', undefined, work)]);
  t.deepEqual(results, [42, 42, 42]);
  t.is(runs, 2);
});

test('one caller leaving does not stop the work; the last one does, after cleanup', async (t) => {
  const tasks = new SharedTasks<string>();
  let aborted = false;
  let cleaned = false;
  const work = (signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => resolve('done'), 100);
      signal.addEventListener('abort', () => {
        aborted = true;
        clearTimeout(timer);
        setTimeout(() => {
          cleaned = true;
          reject(new Error('stopped'));
        }, 20);
      });
    });
  const a = new AbortController();
  const b = new AbortController();
  const pa = tasks.run('k', a.signal, work);
  const pb = tasks.run('k', b.signal, work);
  await tick();
  a.abort();
  const ea = await t.throwsAsync(pa);
  t.true(isKind(ea, 'Canceled'));
  t.false(aborted);
  b.abort();
  const eb = await t.throwsAsync(pb);
  t.true(isKind(eb, 'Canceled'));
  t.true(aborted);
  t.true(cleaned, 'the last caller returns after the work cleaned up');
  t.deepEqual(tasks.keys(), []);
});

test('semaphore bounds concurrency and abandons aborted waits', async (t) => {
  const s = new Semaphore(2);
  let active = 0;
  let peak = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      const release = await s.acquire();
      active++;
      peak = Math.max(peak, active);
      await tick();
      active--;
      release();
    }),
  );
  t.is(peak, 2);
  const r1 = await s.acquire();
  const r2 = await s.acquire();
  const c = new AbortController();
  const waiting = s.acquire(c.signal);
  c.abort();
  t.true(isKind(await t.throwsAsync(waiting), 'Canceled'));
  r1();
  r2();
  const r3 = await s.acquire();
  r3();
});
