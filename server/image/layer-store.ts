// Unpacked layers under <root>/layers/sha256/<chain id hex>, each ready to be an
// overlayfs lowerdir. A layer is unpacked into ingest/ and renamed into place only
// after its diff ID verified, so a layer directory that exists is complete.
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { failedPrecondition } from '../errors.js';
import { run } from '../exec.js';
import { storageError } from './content-store.js';
import { openDecompressed, type DecompressedStream } from './decompress.js';
import { digestHex } from './digest.js';
import { abortError } from './http.js';
import { unpackLayer, type UnpackResult, type UnpackTools } from './layer-unpack.js';
import { UnpackThread } from './unpack-thread.js';
import { killPoint } from '../kill-points.js';

export class LayerStore {
  readonly layersDir: string;
  readonly ingestDir: string;
  /** Makes the filesystem calls of every unpack (started at the first, kept until close). */
  private readonly thread = new UnpackThread();

  constructor(
    readonly root: string,
    readonly tools?: UnpackTools & { zstd?: string },
    /** Flush each unpacked layer to disk before it is committed. */
    readonly durable = true,
  ) {
    this.layersDir = join(root, 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  async init(): Promise<void> {
    await mkdir(this.layersDir, { recursive: true, mode: 0o711 });
    await rm(this.ingestDir, { recursive: true, force: true });
    await mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  /** The directory of an unpacked layer (an overlay lowerdir). */
  path(chainId: string): string {
    return join(this.layersDir, digestHex(chainId));
  }

  async exists(chainId: string): Promise<boolean> {
    try {
      return (await stat(this.path(chainId))).isDirectory();
    } catch {
      return false;
    }
  }

  /** Unpacks a stored layer blob as `chainId`, checking its uncompressed digest. */
  unpackFile(chainId: string, blobFile: string, diffId: string, signal: AbortSignal): Promise<UnpackResult> {
    return this.unpack(chainId, () => openDecompressed(blobFile, this.tools?.zstd), diffId, signal);
  }

  /**
   * Unpacks a (compressed) layer stream as `chainId` into a temp directory, checks the
   * uncompressed digest, runs `beforeCommit` (the streamed blob's own verification and
   * commit) and renames the directory into place. Nothing is left on failure.
   */
  async unpack(
    chainId: string,
    open: () => Promise<DecompressedStream>,
    diffId: string,
    signal: AbortSignal,
    beforeCommit?: () => Promise<void>,
  ): Promise<UnpackResult> {
    const tmp = join(this.ingestDir, `${digestHex(chainId).slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp, { mode: 0o755 });
    let src: DecompressedStream | undefined;
    try {
      src = await open();
      const res = await unpackLayer({ tar: src.chunks, dest: tmp, signal, thread: this.thread, ...(this.tools ? { tools: this.tools } : {}) });
      await src.finished();
      if (res.diffId !== diffId) throw failedPrecondition(`layer ${diffId}: uncompressed content has digest ${res.diffId} (corrupt layer or wrong diff_ids in the image config)`);
      // The layer's record will say it is complete: make that true across a power cut
      // (Node has no syncfs(2); coreutils' `sync -f` is it).
      if (this.durable) await run('sync', ['-f', tmp]);
      killPoint('layers.layer.unpacked');
      if (beforeCommit) await beforeCommit();
      try {
        await rename(tmp, this.path(chainId));
        killPoint('layers.layer.committed');
      } catch (e) {
        // Another unpack of the same chain got there first: theirs is as good as ours.
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        await rm(tmp, { recursive: true, force: true });
      }
      return res;
    } catch (e) {
      src?.destroy();
      await rm(tmp, { recursive: true, force: true });
      if (signal.aborted) throw abortError(signal);
      throw storageError(e, `unpacking layer ${diffId}`);
    }
  }

  /** Stops the unpack thread (berthd shutdown). */
  close(): Promise<void> {
    return this.thread.close();
  }

  async delete(chainId: string): Promise<void> {
    // Rename first so a half-deleted layer is never mistaken for a complete one.
    const doomed = join(this.ingestDir, `rm-${digestHex(chainId).slice(0, 16)}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(this.path(chainId), doomed);
      killPoint('layers.layer.doomed');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    await rm(doomed, { recursive: true, force: true });
  }

  /** Chain IDs present on disk. */
  async list(): Promise<string[]> {
    return (await readdir(this.layersDir)).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}
