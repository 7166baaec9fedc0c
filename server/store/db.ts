// The metadata store: one embedded SQLite file (meta.db) in WAL mode. Each domain
// (sandboxes, containers, images) owns its tables and reaches them through its own
// store module; this file only opens the database, applies the schema migrations and
// enforces the rollback policy written at the top of migrations.ts.
import Database from 'better-sqlite3';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrations, minReaderSchema, type Migration } from './migrations.js';
import { failedPrecondition } from '../errors.js';
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

export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    // FULL: a committed record survives a power cut, not only a process crash.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, { ...opts, file });
  } catch (e) {
    db.close();
    throw e;
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
