// Blobs by digest under <root>/content (OCI layout style: blobs/sha256/<hex>). A blob
// is streamed into ingest/, checked for size and digest, flushed, and only then
// renamed into place, so a blob that exists is always complete and correct.
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, internal, resourceExhausted } from '../errors.js';
import { Digester, digestAlgorithm, digestHex } from './digest.js';
import { abortError } from './http.js';
import { writevAll } from './writev.js';
import { killPoint } from '../kill-points.js';

/** Bytes a blob writer may hold for the disk: bounds berthd's memory per download. */
const WRITE_BACKLOG = 2 << 20;
/** Bytes gathered into one writev: socket reads are 16-64 KiB, a write per read costs
 *  more main-thread time than the write itself. */
const WRITE_BATCH = 1 << 20;

/** A blob's bytes do not match its descriptor (size or digest): FAILED_PRECONDITION, naming the blob. */
export class BlobMismatchError extends BerthError {
  constructor(
    readonly digest: string,
    message: string,
  ) {
    super('FailedPrecondition', `blob ${digest}: ${message}`);
  }
}

export interface BlobInfo {
  digest: string;
  size: number;
}

/** Turns a filesystem error while writing image data into the shared vocabulary. */
export function storageError(e: unknown, what: string): unknown {
  if (e instanceof BerthError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return resourceExhausted(`${what}: no space left on device`, e);
  if (code === 'EMFILE' || code === 'ENFILE') return resourceExhausted(`${what}: too many open files`, e);
  return e;
}

export class ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs');
    this.ingestDir = join(root, 'ingest');
  }

  /** Creates the directories and removes what interrupted writes left in ingest/. */
  async init(): Promise<void> {
    await mkdir(join(this.blobsDir, 'sha256'), { recursive: true, mode: 0o700 });
    await rm(this.ingestDir, { recursive: true, force: true });
    await mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  path(digest: string): string {
    return join(this.blobsDir, digestAlgorithm(digest), digestHex(digest));
  }

  async has(digest: string, size?: number): Promise<boolean> {
    try {
      const s = await stat(this.path(digest));
      return size === undefined || s.size === size;
    } catch {
      return false;
    }
  }

  async read(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (e) {
      throw internal(`blob ${digest} is missing from the content store`, e);
    }
  }

  /** Stores bytes already in memory (manifests, configs) after checking their digest. */
  async put(digest: string, bytes: Buffer): Promise<void> {
    const d = new Digester(digestAlgorithm(digest));
    d.update(bytes);
    if (d.digest() !== digest) throw new BlobMismatchError(digest, `content has digest ${d.digest()}`);
    if (await this.has(digest, bytes.length)) return;
    const tmp = this.tempPath(digest);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.commit(tmp, digest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw storageError(e, `writing blob ${digest}`);
    }
  }

  /** A writer for one blob: chunks in, then commit (verify, flush, rename) or abort. */
  async writer(digest: string, size: number | undefined): Promise<BlobWriter> {
    const tmp = this.tempPath(digest);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      return new BlobWriter(digest, size, tmp, fh, () => this.commit(tmp, digest), this.root);
    } catch (e) {
      throw storageError(e, `writing blob ${digest} to ${this.root}`);
    }
  }

  /**
   * Streams `source` into the store as `digest` of `size` bytes. `onData` sees every
   * chunk (progress). Size or digest mismatch → BlobMismatchError; a full disk →
   * resourceExhausted; nothing is left behind on failure.
   */
  async write(digest: string, size: number | undefined, source: Readable, signal: AbortSignal, onData?: (n: number) => void): Promise<void> {
    if (signal.aborted) throw abortError(signal);
    const w = await this.writer(digest, size);
    try {
      for await (const chunk of source) {
        if (signal.aborted) throw abortError(signal);
        await w.write(chunk as Buffer);
        onData?.((chunk as Buffer).length);
      }
      if (signal.aborted) throw abortError(signal);
      await w.commit();
    } catch (e) {
      source.destroy();
      await w.abort();
      if (signal.aborted) throw abortError(signal);
      throw e;
    }
  }

  /**
   * Stores a stream whose digest is not known beforehand (image archives name some
   * files by path only). `beforeCommit` sees the digest before the blob appears in the
   * store (to pin it against collection).
   */
  async writeUnknown(source: AsyncIterable<Buffer>, signal: AbortSignal | undefined, beforeCommit: (digest: string) => Promise<void>): Promise<BlobInfo> {
    const digester = new Digester('sha256');
    const tmp = join(this.ingestDir, `unknown-${randomBytes(8).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        for await (const c of source) {
          if (signal?.aborted) throw abortError(signal);
          digester.update(c);
          await fh.write(c);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      const digest = digester.digest();
      await beforeCommit(digest);
      await this.commit(tmp, digest);
      return { digest, size: digester.size };
    } catch (e) {
      await rm(tmp, { force: true });
      if (signal?.aborted) throw abortError(signal);
      throw storageError(e, `writing a blob to ${this.root}`);
    }
  }

  private tempPath(digest: string): string {
    return join(this.ingestDir, `${digestHex(digest).slice(0, 16)}-${randomBytes(6).toString('hex')}`);
  }

  private async commit(tmp: string, digest: string): Promise<void> {
    const dest = this.path(digest);
    await rename(tmp, dest);
    killPoint('content.blob.renamed');
    // Make the rename itself durable.
    const dir = await open(join(this.blobsDir, digestAlgorithm(digest)), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
    killPoint('content.blob.deleted');
  }

  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const alg of await readdir(this.blobsDir)) {
      for (const hex of await readdir(join(this.blobsDir, alg))) {
        try {
          const s = await stat(join(this.blobsDir, alg, hex));
          out.push({ digest: `${alg}:${hex}`, size: s.size });
        } catch {
          /* removed meanwhile */
        }
      }
    }
    return out;
  }
}

/** One blob being written: hashed and size-checked as it goes, renamed into the store
 *  only by commit() after both verify. */
export class BlobWriter {
  private readonly digester: Digester;
  private done = false;
  private readonly pending = new Set<Promise<void>>();
  private pendingBytes = 0;
  /** Chunks hashed but not yet handed to the disk, gathered into one writev. */
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  private failure: unknown;

  constructor(
    readonly digest: string,
    readonly size: number | undefined,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly rename: () => Promise<void>,
    private readonly root: string,
  ) {
    this.digester = new Digester(digestAlgorithm(digest));
  }

  get written(): number {
    return this.digester.size;
  }

  /**
   * Takes a chunk as it comes off the socket: hashed now, and written with the chunks
   * around it in one writev of about WRITE_BATCH at its offset in the background, so the
   * caller (a download feeding an unpack) is not held up by the disk and nothing is
   * copied. Resolves at once while less than WRITE_BACKLOG is held; otherwise when the
   * disk has caught up below that. The caller must not modify `chunk` afterwards.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    this.digester.update(chunk);
    if (this.size !== undefined && this.digester.size > this.size) {
      throw new BlobMismatchError(this.digest, `registry sent more than the ${this.size} bytes its descriptor gives`);
    }
    this.gathered.push(chunk);
    this.gatheredBytes += chunk.length;
    this.pendingBytes += chunk.length;
    if (this.gatheredBytes >= WRITE_BATCH) this.issue();
    while (this.pendingBytes > WRITE_BACKLOG && this.failure === undefined && this.pending.size > 0) await Promise.race(this.pending);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Starts the write of what has been gathered, at its offset in the file. */
  private issue(): void {
    if (this.gatheredBytes === 0) return;
    const chunks = this.gathered;
    const bytes = this.gatheredBytes;
    const position = this.digester.size - bytes;
    this.gathered = [];
    this.gatheredBytes = 0;
    const p = writevAll(this.fh, chunks, position).then(
      () => {
        this.pendingBytes -= bytes;
        this.pending.delete(p);
      },
      (e: unknown) => {
        this.pending.delete(p);
        this.failure ??= storageError(e, `writing blob ${this.digest} to ${this.root}`);
      },
    );
    this.pending.add(p);
  }

  private async flushPending(): Promise<void> {
    this.issue();
    await Promise.all(this.pending);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Verifies size and digest, flushes to disk and renames into place. */
  async commit(): Promise<void> {
    if (this.size !== undefined && this.digester.size !== this.size) {
      throw new BlobMismatchError(this.digest, `got ${this.digester.size} bytes, its descriptor gives ${this.size}`);
    }
    const actual = this.digester.digest();
    if (actual !== this.digest) throw new BlobMismatchError(this.digest, `digest mismatch, the downloaded content has ${actual}`);
    await this.flushPending();
    try {
      await this.fh.sync();
      await this.fh.close();
      this.done = true;
      await this.rename();
    } catch (e) {
      throw storageError(e, `writing blob ${this.digest} to ${this.root}`);
    }
  }

  /** Drops the temp file; safe after commit (then a no-op) or twice. */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await Promise.allSettled(this.pending);
      await this.fh.close().catch(() => {});
    }
    await rm(this.tmp, { force: true });
  }
}
