// One positional writev that finishes: node's FileHandle.writev may write less than
// asked (and writev(2) takes at most IOV_MAX buffers), so go on until every byte is out.
import type { FileHandle } from 'node:fs/promises';

/** writev(2) takes at most IOV_MAX (1024 on Linux) buffers at a time. */
const MAX_IOVECS = 1024;

/** Writes every byte of `chunks` at `position`, however the kernel splits the work. */
export async function writevAll(fh: FileHandle, chunks: Buffer[], position: number): Promise<void> {
  let i = 0;
  while (i < chunks.length) {
    const batch = chunks.slice(i, i + MAX_IOVECS);
    let { bytesWritten } = await fh.writev(batch, position);
    if (bytesWritten === 0 && batch.some((b) => b.length > 0)) throw Object.assign(new Error('writev wrote nothing'), { code: 'EIO' });
    position += bytesWritten;
    // A short write: skip what went out and go on from the first byte that did not.
    let j = 0;
    while (j < batch.length && bytesWritten >= batch[j]!.length) bytesWritten -= batch[j++]!.length;
    if (j < batch.length) {
      chunks[i + j] = batch[j]!.subarray(bytesWritten);
      i += j;
    } else i += batch.length;
  }
}
