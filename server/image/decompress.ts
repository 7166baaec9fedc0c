// A layer blob as a stream of uncompressed tar bytes: gzip through node:zlib, zstd
// through Debian's `zstd -dc` (Node 20's zlib has no zstd), plain tar as is. The
// compression is recognised from the blob's first bytes, which registries and
// builders get right more often than media types. The source may be a file or a
// download in progress; errors of the source (a lost connection) come out as they
// are, not as a corrupt layer.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { failedPrecondition, internal } from '../errors.js';
import { sniffCompression, type Compression } from './media-types.js';

export interface DecompressedStream {
  compression: Compression;
  chunks: AsyncIterable<Buffer>;
  /** Waits for the decompressor to finish cleanly (zstd's exit status). */
  finished(): Promise<void>;
  /** Stops everything (on error or cancellation); safe to call twice. */
  destroy(): void;
}

/** gunzip's output pieces, and reads of a stored blob. Each zlib output piece is a round
 *  trip to the thread pool (a thread woken up), so smaller pieces cost main-thread time
 *  (64 KiB: ~15% more CPU per pull); larger ones cost memory, since the allocator keeps
 *  what big short-lived buffers fragment (256 KiB: 10-25 MiB more peak RSS). */
const CHUNK = 128 << 10;

export function openDecompressed(file: string, zstdBinary = 'zstd'): Promise<DecompressedStream> {
  return decompress(createReadStream(file, { highWaterMark: CHUNK }), zstdBinary);
}

/** Reads until it has the first 4 bytes, and gives them back in front of the rest. */
async function peek(source: AsyncIterable<Buffer>): Promise<{ head: Buffer; rest: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const first: Buffer[] = [];
  let n = 0;
  let ended = false;
  while (n < 4) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    first.push(r.value);
    n += r.value.length;
  }
  const head = Buffer.concat(first);
  const rest = (async function* () {
    if (head.length) yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  return { head, rest };
}

/** Input handed to the decompressor per call: one zlib call or pipe write per 256 KiB
 *  instead of one per 16-64 KiB socket read, and zlib fills whole output pieces. */
const FEED_PIECE = 256 << 10;
/** Input buffers per decompressor: one being decompressed while the next fills. */
const FEED_BUFFERS = 2;
/** Feed buffers kept for the next layers: as many as the default number of concurrent
 *  downloads uses. */
const MAX_SPARE_FEED_BUFFERS = 6;
const spareFeedBuffers: Buffer[] = [];

/**
 * Copies the source's bytes into FEED_BUFFERS buffers of FEED_PIECE and writes them to
 * `sink` (gunzip, or zstd's stdin); a buffer is filled again once the sink's write
 * callback says it has been consumed. That bounds what waits for the decompressor and
 * allocates nothing per piece. The buffers come from, and go back to, a small pool
 * shared by all layers: a buffer allocated per layer would live as long as the layer,
 * land in V8's old generation and stay in memory until a major GC. Ends `sink` after
 * the last byte. Rejects with the source's error (after destroying the sink with it)
 * or the sink's.
 */
async function feed(source: AsyncIterable<Buffer>, sink: Writable): Promise<void> {
  const free: Buffer[] = [];
  for (let i = 0; i < FEED_BUFFERS; i++) free.push(spareFeedBuffers.pop() ?? Buffer.allocUnsafeSlow(FEED_PIECE));
  let ended = false;
  let wake: (() => void) | undefined;
  let failed: { e: unknown } | undefined;
  const onClose = () => {
    failed ??= { e: new Error('the decompressor was closed before its input ended') };
    wake?.();
  };
  sink.once('close', onClose);
  const write = (buf: Buffer, n: number) => {
    sink.write(buf.subarray(0, n), (err) => {
      if (err) {
        // The sink may not be done with it: never hand this buffer out again.
        failed ??= { e: err };
      } else if (ended) {
        if (spareFeedBuffers.length < MAX_SPARE_FEED_BUFFERS) spareFeedBuffers.push(buf);
      } else free.push(buf);
      wake?.();
    });
  };
  const take = async (): Promise<Buffer> => {
    while (free.length === 0 && failed === undefined) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    if (failed !== undefined) throw failed.e;
    return free.pop()!;
  };
  try {
    let buf = await take();
    let n = 0;
    for await (const chunk of source) {
      for (let off = 0; off < chunk.length; ) {
        const copied = chunk.copy(buf, n, off);
        n += copied;
        off += copied;
        if (n === buf.length) {
          write(buf, n);
          buf = await take();
          n = 0;
        }
      }
    }
    ended = true;
    if (n > 0) write(buf, n);
    else free.push(buf);
    sink.end();
    // Buffers not in flight go back now; those in flight when their write completes.
    for (const b of free.splice(0)) if (spareFeedBuffers.length < MAX_SPARE_FEED_BUFFERS) spareFeedBuffers.push(b);
  } catch (e) {
    ended = true;
    if (failed === undefined) sink.destroy(e as Error); // the source failed
    throw e;
  } finally {
    sink.off('close', onClose);
  }
}

export async function decompress(source: AsyncIterable<Buffer>, zstdBinary = 'zstd'): Promise<DecompressedStream> {
  const { head, rest } = await peek(source);
  const compression = sniffCompression(head);
  let sourceError: unknown;
  const input = (async function* () {
    try {
      yield* rest;
    } catch (e) {
      sourceError = e;
      throw e;
    }
  })();
  const stopInput = () => void input.return(undefined).catch(() => {});
  const withSourceErrors = async function* (out: AsyncIterable<Buffer>, map: (e: Error) => Error): AsyncGenerator<Buffer> {
    try {
      for await (const c of out) yield c as Buffer;
    } catch (e) {
      throw sourceError ?? map(e as Error);
    }
    if (sourceError) throw sourceError;
  };

  if (compression === 'none') {
    return { compression, chunks: withSourceErrors(input, (e) => e), finished: async () => {}, destroy: stopInput };
  }
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: CHUNK });
    const done = Promise.all([feed(input, gunzip), finished(gunzip)]);
    done.catch(() => {});
    return {
      compression,
      chunks: withSourceErrors(gunzip, (e) => (String((e as NodeJS.ErrnoException).code ?? '').startsWith('Z_') ? failedPrecondition(`corrupt gzip layer: ${e.message}`, e) : e)),
      finished: () => done.then(() => undefined, (e) => Promise.reject(sourceError ?? failedPrecondition(`corrupt gzip layer: ${(e as Error).message}`, e))),
      destroy: () => {
        gunzip.destroy();
        stopInput();
      },
    };
  }
  const child = spawn(zstdBinary, ['-d', '-c', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const fed = feed(input, child.stdin);
  fed.catch(() => {
    // zstd stopped reading (it failed, or we stopped it) or the source failed: zstd must not wait on stdin.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(internal(`cannot run ${zstdBinary} to decompress a zstd layer: ${e.message}`, e)));
    child.on('close', (code, signal) => {
      if (sourceError) reject(sourceError);
      else if (code === 0) resolve();
      else reject(failedPrecondition(`corrupt zstd layer: ${stderr.trim() || (signal ? `zstd killed by ${signal}` : `zstd exit code ${code}`)}`));
    });
  });
  exited.catch(() => {});
  return {
    compression,
    chunks: withSourceErrors(child.stdout, (e) => failedPrecondition(`zstd layer: ${e.message}`, e)),
    finished: () => exited,
    destroy: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child.stdin.destroy();
      child.stdout.destroy();
      stopInput();
    },
  };
}
