// A streaming tar reader (POSIX ustar, pax and GNU long names; base-256 numbers).
// Entries come one at a time with their body as an async iterable of chunks, so a
// layer is never held in memory. pax xattrs (SCHILY.xattr.*) are kept as raw bytes:
// values such as security.capability are binary.
import { failedPrecondition } from '../errors.js';

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, with the fraction pax gives. */
  mtime: number;
  atime?: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

export interface TarItem {
  header: TarHeader;
  /** The entry's data; whatever is not consumed is skipped before the next entry. */
  body: AsyncIterable<Buffer>;
}

const BLOCK = 512;

function bad(msg: string): Error {
  return failedPrecondition(`invalid tar archive: ${msg}`);
}

class ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  private ended = false;
  constructor(src: AsyncIterable<Buffer>) {
    this.it = src[Symbol.asyncIterator]();
  }
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
    return true;
  }
  /** Exactly n bytes, or null at a clean end of input (nothing buffered). */
  async read(n: number): Promise<Buffer | null> {
    while (this.buf.length < n) {
      if (!(await this.fill())) {
        if (this.buf.length === 0) return null;
        throw bad('unexpected end of archive');
      }
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Up to n bytes as they arrive (no copying). */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill())) throw bad('unexpected end of archive inside an entry');
      const take = Math.min(left, this.buf.length);
      const out = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
      yield out;
    }
  }
  async skip(n: number): Promise<void> {
    for await (const _ of this.chunks(n)) {
      /* discard */
    }
  }
  /** Reads to the end of input (so a hash over the stream covers every byte). */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.fill()) this.buf = Buffer.alloc(0);
  }
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z === -1 ? s : s.subarray(0, z)).toString('utf8');
}

function num(b: Buffer, off: number, len: number, field: string): number {
  const f = b.subarray(off, off + len);
  if (f[0]! & 0x80) {
    // GNU base-256: big-endian two's complement, first byte's top bit is the marker.
    let v = BigInt(f[0]! & 0x7f);
    for (let i = 1; i < f.length; i++) v = (v << 8n) | BigInt(f[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`${field} too large`);
    return Number(v);
  }
  const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw bad(`${field} is not an octal number: ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = num(h, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

/** Parses pax records `"<len> <key>=<value>\n"`; values stay bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break;
    const sp = data.indexOf(0x20, i);
    if (sp === -1) throw bad('malformed pax record');
    const len = Number(data.subarray(i, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= sp - i + 1 || i + len > data.length) throw bad('malformed pax record length');
    const rec = data.subarray(sp + 1, i + len);
    if (rec[rec.length - 1] !== 0x0a) throw bad('pax record does not end in newline');
    const eq = rec.indexOf(0x3d);
    if (eq === -1) throw bad('pax record without =');
    out.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1, rec.length - 1));
    i += len;
  }
  return out;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Reads a tar stream entry by entry. After the end-of-archive marker the rest of the
 *  input is drained, so hashing the input covers all of it. */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarItem> {
  const src = new ByteSource(source);
  let pax = new Map<string, Buffer>();
  let globalPax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const h = await src.read(BLOCK);
    if (h === null) return; // no end marker: accepted, as GNU tar does
    if (h.every((c) => c === 0)) {
      await src.drain();
      return;
    }
    if (!checksumOk(h)) throw bad('header checksum mismatch');
    const flag = String.fromCharCode(h[156]!);
    const size = num(h, 124, 12, 'size');
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > 16 << 20) throw bad(`metadata entry of ${size} bytes`);
      const data = (await src.read(padded)) ?? Buffer.alloc(0);
      if (data.length < padded) throw bad('unexpected end of archive');
      const body = data.subarray(0, size);
      if (flag === 'x') pax = new Map([...pax, ...parsePax(body)]);
      else if (flag === 'g') globalPax = new Map([...globalPax, ...parsePax(body)]);
      else if (flag === 'L') longName = cstr(body, 0, body.length);
      else longLink = cstr(body, 0, body.length);
      continue;
    }
    const type = TYPES[flag];
    const records = new Map([...globalPax, ...pax]);
    pax = new Map();
    if (type === undefined || [...records.keys()].some((k) => k.startsWith('GNU.sparse'))) {
      throw bad(`unsupported entry type ${JSON.stringify(flag)}${records.size ? ' (sparse?)' : ''} for ${JSON.stringify(cstr(h, 0, 100))}`);
    }
    const magic = h.subarray(257, 263).toString('latin1');
    let name = cstr(h, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = cstr(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    let linkname = longLink ?? cstr(h, 157, 100);
    longName = longLink = undefined;
    const header: TarHeader = {
      name,
      type,
      mode: num(h, 100, 8, 'mode') & 0o7777,
      uid: num(h, 108, 8, 'uid'),
      gid: num(h, 116, 8, 'gid'),
      size,
      mtime: num(h, 136, 12, 'mtime'),
      linkname,
      devmajor: num(h, 329, 8, 'devmajor'),
      devminor: num(h, 337, 8, 'devminor'),
      xattrs: new Map(),
    };
    for (const [k, v] of records) {
      const s = () => v.toString('utf8');
      switch (k) {
        case 'path':
          header.name = s();
          break;
        case 'linkpath':
          linkname = s();
          header.linkname = linkname;
          break;
        case 'size':
          header.size = Number(s());
          break;
        case 'uid':
          header.uid = Number(s());
          break;
        case 'gid':
          header.gid = Number(s());
          break;
        case 'mtime':
          header.mtime = Number(s());
          break;
        case 'atime':
          header.atime = Number(s());
          break;
        default:
          if (k.startsWith('SCHILY.xattr.')) header.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
      }
    }
    for (const f of ['size', 'uid', 'gid', 'mtime'] as const) {
      if (!Number.isFinite(header[f]) || header[f] < 0) throw bad(`invalid ${f} for ${JSON.stringify(header.name)}`);
    }
    // Only regular files carry data; for the header-only types a size field is ignored,
    // as Go's archive/tar (which wrote most layers) does.
    const dataSize = type === 'file' ? header.size : 0;
    const dataPadded = Math.ceil(dataSize / BLOCK) * BLOCK;
    let consumed = 0;
    const body = (async function* () {
      for await (const c of src.chunks(dataSize)) {
        consumed += c.length;
        yield c;
      }
    })();
    yield { header, body };
    // Skip whatever the consumer left, and the padding.
    if (consumed < dataSize) {
      // The consumer may have stopped mid-iteration; its generator is closed, so skip directly.
      await src.skip(dataSize - consumed);
    }
    await src.skip(dataPadded - dataSize);
  }
}
