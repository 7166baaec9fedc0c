// Applies one layer tar to an empty directory, in the form overlayfs stacks directly:
// ownership, modes, times, xattrs, hard links and symlinks kept; OCI whiteouts turned
// into overlay ones (`.wh.name` → 0/0 character device, `.wh..wh..opq` →
// trusted.overlay.opaque=y). Entries that would land outside the directory, or pass
// through a symlink on the way, fail the layer.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, failedPrecondition, internal } from '../errors.js';
import { run } from '../exec.js';
import { abortError } from './http.js';
import { Digester } from './digest.js';
import { readTar, type TarHeader } from './tar-reader.js';
import type { UnpackThread } from './unpack-thread.js';
import { writevAll } from './writev.js';

export interface UnpackResult {
  /** sha256 of the uncompressed tar stream. */
  diffId: string;
  /** Bytes of regular file data written. */
  size: number;
  /** Filesystem objects created. */
  inodes: number;
}

export interface UnpackTools {
  mknod: string;
  setfattr: string;
}

export const defaultUnpackTools: UnpackTools = { mknod: 'mknod', setfattr: 'setfattr' };

type Kind = 'dir' | 'file' | 'symlink' | 'other';

/** File data gathered into one write. */
const FILE_WRITE_BATCH = 1 << 20;
/**
 * Files at least this large are written by the main thread through libuv's pool
 * (writeFileDirect), smaller ones by the unpack thread. Measured with the bench's 150 MB
 * pull (5 files of 30 MB): copying every byte into the thread's batches and a message
 * round trip per 128 KiB made the pull 6-12 % slower than writev(2) of the pieces as they
 * come; for a small file, the pool's three round trips (open, write, close) cost more
 * than the thread's synchronous calls.
 */
const DIRECT_FILE = 1 << 20;

/**
 * Reads a file's `body`, its decompressed pieces gathered per MiB (FILE_WRITE_BATCH): `write`
 * gets each gathered run of pieces with its position in the file. Returns the bytes read.
 */
async function gatherBody(
  body: AsyncIterable<Buffer>,
  signal: AbortSignal | undefined,
  write: (chunks: Buffer[], position: number, bytes: number) => Promise<void>,
): Promise<number> {
  let gathered: Buffer[] = [];
  let bytes = 0;
  let position = 0;
  const flush = async () => {
    const chunks = gathered;
    const n = bytes;
    gathered = [];
    bytes = 0;
    await write(chunks, position, n);
    position += n;
  };
  for await (const chunk of body) {
    if (signal?.aborted) throw abortError(signal);
    gathered.push(chunk);
    bytes += chunk.length;
    if (bytes >= FILE_WRITE_BATCH) await flush();
  }
  if (bytes > 0) await flush();
  return position;
}

/**
 * Creates `path` (O_EXCL, mode 0600 until the metadata is applied) and writes `body` to it,
 * one writev(2) per MiB gathered, the next MiB gathered while the last is written (at most
 * one write in flight: ~2 MiB held). Returns the bytes written.
 */
async function writeFileDirect(path: string, body: AsyncIterable<Buffer>, signal: AbortSignal | undefined, onData: (n: number) => void): Promise<number> {
  const fh = await open(path, 'wx', 0o600);
  let writing: Promise<void> | undefined;
  let total: number;
  try {
    total = await gatherBody(body, signal, async (chunks, position, n) => {
      if (writing) await writing;
      writing = writevAll(fh, chunks, position).then(() => onData(n));
      writing.catch(() => undefined); // awaited by the next write or below; no unhandled rejection meanwhile
    });
    await writing;
  } catch (e) {
    // A write still running when the body failed must end before the handle closes; the
    // first failure is the one reported, not the close's.
    if (writing) await writing.catch(() => undefined);
    await fh.close().catch(() => undefined);
    throw e;
  }
  await fh.close();
  return total;
}

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

function escape(msg: string): BerthError {
  return failedPrecondition(`layer rejected: ${msg}`);
}

/** Normalises a tar entry name to a path relative to the layer root ('' = the root).
 *  Absolute names and names climbing above the root are refused. */
export function cleanEntryPath(name: string): string {
  if (name.startsWith('/')) throw escape(`entry ${JSON.stringify(name)} has an absolute path`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw escape(`entry ${JSON.stringify(name)} points outside the layer (..)`);
      out.pop();
    } else out.push(c);
  }
  return out.join('/');
}

/** True when a symlink at `rel` with `target` resolves (lexically) outside the root.
 *  Absolute targets resolve inside the container's root, so they are fine. */
