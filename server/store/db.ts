// The metadata store: one embedded SQLite file (meta.db) in WAL mode. Each domain
// (sandboxes, containers, images) owns its tables and reaches them through its own
// store module; this file only opens the database, applies the schema migrations and
// enforces the rollback policy written at the top of migrations.ts.
import Database from 'better-sqlite3';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrations, minReaderSchema, type Migration } from './migrations.js';
import { BerthError, failedPrecondition } from '../errors.js';
import { BERTH_VERSION } from '../status/version.js';

export type Db = Database.Database;

/** Settings keys (the settings table exists from schema 1 on) that carry the policy's marks. */
export const MIN_READER_KEY = 'store.min_reader_schema';
export const MIGRATED_BY_KEY = 'store.migrated_by';

export interface StoreMarks {
  /** PRAGMA user_version: migrations applied. */
  schema: number;
  /** The oldest schema that may run on it (the store's own record; its schema when absent). */
  minReader: number;
  /** The berth release that migrated it last ('' when not recorded). */
  migratedBy: string;
}

export interface OpenOptions {
  /** Told when this berthd runs on a store a newer release migrated (compatible by the policy). */
  onNewerStore?: (message: string, fields: Record<string, unknown>) => void;
  /** The migrations (tests give their own). */
  migrations?: readonly Migration[];
  /** This release's version, recorded as the store's migrator. */
  release?: string;
}

/** What an operator does about a store berthd cannot open (the text of the refusal). */
export function storeRecoverySteps(file: string): string {
  return (
    `To recover, with berthd stopped: keep a copy first (cp ${file} ${file}.broken; also ${file}-wal if present); ` +
    `then either salvage it (sqlite3 ${file}.broken .recover | sqlite3 ${file}.recovered, check it with ` +
    `sqlite3 ${file}.recovered 'PRAGMA integrity_check', and move it to ${file}), or restore a backup ` +
    `(${file}.schema-<N>.bak, written before each migration), or, as the last resort, move ${file} away and start ` +
    `empty: berth then forgets every pod, container and image it knew (kubelet recreates the pods; run ` +
    `'berth leaks --repair' to remove what the old records held)`
  );
}

/**
 * Turns SQLite's failure to open or check the store into a refusal that says what is wrong
 * and what to do. berthd never starts on a store it cannot read whole: starting empty
 * would silently forget running containers.
 */
function openFailure(file: string, e: unknown): Error {
  const code = String((e as { code?: unknown }).code ?? '');
  const msg = (e as Error).message;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code.startsWith('SQLITE_BUSY')) {
    return failedPrecondition(
      `the store ${file} is locked by another process (${msg}): is another berthd (or a sqlite3 shell) using it? ` +
        `Find it with 'fuser -v ${file}' and stop it, then start berthd again`,
      e,
    );
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_IOERR_SHORT_READ') {
    return failedPrecondition(`the store ${file} is damaged (${code}: ${msg}); berthd refuses to start on it so that nothing is lost silently. ${storeRecoverySteps(file)}`, e);
  }
  if (code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE' || (e as NodeJS.ErrnoException).code === 'ENOSPC') {
    return failedPrecondition(`cannot open the store ${file}: no space left on its filesystem (${msg}); free space there and start berthd again`, e);
  }
  return e instanceof Error ? e : new Error(String(e));
}

export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let db: Db;
  try {
    db = new Database(file);
  } catch (e) {
    throw openFailure(file, e);
  }
  try {
    // A lock another process holds fails the start after 2 s, with the message below.
    db.pragma('busy_timeout = 2000');
    db.pragma('journal_mode = WAL');
    // FULL: a committed record survives a power cut, not only a process crash.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // The store is small (records, not content): check every page before trusting it.
    const check = db.pragma('quick_check', { simple: true }) as string;
    if (check !== 'ok') {
      throw failedPrecondition(`the store ${file} failed its integrity check (${check}); berthd refuses to start on it so that nothing is lost silently. ${storeRecoverySteps(file)}`);
    }
    migrate(db, { ...opts, file });
    db.pragma('busy_timeout = 5000');
  } catch (e) {
    db.close();
    throw e instanceof BerthError ? e : openFailure(file, e);
  }
  return db;
}

