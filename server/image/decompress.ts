// A layer blob as a stream of uncompressed tar bytes: gzip through node:zlib, zstd
// through Debian's `zstd -dc` (Node 20's zlib has no zstd), plain tar as is. The
// compression is recognised from the blob's first bytes, which registries and
// builders get right more often than media types. The source may be a file or a
// download in progress; errors of the source (a lost connection) come out as they
// are, not as a corrupt layer.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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

/** Reads of a stored blob and pieces of decompressed output: the size of a socket read,
 *  so the buffers a pull churns through are alike and the allocator reuses them instead
 *  of growing the heap around differently sized ones. */
const CHUNK = 64 << 10;

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

export async function decompress(source: AsyncIterable<Buffer>, zstdBinary = 'zstd'): Promise<DecompressedStream> {
  const { head, rest } = await peek(source);
  const compression = sniffCompression(head);
  let sourceError: unknown;
  const input = Readable.from(
    (async function* () {
      try {
        yield* rest;
      } catch (e) {
        sourceError = e;
        throw e;
      }
    })(),
    { objectMode: false },
  );
  const withSourceErrors = async function* (out: AsyncIterable<Buffer>, map: (e: Error) => Error): AsyncGenerator<Buffer> {
    try {
      for await (const c of out) yield c as Buffer;
    } catch (e) {
      throw sourceError ?? map(e as Error);
    }
    if (sourceError) throw sourceError;
  };

  if (compression === 'none') {
    return { compression, chunks: withSourceErrors(input, (e) => e), finished: async () => {}, destroy: () => input.destroy() };
  }
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: CHUNK });
    const done = pipeline(input, gunzip);
    done.catch(() => {});
    return {
      compression,
      chunks: withSourceErrors(gunzip, (e) => (String((e as NodeJS.ErrnoException).code ?? '').startsWith('Z_') ? failedPrecondition(`corrupt gzip layer: ${e.message}`, e) : e)),
      finished: () => done.then(() => undefined, (e) => Promise.reject(sourceError ?? failedPrecondition(`corrupt gzip layer: ${(e as Error).message}`, e))),
      destroy: () => {
        input.destroy();
        gunzip.destroy();
      },
    };
  }
  const child = spawn(zstdBinary, ['-d', '-c', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const fed = pipeline(input, child.stdin);
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
      input.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child.stdout.destroy();
    },
  };
}
