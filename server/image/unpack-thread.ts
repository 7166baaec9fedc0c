// berthd's side of the unpack thread (unpack-worker.ts): one worker for every unpack,
// started at the first and kept while unpacks come (stopped after IDLE_MS without one: the
// thread holds ~10 MiB, and a start costs ~90 ms of CPU once per burst of pulls, not per
// layer). A job per layer gathers its filesystem calls into batches of up to 128 KiB of
// file data or 64 calls, posts them without waiting, and waits only when it has eight
// batches in flight (so a slow disk slows the download, not the CRI calls), before a step
// the main thread does itself (mknod, setfattr) and at the end. Batches stay small so their
// call objects die young: 512 calls per batch lived long enough to be promoted into
// berthd's old generation, which grows to 64 MB before it is collected (node-flags.ts).
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

  /** A 1 MiB batch buffer: a spare one, or a new one. */
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
    return new UnpackJob(this, this.nextJob++);
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

  constructor(
    private readonly thread: UnpackThread,
    private readonly id: number,
  ) {
    this.data = thread.buffer();
  }

  /** Queues one call, sending the batch when it is full. */
  async call(op: UnpackOp): Promise<void> {
    this.ops.push(op);
    if (this.ops.length >= BATCH_OPS) await this.send();
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
        if (this.used === this.data.length) await this.send();
        const n = Math.min(chunk.length, this.data.length - this.used);
        chunk.copy(this.data, this.used, 0, n);
        this.ops.push({ op: 'write', fd, offset: this.used, length: n, position });
        this.used += n;
        position += n;
        chunk = chunk.subarray(n);
      }
    }
    if (this.used >= BATCH_BYTES || this.ops.length >= BATCH_OPS) await this.send();
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

  private async send(): Promise<void> {
    if (this.failure) throw this.failure;
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
