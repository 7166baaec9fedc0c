// The installer's changes to host files, each journaled in the install manifest before
// it happens: directories, files and symlinks berth creates, and the backups of what it
// replaces. Every write is a temporary file (or link) renamed into place.
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { BACKUP_DIR, type Manifest, type Previous } from './manifest.js';
import { inRoot } from './paths.js';

export interface Ctx {
  hostRoot: string;
  manifest: Manifest;
  dryRun: boolean;
  log: (line: string) => void;
}

export const sha256Of = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Creates host directory `p` (and missing parents); the topmost one created is recorded. */
export function ensureDir(ctx: Ctx, p: string, recursive: boolean): void {
  const missing: string[] = [];
  for (let d = p; d !== '/' && !lexists(inRoot(ctx.hostRoot, d)); d = posix.dirname(d)) missing.unshift(d);
  if (missing.length === 0) return;
  const top = missing[0]!;
  const id = `dir:${top}`;
  if (ctx.dryRun) return ctx.log(`would create ${p}`);
  ctx.manifest.begin(id, { kind: 'dir', path: top, recursive });
  mkdirSync(inRoot(ctx.hostRoot, p), { recursive: true, mode: 0o755 });
  ctx.manifest.done(id);
}

/** Saves what is at host path `p` under the backup directory. */
function backup(ctx: Ctx, p: string): Previous | undefined {
  const real = inRoot(ctx.hostRoot, p);
  if (!lexists(real)) return undefined;
  const st = lstatSync(real);
  if (st.isSymbolicLink()) return { kind: 'link', target: readlinkSync(real) };
  if (!st.isFile()) throw new Error(`${p} exists and is not a file: berth will not replace it`);
  ensureDir(ctx, BACKUP_DIR, true);
  const name = p.replace(/^\//, '').replace(/\//g, '__');
  copyFileSync(real, inRoot(ctx.hostRoot, `${BACKUP_DIR}/${name}`));
  return { kind: 'file', backup: `${BACKUP_DIR}/${name}`, mode: st.mode & 0o7777 };
}

export type FilePolicy =
  /** Write when absent; a file berth wrote and nobody changed since is updated; any other file is left alone. */
  | 'if-absent'
  /** Always berth's content; what was there before (not berth's) is backed up and restored on uninstall. */
  | 'replace';

/** Puts `content` at host path `p`. Returns whether the file changed. */
export function putFile(ctx: Ctx, p: string, content: Buffer | string, mode: number, policy: FilePolicy): boolean {
  const real = inRoot(ctx.hostRoot, p);
  const id = `file:${p}`;
  const entry = ctx.manifest.get(id);
  const want = sha256Of(content);
  const there = lexists(real) && lstatSync(real).isFile() ? sha256Of(readFileSync(real)) : undefined;
  if (there === want && entry?.state === 'done') return false;
  const ours = entry !== undefined && entry.action.kind === 'file' && (entry.state === 'pending' || there === entry.action.sha256 || there === undefined);
  if (lexists(real) && !ours && policy === 'if-absent') {
    ctx.log(`${p} exists (not written by berth, or changed since): left as is`);
    return false;
  }
  if (ctx.dryRun) {
    ctx.log(`would write ${p}`);
    return true;
  }
  ensureDir(ctx, posix.dirname(p), false);
  const previous = entry?.action.kind === 'file' ? entry.action.previous : backup(ctx, p);
  ctx.manifest.begin(id, { kind: 'file', path: p, sha256: want, ...(previous ? { previous } : {}) });
  const tmp = `${real}.berth-tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, real);
  ctx.manifest.done(id);
  ctx.log(`wrote ${p}`);
  return true;
}

/** Points host symlink `p` at `target` (atomically). Returns whether it changed. */
export function putLink(ctx: Ctx, p: string, target: string): boolean {
  const real = inRoot(ctx.hostRoot, p);
  const id = `link:${p}`;
  const entry = ctx.manifest.get(id);
  const now = lexists(real) && lstatSync(real).isSymbolicLink() ? readlinkSync(real) : undefined;
  if (now === target && entry?.state === 'done') return false;
  if (ctx.dryRun) {
    ctx.log(`would link ${p} → ${target}`);
    return true;
  }
  ensureDir(ctx, posix.dirname(p), false);
  const previous = entry?.action.kind === 'link' ? entry.action.previous : now === target ? undefined : backup(ctx, p);
  ctx.manifest.begin(id, { kind: 'link', path: p, target, ...(previous ? { previous } : {}) });
  const tmp = `${real}.berth-tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, real);
  ctx.manifest.done(id);
  ctx.log(`linked ${p} → ${target}`);
  return true;
}

/** Puts back what `previous` recorded at host path `p` (or removes `p` when there was nothing). */
export function restorePrevious(ctx: Ctx, p: string, previous: Previous | undefined): void {
  const real = inRoot(ctx.hostRoot, p);
  if (!previous) {
    rmSync(real, { force: true });
    return;
  }
  if (previous.kind === 'link') {
    const tmp = `${real}.berth-tmp`;
    rmSync(tmp, { force: true });
    symlinkSync(previous.target, tmp);
    renameSync(tmp, real);
    return;
  }
  const saved = inRoot(ctx.hostRoot, previous.backup);
  if (!existsSync(saved)) {
    // Already restored by an interrupted run (the backup goes only after the restore).
    return;
  }
  const tmp = `${real}.berth-tmp`;
  copyFileSync(saved, tmp);
  chmodSync(tmp, previous.mode);
  renameSync(tmp, real);
  rmSync(saved);
}

/** Removes a directory that holds no files any more (only empty directories); returns false when something else is in it. */
export function removeIfNoFiles(real: string): boolean {
  if (!existsSync(real)) return true;
  if (!statSync(real).isDirectory()) return false;
  for (const e of readdirSync(real, { withFileTypes: true })) {
    if (!e.isDirectory() || !removeIfNoFiles(`${real}/${e.name}`)) return false;
  }
  rmdirSync(real);
  return true;
}

