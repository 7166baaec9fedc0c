// Shared fixtures for image tests: an ImageManager on a temp root and database, a log
// recorder, a file-by-file snapshot of an unpacked tree, and a leftovers check.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../server/store/db.js';
import { ImageManager, type ImageManagerOptions } from '../../server/image/image-manager.js';
import type { Logger } from '../../server/logger.js';
import type { TarFile } from './tar.js';

export interface LogLine {
  level: string;
  msg: string;
  meta?: object;
}

/** A logger that keeps every line (children add their meta to the lines they log). */
export function recordingLogger(lines: LogLine[] = [], base: object = {}): Logger & { lines: LogLine[] } {
  const push = (level: string, msg: string, meta?: object) => {
    const all = meta || Object.keys(base).length ? { ...base, ...meta } : undefined;
    lines.push({ level, msg, ...(all ? { meta: all } : {}) });
  };
  const at = (level: string) => (msg: string, meta?: object) => push(level, msg, meta);
  return {
    lines,
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    debug: at('debug'),
    log: push,
    child: (meta) => recordingLogger(lines, { ...base, ...meta }),
  };
}

export interface TestImageEnv {
  dir: string;
  root: string;
  db: Db;
  manager: ImageManager;
  /** Closes the database and opens a new manager on the same root (a berthd restart). */
  reopen(opts?: Partial<ImageManagerOptions>): Promise<ImageManager>;
  cleanup(): void;
}

export async function openImageEnv(opts: Partial<ImageManagerOptions> = {}, rootOverride?: string): Promise<TestImageEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-image-'));
  const root = rootOverride ?? join(dir, 'root');
  let db = openDatabase(join(dir, 'meta.db'));
  const base: ImageManagerOptions = {
    root,
    db,
    registry: { retryAttempts: 2, retryBaseDelayMs: 20, requestTimeoutMs: 5000, idleTimeoutMs: 5000 },
    ...opts,
  };
  const env: TestImageEnv = {
    dir,
    root,
    db,
    manager: await ImageManager.open(base),
    async reopen(more = {}) {
      db.close();
      db = openDatabase(join(dir, 'meta.db'));
      env.db = db;
      env.manager = await ImageManager.open({ ...base, db, ...more });
      return env.manager;
    },
    cleanup() {
      try {
        db.close();
      } catch {
        /* closed */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

export interface FileFacts {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
  sha256?: string;
  target?: string;
  rdev?: [number, number];
  xattrs?: Record<string, string>;
  /** Inode, to check hard links. */
  ino: number;
}

function xattrsOf(root: string): Map<string, Record<string, string>> {
  const r = spawnSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', root], { encoding: 'utf8' });
  const out = new Map<string, Record<string, string>>();
  let cur: Record<string, string> | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      cur = {};
      out.set(line.slice(8), cur);
    } else if (cur && line.includes('=')) {
      const i = line.indexOf('=');
      let v = line.slice(i + 1);
      v = v.startsWith('0s') ? Buffer.from(v.slice(2), 'base64').toString('latin1') : v.replace(/^"|"$/g, '');
      cur[line.slice(0, i)] = v;
    }
  }
  return out;
}

/** Every object under `root` (relative paths; '' is the root itself). */
export function snapshotTree(root: string): Map<string, FileFacts> {
  const xattrs = xattrsOf(root);
  const out = new Map<string, FileFacts>();
  const walk = (rel: string) => {
    const p = rel === '' ? root : join(root, rel);
    const s = lstatSync(p);
    const type = s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : s.isCharacterDevice() ? 'char' : s.isBlockDevice() ? 'block' : s.isFIFO() ? 'fifo' : 'file';
    const f: FileFacts = { type, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, ino: s.ino };
    if (type !== 'dir') f.mtime = Math.floor(s.mtimeMs / 1000);
    if (type === 'file') f.sha256 = createHash('sha256').update(readFileSync(p)).digest('hex');
    if (type === 'symlink') f.target = readlinkSync(p);
    if (type === 'char' || type === 'block') f.rdev = [Math.floor(s.rdev / 256) & 0xfff, (s.rdev & 0xff) | ((s.rdev >> 12) & 0xfff00)];
    const x = xattrs.get(p);
    if (x && Object.keys(x).length) f.xattrs = x;
    out.set(rel, f);
    if (type === 'dir') for (const n of readdirSync(p).sort()) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return out;
}

/** What one layer's entries should look like once unpacked in overlay form. */
export function expectedTree(entries: readonly TarFile[]): Map<string, Omit<FileFacts, 'ino'> & { linkOf?: string }> {
  const out = new Map<string, Omit<FileFacts, 'ino'> & { linkOf?: string }>();
  for (const e of entries) {
    const rel = e.path.replace(/^\.\//, '').replace(/\/$/, '');
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    if (base === '.wh..wh..opq') {
      const d = out.get(parent);
      if (d) d.xattrs = { ...(d.xattrs ?? {}), 'trusted.overlay.opaque': 'y' };
      continue;
    }
    if (base.startsWith('.wh.')) {
      const hidden = parent ? `${parent}/${base.slice(4)}` : base.slice(4);
      out.set(hidden, { type: 'char', mode: 0, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: Math.floor(e.mtime ?? 1_700_000_000), rdev: [0, 0] });
      continue;
    }
    const type = e.type ?? 'file';
    if (type === 'link') {
      const target = out.get(e.linkname!)!;
      out.set(rel, { ...target, linkOf: e.linkname! });
      continue;
    }
    const xattrs = e.xattrs ? Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('latin1')])) : undefined;
    out.set(rel, {
      type: type as FileFacts['type'],
      mode: e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      ...(type !== 'dir' ? { mtime: Math.floor(e.mtime ?? 1_700_000_000) } : {}),
      ...(type === 'file' ? { sha256: createHash('sha256').update(Buffer.from(e.content ?? '')).digest('hex') } : {}),
      ...(type === 'symlink' ? { target: e.linkname! } : {}),
      ...(type === 'char' || type === 'block' ? { rdev: [e.devmajor ?? 0, e.devminor ?? 0] as [number, number] } : {}),
      ...(xattrs ? { xattrs } : {}),
    });
  }
  return out;
}

/** Files under a directory, recursively (relative paths), for leftover checks. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (lstatSync(join(dir, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  return out.sort();
}

/** The store holds nothing but its empty directories: no blob, layer, temp file or record. */
export function storeLeftovers(env: TestImageEnv): string[] {
  const files = listFiles(env.root).filter((f) => !['content', 'content/blobs', 'content/blobs/sha256', 'content/ingest', 'layers', 'layers/sha256', 'layers/ingest'].includes(f));
  const rows = (['images', 'image_refs', 'image_blobs', 'layers', 'image_layers', 'layer_leases'] as const).flatMap((t) => {
    const n = (env.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    return n ? [`${t}: ${n} rows`] : [];
  });
  return [...files, ...rows];
}
