// The unpack thread: one worker for all of berthd's unpacks (started at the first, kept
// while unpacks come, see unpack-thread.ts) that makes every filesystem call of every layer unpack — mkdir, create and write, symlink,
// link, chown, chmod, times, rm — with synchronous syscalls, in the order berthd sent them.
//
// Why a thread and why synchronous: through libuv's thread pool each of those calls costs a
// round trip (two thread wake-ups, ~100-200 µs on our test machines) and a small file took
// six in a row (5,050 files on tmpfs: 4.0-4.6 s); made synchronously they take microseconds
// (0.53-0.58 s), but on berthd's main thread a slow disk then stalls every CRI call. Here
// they block only this thread. The main thread still parses the tar, hashes and checks
// every path (layer-unpack.ts); this thread only executes. An earlier attempt moved
// decompression and hashing into per-layer workers and was dropped (a worker costs ~90 ms
// of CPU to start and holds its own V8 heap): this one starts once per burst of pulls, not
// per layer, holds no layer data beyond the batches in flight (their buffers go back and
// forth), and its heap stays small (resourceLimits in unpack-thread.ts): ~10 MiB of RSS.
//
// Protocol: the main thread posts batches {job, seq, ops, data}; `data` is an ArrayBuffer
// transferred with the message holding the file bytes the ops point into. Each batch is
// answered {job, seq, data} or {job, seq, data, error}, the buffer transferred back to be
// filled again: buffers go round instead of piling up here until this small heap collects. After a job's first failure its later batches
// are skipped (answered with `skipped`) until its `end`, which also closes files the job
// left open.
import { chmodSync, closeSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, rmSync, symlinkSync, utimesSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** One filesystem call; paths are absolute, already checked by the main thread. */
export type UnpackOp =
  | { op: 'mkdir'; path: string; mode: number }
  /** open(path, O_CREAT|O_EXCL|O_WRONLY, 0600) as handle `fd` (a number the job chooses). */
  | { op: 'create'; path: string; fd: number }
  /** pwrite data[offset, offset+length) of the batch at `position` of handle `fd`. */
  | { op: 'write'; fd: number; offset: number; length: number; position: number }
  | { op: 'close'; fd: number }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'link'; existing: string; path: string }
  | { op: 'lchown'; path: string; uid: number; gid: number }
  | { op: 'chmod'; path: string; mode: number }
  /** Times in seconds; lutimes does not follow a final symlink, utimes does (directories). */
  | { op: 'lutimes' | 'utimes'; path: string; atime: number; mtime: number }
  | { op: 'rm'; path: string };

export interface UnpackBatch {
  kind: 'batch';
  job: number;
  seq: number;
  ops: UnpackOp[];
  data: ArrayBuffer;
}

export interface UnpackJobEnd {
  kind: 'end';
  job: number;
}

/** An errno error as data (structured clone keeps no class or `code`). */
export interface UnpackOpError {
  message: string;
  code?: string;
  syscall?: string;
  path?: string;
}

export interface UnpackReply {
  job: number;
  seq: number;
  /** The batch's buffer, transferred back for the next batch (empty when the batch had none). */
  data: ArrayBuffer;
  error?: UnpackOpError;
  /** Not run: an earlier batch of the job failed. */
  skipped?: boolean;
}

/** Open files per job: job → (handle → fd). */
const open = new Map<number, Map<number, number>>();
const failed = new Set<number>();

function fdOf(job: number, handle: number): number {
  const fd = open.get(job)?.get(handle);
  if (fd === undefined) throw Object.assign(new Error(`unpack: handle ${handle} is not open`), { code: 'EBADF' });
  return fd;
}

/** Applies `ops` in order; the first failure stops the batch. */
export function applyOps(job: number, ops: readonly UnpackOp[], data: Buffer): void {
  for (const o of ops) {
    switch (o.op) {
      case 'mkdir':
        mkdirSync(o.path, { mode: o.mode });
        break;
      case 'create': {
        const fd = openSync(o.path, 'wx', 0o600);
        let files = open.get(job);
        if (!files) open.set(job, (files = new Map()));
        files.set(o.fd, fd);
        break;
      }
      case 'write': {
        const fd = fdOf(job, o.fd);
        let done = 0;
        while (done < o.length) {
          const n = writeSync(fd, data, o.offset + done, o.length - done, o.position + done);
          if (n === 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO', syscall: 'write' });
          done += n;
        }
        break;
      }
      case 'close': {
        const fd = fdOf(job, o.fd);
        open.get(job)!.delete(o.fd);
        closeSync(fd);
        break;
      }
      case 'symlink':
        symlinkSync(o.target, o.path);
        break;
      case 'link':
        linkSync(o.existing, o.path);
        break;
      case 'lchown':
        lchownSync(o.path, o.uid, o.gid);
        break;
      case 'chmod':
        chmodSync(o.path, o.mode);
        break;
      case 'lutimes':
        lutimesSync(o.path, o.atime, o.mtime);
        break;
      case 'utimes':
        utimesSync(o.path, o.atime, o.mtime);
        break;
      case 'rm':
        rmSync(o.path, { recursive: true, force: true });
        break;
    }
  }
}

function endJob(job: number): void {
  for (const fd of open.get(job)?.values() ?? []) {
    try {
      closeSync(fd);
    } catch {
      // Already gone; nothing more to release.
    }
  }
  open.delete(job);
  failed.delete(job);
}

function asData(e: unknown): UnpackOpError {
  const err = e as NodeJS.ErrnoException;
  return {
    message: String(err?.message ?? e),
    ...(err?.code ? { code: err.code } : {}),
    ...(err?.syscall ? { syscall: err.syscall } : {}),
    ...(err?.path ? { path: err.path } : {}),
  };
}

const port = parentPort;
if (port) {
  port.on('message', (m: UnpackBatch | UnpackJobEnd) => {
    if (m.kind === 'end') {
      endJob(m.job);
      return;
    }
    const reply = (r: Omit<UnpackReply, 'job' | 'seq' | 'data'>) => port.postMessage({ job: m.job, seq: m.seq, data: m.data, ...r } satisfies UnpackReply, [m.data]);
    if (failed.has(m.job)) return reply({ skipped: true });
    try {
      applyOps(m.job, m.ops, Buffer.from(m.data));
      reply({});
    } catch (e) {
      failed.add(m.job);
      reply({ error: asData(e) });
    }
  });
}
