// Writes tar archives (ustar + pax) in memory: the installer image's layer (release/image.ts)
// and test images: every entry type layers use, pax long names and binary xattrs, whiteout
// files as plain entries.
export type TarEntryKind = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

export interface TarFile {
  /** Path inside the layer, e.g. `bin/sh` or `etc/` (no leading `/` unless testing that). */
  path: string;
  type?: TarEntryKind;
  content?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  /** Symlink target or hard-link target path. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
  uname?: string;
  gname?: string;
}

const TYPEFLAG: Record<TarEntryKind, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(fields: {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const h = Buffer.alloc(512);
  h.write(fields.name, 0, 100, 'utf8');
  h.write(octal(fields.mode, 8), 100, 'latin1');
  h.write(octal(fields.uid, 8), 108, 'latin1');
  h.write(octal(fields.gid, 8), 116, 'latin1');
  h.write(octal(fields.size, 12), 124, 'latin1');
  h.write(octal(Math.floor(fields.mtime), 12), 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(fields.typeflag, 156, 'latin1');
  h.write(fields.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.write(fields.uname, 265, 32, 'utf8');
  h.write(fields.gname, 297, 32, 'utf8');
  h.write(octal(fields.devmajor, 8), 329, 'latin1');
  h.write(octal(fields.devminor, 8), 337, 'latin1');
  let sum = 0;
  for (const c of h) sum += c;
  h.write(octal(sum, 7) + ' ', 148, 'latin1');
  return h;
}

function pad(b: Buffer): Buffer[] {
  const rem = b.length % 512;
  return rem === 0 ? [b] : [b, Buffer.alloc(512 - rem)];
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** One archive from entries, in order, with the two-block end marker. */
export function writeTar(entries: readonly TarFile[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0);
    const name = type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
    const linkname = e.linkname ?? '';
    const pax: Buffer[] = [];
    if (Buffer.byteLength(name) > 100 || /[^\x20-\x7e]/.test(name)) pax.push(paxRecord('path', Buffer.from(name)));
    if (Buffer.byteLength(linkname) > 100) pax.push(paxRecord('linkpath', Buffer.from(linkname)));
    if (e.mtime !== undefined && !Number.isInteger(e.mtime)) pax.push(paxRecord('mtime', Buffer.from(e.mtime.toFixed(9))));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v)));
    const common = {
      mode: e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? 1_700_000_000,
      uname: e.uname ?? '',
      gname: e.gname ?? '',
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    };
    if (pax.length) {
      const data = Buffer.concat(pax);
      out.push(header({ ...common, name: `PaxHeaders/${name.slice(-80)}`, size: data.length, typeflag: 'x', linkname: '' }), ...pad(data));
    }
    out.push(header({ ...common, name: name.length > 100 ? name.slice(0, 100) : name, size: content.length, typeflag: TYPEFLAG[type], linkname: linkname.slice(0, 100) }));
    if (content.length) out.push(...pad(content));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}