export function readStoreMarks(db: Db): StoreMarks {
  const schema = db.pragma('user_version', { simple: true }) as number;
  const hasSettings = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings'").get() !== undefined;
  const get = (k: string) => (hasSettings ? (db.prepare('SELECT value FROM settings WHERE key = ?').get(k) as { value: string } | undefined)?.value : undefined);
  const min = Number(get(MIN_READER_KEY));
  return { schema, minReader: Number.isInteger(min) && min >= 0 ? min : schema, migratedBy: get(MIGRATED_BY_KEY) ?? '' };
}

/**
 * Whether a berthd that knows `known` schema versions may run on a store with these marks,
 * and if not, a message that says what to do. Used by berthd at start and by
 * `berth node install` before it switches to another release.
 */
export function storeCompatibility(marks: StoreMarks, known: number, file = 'meta.db'): { ok: boolean; message: string } {
  if (marks.schema <= known) return { ok: true, message: `${file}: schema ${marks.schema}, this release knows up to ${known}` };
  if (known >= marks.minReader) {
    return { ok: true, message: `${file}: schema ${marks.schema} (migrated by berth ${marks.migratedBy || 'unknown'}) is newer than this release's ${known}, and compatible with it (its oldest reader is schema ${marks.minReader})` };
  }
  const by = marks.migratedBy ? `berth ${marks.migratedBy}` : 'a newer berth';
  return {
    ok: false,
    message:
      `${file} has schema version ${marks.schema}, migrated by ${by}; this berth release knows schema versions up to ${known}, ` +
      `and that store needs at least ${marks.minReader}. Run ${marks.migratedBy ? `${by} or newer` : 'the newer berth release that migrated it'} ` +
      `(berth node install --bundle /opt/berth/${marks.migratedBy || '<that version>'}), ` +
      `or, losing every change made since the migration, restore the copy it saved (${file}.schema-<N>.bak, N ≤ ${known}) with berthd stopped`,
  };
}

/**
 * Applies every migration newer than the file's `user_version`, each in its own
 * transaction, after copying an existing store to `<file>.schema-<old>.bak`. A store
 * newer than this release is opened only if the policy allows it (it is then left as is).
 */
export function migrate(db: Db, opts: OpenOptions & { file?: string } = {}): void {
  const list = opts.migrations ?? migrations;
  const marks = readStoreMarks(db);
  if (marks.schema > list.length) {
    const c = storeCompatibility(marks, list.length, opts.file);
    if (!c.ok) throw failedPrecondition(`refusing to run an older berthd on a newer store: ${c.message}`);
    opts.onNewerStore?.('running on a store a newer berth migrated (compatible by the store policy)', { schema: marks.schema, known: list.length, minReader: marks.minReader, migratedBy: marks.migratedBy });
    return;
  }
  if (marks.schema < list.length && marks.schema > 0 && opts.file) {
    const backup = `${opts.file}.schema-${marks.schema}.bak`;
    rmSync(backup, { force: true });
    db.prepare('VACUUM INTO ?').run(backup);
  }
  for (let v = marks.schema; v < list.length; v++) {
    const m = list[v]!;
    db.transaction(() => {
      m.up(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  const minReader = String(minReaderSchema(list));
  const release = opts.release ?? BERTH_VERSION;
  const now = readStoreMarks(db);
  if (list.length > 0 && (marks.schema < list.length || now.minReader !== Number(minReader) || !now.migratedBy)) {
    db.transaction(() => {
      const set = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
      set.run(MIN_READER_KEY, minReader);
      if (marks.schema < list.length || !now.migratedBy) set.run(MIGRATED_BY_KEY, release);
    })();
  }
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}