export function symlinkEscapes(rel: string, target: string): boolean {
  if (target.startsWith('/')) return false;
  const parts = rel.split('/').slice(0, -1);
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) return true;
      parts.pop();
    } else parts.push(c);
  }
  return false;
}

function dirnameRel(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}
function basenameRel(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

export interface UnpackOptions {
  /** Uncompressed tar bytes. */
  tar: AsyncIterable<Buffer>;
  /** An empty directory that becomes the layer. */
  dest: string;
  signal?: AbortSignal;
  tools?: UnpackTools;
  /** Called with bytes of file data written, for progress. */
  onData?: (n: number) => void;
  /**
   * The thread that makes the filesystem calls (unpack-worker.ts): this function parses,
   * hashes and checks on the main thread, and never blocks it on the disk.
   */
  thread: UnpackThread;
}

export async function unpackLayer(opts: UnpackOptions): Promise<UnpackResult> {
  const { dest, signal } = opts;
  const tools = opts.tools ?? defaultUnpackTools;
  const digester = new Digester('sha256');
  const hashed = (async function* () {
    for await (const c of opts.tar) {
      digester.update(c);
      yield c;
    }
  })();
  const kinds = new Map<string, Kind>([['', 'dir']]);
  const dirs: { rel: string; h: TarHeader }[] = [];
  const opaque = new Set<string>();
  let size = 0;
  let inodes = 0;
  // Every filesystem call goes to the unpack thread, in order, but a large file's data
  // (writeFileDirect); the main thread waits for the thread only before what it does itself
  // (mknod, setfattr, a large file), when eight batches are in flight, and at the end.
  const fs = opts.thread.job();

  const abs = (rel: string) => (rel === '' ? dest : join(dest, rel));

  const ensureDir = async (rel: string, entry: string): Promise<void> => {
    if (rel === '') return;
    const k = kinds.get(rel);
    if (k === 'dir') return;
    if (k === 'symlink') throw escape(`entry ${JSON.stringify(entry)} goes through the symlink ${JSON.stringify(rel)}`);
    if (k !== undefined) throw escape(`entry ${JSON.stringify(entry)}: ${JSON.stringify(rel)} is not a directory`);
    await ensureDir(dirnameRel(rel), entry);
    await fs.call({ op: 'mkdir', path: abs(rel), mode: 0o755 });
    kinds.set(rel, 'dir');
    inodes++;
  };

  const removeExisting = async (rel: string): Promise<void> => {
    if (!kinds.has(rel)) return;
    await fs.call({ op: 'rm', path: abs(rel) });
    kinds.delete(rel);
    const prefix = `${rel}/`;
    for (const k of [...kinds.keys()]) if (k.startsWith(prefix)) kinds.delete(k);
  };

  const setXattrs = async (path: string, xattrs: Map<string, Buffer>): Promise<void> => {
    await fs.flush();
    for (const [name, value] of xattrs) {
      // Node cannot setxattr(2); attr's setfattr takes the value base64-encoded ("0s…").
      await run(tools.setfattr, ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, '--', path]);
    }
  };

  const times = (h: TarHeader) => ({ atime: h.atime ?? h.mtime, mtime: h.mtime });

  const applyMetadata = async (rel: string, h: TarHeader, kind: Kind): Promise<void> => {
    const p = abs(rel);
    await fs.call({ op: 'lchown', path: p, uid: h.uid, gid: h.gid });
    if (kind !== 'symlink') await fs.call({ op: 'chmod', path: p, mode: h.mode }); // after chown, which clears set-id bits
    if (h.xattrs.size > 0) await setXattrs(p, h.xattrs); // after chown, which clears security.capability
    if (kind !== 'dir') await fs.call({ op: 'lutimes', path: p, ...times(h) });
  };

  try {
    for await (const { header: h, body } of readTar(hashed)) {
      if (signal?.aborted) throw abortError(signal);
      const rel = cleanEntryPath(h.name);
      const name = h.name;
      if (rel === '') {
        if (h.type === 'dir') dirs.push({ rel, h });
        continue;
      }
      const parent = dirnameRel(rel);
      const base = basenameRel(rel);
      await ensureDir(parent, name);

      if (base === OPAQUE_MARKER) {
        opaque.add(parent);
        continue;
      }
      if (base.startsWith(WHITEOUT_META_PREFIX)) continue; // aufs bookkeeping (.wh..wh.plnk …)
      if (base.startsWith(WHITEOUT_PREFIX)) {
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        if (hidden === '' || hidden === '.' || hidden === '..') throw escape(`invalid whiteout ${JSON.stringify(name)}`);
        const target = parent === '' ? hidden : `${parent}/${hidden}`;
        await removeExisting(target);
        await fs.flush();
        await run(tools.mknod, ['-m', '0000', abs(target), 'c', '0', '0']);
        await fs.call({ op: 'lchown', path: abs(target), uid: h.uid, gid: h.gid });
        await fs.call({ op: 'lutimes', path: abs(target), ...times(h) });
        kinds.set(target, 'other');
        inodes++;
        continue;
      }

      const existing = kinds.get(rel);
      if (existing !== undefined && !(existing === 'dir' && h.type === 'dir')) await removeExisting(rel);
      const p = abs(rel);
      switch (h.type) {
        case 'dir':
          if (existing !== 'dir') {
            await fs.call({ op: 'mkdir', path: p, mode: 0o700 });
            kinds.set(rel, 'dir');
            inodes++;
          }
          await applyMetadata(rel, h, 'dir');
          dirs.push({ rel, h });
          break;
        case 'file': {
          if (h.size >= DIRECT_FILE) {
            // A large file is written from here through libuv's pool: its decompressed
            // pieces go to writev(2) as they are, not copied into the thread's batches, and
            // the pool's round trip per MiB costs nothing beside the MiB. The thread's calls
            // so far run first (the parent directory, a replaced entry's removal).
            await fs.flush();
            await writeFileDirect(p, body, signal, (n) => {
              size += n;
              opts.onData?.(n);
            });
          } else {
            const fd = fs.fd();
            await fs.call({ op: 'create', path: p, fd });
            // Decompressed pieces gathered per MiB: the thread gets few, large writes.
            await gatherBody(body, signal, async (chunks, position, n) => {
              await fs.write(fd, chunks, position);
              size += n;
              opts.onData?.(n);
            });
            await fs.call({ op: 'close', fd });
          }
          kinds.set(rel, 'file');
          inodes++;
          await applyMetadata(rel, h, 'file');
          break;
        }
        case 'symlink':
          if (symlinkEscapes(rel, h.linkname)) {
            throw escape(`symlink ${JSON.stringify(name)} -> ${JSON.stringify(h.linkname)} points outside the layer`);
          }
          await fs.call({ op: 'symlink', target: h.linkname, path: p });
          kinds.set(rel, 'symlink');
          inodes++;
          await applyMetadata(rel, h, 'symlink');
          break;
        case 'link': {
          const target = cleanEntryPath(h.linkname);
          const tk = kinds.get(target);
          if (target === '' || tk === undefined) {
            throw escape(`hard link ${JSON.stringify(name)} -> ${JSON.stringify(h.linkname)}: target is not an earlier entry of this layer`);
          }
          if (tk === 'dir') throw escape(`hard link ${JSON.stringify(name)} -> ${JSON.stringify(h.linkname)}: target is a directory`);
          await ensureDir(dirnameRel(target), h.linkname); // refuses a path through a symlink
          await fs.call({ op: 'link', existing: abs(target), path: p }); // link(2) does not follow a final symlink
          kinds.set(rel, tk);
          break;
        }
        case 'char':
        case 'block':
        case 'fifo': {
          const t = h.type === 'char' ? 'c' : h.type === 'block' ? 'b' : 'p';
          const args = ['-m', (h.mode & 0o7777).toString(8), p, t];
          if (t !== 'p') args.push(String(h.devmajor), String(h.devminor));
          await fs.flush();
          await run(tools.mknod, args);
          kinds.set(rel, 'other');
          inodes++;
          await applyMetadata(rel, h, 'other');
          break;
        }
      }
    }
    if (signal?.aborted) throw abortError(signal);
    if (opaque.size > 0) await fs.flush();
    for (const rel of opaque) await run(tools.setfattr, ['-n', 'trusted.overlay.opaque', '-v', 'y', '--', abs(rel)]);
    // Directory times last, deepest first: creating children changed them.
    for (let i = dirs.length - 1; i >= 0; i--) {
      const { rel, h } = dirs[i]!;
      if (rel === '') {
        await fs.call({ op: 'lchown', path: dest, uid: h.uid, gid: h.gid });
        await fs.call({ op: 'chmod', path: dest, mode: h.mode });
        if (h.xattrs.size > 0) await setXattrs(dest, h.xattrs);
      }
      if (kinds.get(rel) === 'dir') await fs.call({ op: 'utimes', path: abs(rel), ...times(h) });
    }
    await fs.flush();
  } catch (e) {
    // Nothing of this unpack may still run once the caller removes its directory.
    await fs.end();
    if (signal?.aborted) throw abortError(signal);
    if (e instanceof BerthError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw e; // mapped by the caller
    throw internal(`unpacking layer: ${(e as Error).message}`, e);
  }
  await fs.end();
  return { diffId: digester.digest(), size, inodes };
}
