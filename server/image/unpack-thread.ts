// berthd's side of the unpack thread (unpack-worker.ts): one worker for every unpack,
// started at the first and kept while unpacks come (stopped after IDLE_MS without one: the
// thread holds ~10 MiB, and a start costs ~90 ms of CPU once per burst of pulls, not per
// layer). A job per layer gathers its filesystem calls into batches of up to 128 KiB of
// file data or 64 calls, posts them without waiting, and waits only when it has eight
// batches in flight (so a slow disk slows the download, not the CRI calls), before a step
// the main thread does itself (mknod, setfattr, a large file's data) and at the end.
// Batches stay small so their call objects die young: 512 calls per batch lived long enough
// to be promoted into berthd's old generation, which grows to 64 MB before it is collected
// (node-flags.ts).
//
// A layer of a few entries does not start the thread: while it is not running, a job runs
// the calls it is asked to flush itself, one by one through libuv's pool, and hands over to
// the thread only when it fills a batch. The layers of an image of a few large files (the
// bench's pull: a directory and a file per layer, the file written directly) then cost a
// dozen round trips each, not the thread's start (~90 ms of CPU) and its ~10 MiB.
import { chmod, lchown, link, lutimes, mkdir, open, rm, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { internal } from '../errors.js';
import type { UnpackBatch, UnpackJobEnd, UnpackOp, UnpackOpError, UnpackReply } from './unpack-worker.js';

const BATCH_BYTES = 128 << 10;
const BATCH_OPS = 64;
const MAX_IN_FLIGHT = 8;
/** Batch buffers kept for reuse (the thread hands each back with its answer). */
const SPARE_BUFFERS = 8;
/** The thread stops after this long without an unpack. */
export const IDLE_MS = 30_000;

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** An errno error rebuilt from the worker's data: `code` kept, so ENOSPC stays ENOSPC. */
function errnoError(e: UnpackOpError): Error {
  return Object.assign(new Error(e.message), { ...(e.code ? { code: e.code } : {}), ...(e.syscall ? { syscall: e.syscall } : {}), ...(e.path ? { path: e.path } : {}) });
}

export class UnpackThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly spare: ArrayBuffer[] = [];
  private nextJob = 1;
  private activeJobs = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly idleMs = IDLE_MS) {}

  /** A batch buffer (BATCH_BYTES): a spare one, or a new one. */
  buffer(): Buffer {
    const ab = this.spare.pop();
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  private start(): Worker {
    const w = new Worker(new URL('./unpack-worker.js', import.meta.url), {
      // It holds a few batches and no layer data of its own: a small heap is plenty.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 1 },
      stdout: false,
      stderr: false,
    });
    w.on('message', (r: UnpackReply) => {
      const key = `${r.job}:${r.seq}`;
      const p = this.pending.get(key);
      if (!p) return;
      this.pending.delete(key);
      if (this.pending.size === 0) w.unref();
      if (r.data.byteLength === BATCH_BYTES && this.spare.length < SPARE_BUFFERS) this.spare.push(r.data);
      if (r.error) p.reject(errnoError(r.error));
      else if (r.skipped) p.reject(internal('unpack: batch skipped after an earlier failure'));
      else p.resolve();
    });
    const fail = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined; // the next unpack starts a new thread
      const err = internal(`unpack thread ${why}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', (e) => fail(`failed: ${e.message}`));
    w.on('exit', (code) => fail(`exited with code ${code}`));
    // Referenced only while batches are out: an idle unpack thread never keeps berthd (or a
    // test) alive. Listeners first: adding a 'message' listener refs the worker again.
    w.unref();
    return w;
  }

  /** Posts a batch; the promise settles when the thread has run it. */
  post(b: UnpackBatch): Promise<void> {
    const w = (this.worker ??= this.start());
    return new Promise<void>((resolve, reject) => {
      if (this.pending.size === 0) w.ref();
      this.pending.set(`${b.job}:${b.seq}`, { resolve, reject });
      w.postMessage(b, [b.data]);
    });
  }

  /** A batch buffer a job did not send. */
  giveBack(ab: ArrayBuffer): void {
    if (ab.byteLength === BATCH_BYTES && this.spare.length < SPARE_BUFFERS) this.spare.push(ab);
  }

  end(job: number): void {
    this.worker?.postMessage({ kind: 'end', job } satisfies UnpackJobEnd);
    if (--this.activeJobs > 0) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.activeJobs === 0 && this.pending.size === 0) void this.stop();
    }, this.idleMs).unref();
  }

  /** A new job: the filesystem calls of one layer unpack, in order. */
  job(): UnpackJob {
    clearTimeout(this.idleTimer);
    this.activeJobs++;
    return new UnpackJob(this, this.nextJob++, this.worker === undefined);
  }

  /** True while the thread runs (started by the first batch, stopped when idle or closed). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  private async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.spare.length = 0;
    if (w) await w.terminate();
  }

  /** Stops the thread (berthd shutdown); unpacks still running fail. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    await this.stop();
    const err = internal('unpack thread closed');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/**
 * The calls of one unpack. Methods queue calls; nothing is known to be done until `flush()`
 * resolves. The first failure is thrown by the next method that waits (a full pipeline,
 * `flush`), and the calls queued after it are never run.
 */
export class UnpackJob {
  private ops: UnpackOp[] = [];
  private data: Buffer;
  private used = 0;
  private seq = 0;
  private nextFd = 1;
  private inFlight: Promise<void>[] = [];
  private failure: Error | undefined;

  /**
   * @param local run flushed calls on this thread until the job fills a batch (the
   *   thread was not running when the job began)
   */
  constructor(
    private readonly thread: UnpackThread,
    private readonly id: number,
    private local = false,
  ) {
    this.data = thread.buffer();
  }

  /** True while the job has run its calls itself (none went to the thread yet). */
  get ranLocally(): boolean {
    return this.local;
  }

  /** Queues one call, sending the batch when it is full. */
  async call(op: UnpackOp): Promise<void> {
    this.ops.push(op);
    if (this.ops.length >= BATCH_OPS) await this.send(true);
  }

  /** A new file handle for create/write/close. */
  fd(): number {
    return this.nextFd++;
  }

  /**
   * Queues a write of `chunks` at `position` of handle `fd`; the bytes are copied into the
   * batch (the chunks' memory stays the caller's: they may share buffers with other entries).
   */
  async write(fd: number, chunks: readonly Buffer[], position: number): Promise<void> {
    for (let chunk of chunks) {
      while (chunk.length > 0) {
        if (this.used === this.data.length) await this.send(true);
        const n = Math.min(chunk.length, this.data.length - this.used);
        chunk.copy(this.data, this.used, 0, n);
        this.ops.push({ op: 'write', fd, offset: this.used, length: n, position });
        this.used += n;
        position += n;
        chunk = chunk.subarray(n);
      }
    }
    if (this.used >= BATCH_BYTES || this.ops.length >= BATCH_OPS) await this.send(true);
  }

  /** Sends what is queued and waits until every call so far has run; throws the first failure. */
  async flush(): Promise<void> {
    await this.send();
    await this.settle(0);
  }

  /** Ends the job: waits for what was sent (never throws), and lets the thread forget it. */
  async end(): Promise<void> {
    this.ops = [];
    if (this.used === 0 && this.data.length === BATCH_BYTES) this.thread.giveBack(this.data.buffer as ArrayBuffer);
    this.data = Buffer.alloc(0);
    this.used = 0;
    await Promise.allSettled(this.inFlight);
    this.inFlight = [];
    this.thread.end(this.id);
  }

  /** Sends the queued calls to the thread, or (a local job's flush) runs them here. */
  private async send(full = false): Promise<void> {
    if (this.failure) throw this.failure;
    if (full) this.local = false; // a job this big is worth the thread
    if (this.local) {
      const ops = this.ops;
      this.ops = [];
      const used = this.used;
      this.used = 0;
      try {
        await runOps(ops, this.data.subarray(0, used));
      } catch (e) {
        this.failure = e as Error;
        throw e;
      }
      return;
    }
    if (this.ops.length > 0) {
      // Only a batch with file bytes gives its buffer away; the next one gets a fresh one.
      const data = this.used > 0 ? (this.data.buffer as ArrayBuffer) : new ArrayBuffer(0);
      const done = this.thread.post({ kind: 'batch', job: this.id, seq: this.seq++, ops: this.ops, data });
      done.catch((e: Error) => {
        this.failure ??= e;
      });
      this.inFlight.push(done);
      this.ops = [];
      if (this.used > 0) {
        this.data = this.thread.buffer();
        this.used = 0;
      }
    }
    await this.settle(MAX_IN_FLIGHT - 1);
  }

  /** Waits until at most `n` batches are in flight. */
  private async settle(n: number): Promise<void> {
    while (this.inFlight.length > n) {
      const first = this.inFlight.shift()!;
      try {
        await first;
      } catch (e) {
        this.failure ??= e as Error;
      }
    }
    if (this.failure) throw this.failure;
  }
}

/**
 * The calls of one flushed batch, run in order on berthd's thread through libuv's pool
 * (what the unpack thread does with synchronous calls). Files a batch creates are closed
 * by its end (a job flushes only between entries); any left open by a failure are closed.
 */
async function runOps(ops: readonly UnpackOp[], data: Buffer): Promise<void> {
  const files = new Map<number, FileHandle>();
  const fileOf = (fd: number): FileHandle => {
    const fh = files.get(fd);
    if (!fh) throw Object.assign(new Error(`unpack: handle ${fd} is not open`), { code: 'EBADF' });
    return fh;
  };
  try {
    for (const o of ops) {
      switch (o.op) {
        case 'mkdir':
          await mkdir(o.path, { mode: o.mode });
          break;
        case 'create':
          files.set(o.fd, await open(o.path, 'wx', 0o600));
          break;
        case 'write': {
          const fh = fileOf(o.fd);
          let done = 0;
          while (done < o.length) {
            const { bytesWritten } = await fh.write(data, o.offset + done, o.length - done, o.position + done);
            if (bytesWritten === 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO', syscall: 'write' });
            done += bytesWritten;
          }
          break;
        }
        case 'close': {
          const fh = fileOf(o.fd);
          files.delete(o.fd);
          await fh.close();
          break;
        }
        case 'symlink':
          await symlink(o.target, o.path);
          break;
        case 'link':
          await link(o.existing, o.path);
          break;
        case 'lchown':
          await lchown(o.path, o.uid, o.gid);
          break;
        case 'chmod':
          await chmod(o.path, o.mode);
          break;
        case 'lutimes':
          await lutimes(o.path, o.atime, o.mtime);
          break;
        case 'utimes':
          await utimes(o.path, o.atime, o.mtime);
          break;
        case 'rm':
          await rm(o.path, { recursive: true, force: true });
          break;
      }
    }
  } finally {
    for (const fh of files.values()) await fh.close().catch(() => undefined);
  }
}
