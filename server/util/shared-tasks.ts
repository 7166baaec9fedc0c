// A general utility (used by image pulls): one piece of work shared by every caller that asks for the same key while it runs
// (concurrent pulls of one image share one download; pulls of different images share
// their common layers). Each caller can give up on its own (its signal aborts, it gets
// `canceled`); the work itself is aborted only when the last caller has gone.
import { setMaxListeners } from 'node:events';
import { abortReason } from './abort.js';

interface Task<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

export class SharedTasks<T> {
  private readonly tasks = new Map<string, Task<T>>();

  /** Keys of the work running now. */
  keys(): string[] {
    return [...this.tasks.keys()];
  }

  run(key: string, signal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let task = this.tasks.get(key);
    if (!task) {
      const controller = new AbortController();
      setMaxListeners(0, controller.signal);
      const t: Task<T> = { promise: Promise.resolve().then(() => work(controller.signal)), controller, waiters: 0 };
      t.promise
        .finally(() => {
          if (this.tasks.get(key) === t) this.tasks.delete(key);
        })
        .catch(() => {
          /* reported to the waiters */
        });
      this.tasks.set(key, t);
      task = t;
    }
    const t = task;
    t.waiters++;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const leave = () => {
        done = true;
        t.waiters--;
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        if (done) return;
        leave();
        if (t.waiters === 0) {
          // Nobody wants it any more: stop it, and let a later caller start afresh. The
          // last caller returns only once the work has cleaned up after itself.
          if (this.tasks.get(key) === t) this.tasks.delete(key);
          t.controller.abort(abortReason(signal!));
          t.promise.then(
            () => reject(abortReason(signal!)),
            () => reject(abortReason(signal!)),
          );
          return;
        }
        reject(abortReason(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      t.promise.then(
        (v) => {
          if (done) return;
          leave();
          resolve(v);
        },
        (e) => {
          if (done) return;
          leave();
          reject(e);
        },
      );
    });
  }
}
